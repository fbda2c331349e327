using GpuLstm.Kernels;
using GpuLstm.Runtime.Compute;
using ILGPU;
using ILGPU.Runtime;

namespace GpuLstm.Runtime.Models.Cells;

/// <summary>
/// Launches <see cref="RecurrentStepKernels"/> (a time step's recurrent GEMM and cell in one kernel) for one
/// cell's math: the GPU path's step, forward and backward. A cell names its math once
/// (<c>FusedRecurrentStep.For&lt;LstmMath&gt;()</c>); the kernels are loaded once per kernel set.
/// </summary>
internal abstract class FusedRecurrentStep
{
    public static FusedRecurrentStep For<TMath>() where TMath : struct, ICellMath => new Of<TMath>();

    /// <param name="recurrentBias">(G·H) b_hh for a cell that keeps its recurrent projection; empty otherwise.</param>
    public abstract void Forward(IlgpuKernelSet kernels, in CellStep step, ArrayView<float> recurrentWeights, ArrayView<float> recurrentBias);

    /// <param name="nextGrads">(B,G·H) dL/d(recurrent pre-activations) of the step processed before this one; unread on the first.</param>
    public abstract void Backward(IlgpuKernelSet kernels, in CellStep step, ArrayView<float> recurrentWeights, ArrayView<float> nextGrads);

    private static RecurrentStepShape Shape(in CellStep s) => new()
    {
        Batch = s.Batch, Hidden = s.Hidden, PrevIsZero = s.StartsFromZero ? 1 : 0, First = s.FirstBackward ? 1 : 0,
        DhRecIsZero = s.DhRecIsZero ? 1 : 0, HasDhOut = s.HasDhOut ? 1 : 0,
    };

    private sealed class Of<TMath> : FusedRecurrentStep where TMath : struct, ICellMath
    {
        public override void Forward(IlgpuKernelSet kernels, in CellStep s, ArrayView<float> recurrentWeights, ArrayView<float> recurrentBias)
        {
            var forward = kernels.Kernel(this, "forward", a => a.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
                ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, RecurrentStepShape>(RecurrentStepKernels.Forward<TMath>));
            forward(kernels.Stream, RecurrentStepKernels.Config(s.Batch, s.Hidden), s.PrevH, s.PrevC, recurrentWeights, recurrentBias, s.Gates,
                s.Recurrent, s.H, s.C, Shape(s));
        }

        public override void Backward(IlgpuKernelSet kernels, in CellStep s, ArrayView<float> recurrentWeights, ArrayView<float> nextGrads)
        {
            var backward = kernels.Kernel(this, "backward", a => a.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
                ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
                ArrayView<float>, RecurrentStepShape>(RecurrentStepKernels.Backward<TMath>));
            backward(kernels.Stream, RecurrentStepKernels.Config(s.Batch, s.Hidden), nextGrads, recurrentWeights, s.Gates, s.Recurrent, s.PrevH, s.PrevC,
                s.C, s.DhOut, s.DhRec, s.Dc, s.DGates, s.DRecurrent, Shape(s));
        }
    }
}
