using GpuLstm.Kernels;
using GpuLstm.Runtime.Models.Cells;
using ILGPU;

namespace GpuLstm.Runtime.Compute;

/// <summary>
/// A recurrent time step as separate ops (a GEMM, then the cell's kernel), for kernel sets that do not fuse them:
/// the host set, and ILGPU's kernels on the CPU accelerator. The GPU path fuses each step into one launch
/// (<see cref="FusedRecurrentStep"/>); both follow the contracts of <see cref="IKernelSet.CellStepForward"/>
/// and <see cref="IKernelSet.CellStepBackward"/>.
/// </summary>
internal static class RecurrentStepParts
{
    /// <summary>A sequence's first step from a zero state: h and c of the previous slot become zeros (the weight gradient reads them later).</summary>
    public static void ZeroPreviousState(IKernelSet kernels, RecurrentCell cell, in CellStep step)
    {
        kernels.Zero(step.PrevH);
        if (cell.HasCellState) kernels.Zero(step.PrevC);
    }

    /// <summary>dhRec (+)= nextGrads·Whᵀ (or the first step's zeros), then the cell's backward.</summary>
    public static void Backward(IKernelSet kernels, RecurrentCell cell, in CellStep step, ArrayView<float> recurrentWeightsT, ArrayView<float> nextGrads)
    {
        if (step.FirstBackward)
        {
            if (cell.HasCellState) kernels.Zero(step.Dc);
            if (step.DhRecIsZero) kernels.Zero(step.DhRec);
        }
        else
        {
            // A cell that keeps its recurrent projection apart has left the direct part of dL/dh_prev in dhRec.
            kernels.Gemm(GemmShape.NN(step.Batch, step.Hidden, cell.Gates * step.Hidden, accumulate: cell.KeepsRecurrentProjection),
                nextGrads, recurrentWeightsT, default, step.DhRec);
        }
        kernels.CellBackward(cell, step);
    }

    /// <summary>A whole recurrence forward as one <see cref="IKernelSet.CellStepForward"/> per step, in order.</summary>
    public static void ForwardSteps(IKernelSet kernels, RecurrentCell cell, in RecurrentRun run, ArrayView<float> recurrentWeights,
        ArrayView<float> recurrentBias)
    {
        for (int i = 0; i < run.Steps; i++) kernels.CellStepForward(cell, run.ForwardStep(i), recurrentWeights, recurrentBias);
    }

    /// <summary>A whole recurrence backward: <see cref="IKernelSet.BeginRecurrentBackward"/>, then one <see cref="IKernelSet.CellStepBackward"/> per step.</summary>
    public static void BackwardSteps(IKernelSet kernels, RecurrentCell cell, in RecurrentRun run, ArrayView<float> recurrentWeights,
        ArrayView<float> recurrentWeightsT)
    {
        kernels.BeginRecurrentBackward(recurrentWeights, recurrentWeightsT, run.Hidden, run.Gates * run.Hidden);
        for (int i = 0; i < run.Steps; i++)
            kernels.CellStepBackward(cell, run.BackwardStep(i), recurrentWeights, recurrentWeightsT, run.NextGradients(i));
    }
}
