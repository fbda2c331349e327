using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using GpuLstm.Kernels;
using GpuLstm.Runtime.Compute;
using GpuLstm.Runtime.Compute.Host;
using ILGPU;
using ILGPU.Runtime;

namespace GpuLstm.Runtime.Models.Cells;

/// <summary>
/// The Elman RNN (PyTorch's nn.RNN with tanh, Keras's SimpleRNN, char-rnn's "rnn"): h' = tanh(x·W_ih + b_ih +
/// h·W_hh + b_hh). One gate block, one combined bias (zeros, Keras's default). Kernels: <see cref="RnnCellKernels"/>.
/// </summary>
internal sealed class RnnCell : RecurrentCell
{
    public static RnnCell Instance { get; } = new();

    private RnnCell() { }

    public override string Name => "rnn";
    public override string TorchModule => "nn.RNN";
    public override int Gates => 1;
    public override string GateOrder => "h";

    internal override FusedRecurrentStep FusedStep { get; } = FusedRecurrentStep.For<RnnMath>();

    /// <summary>Gates (B,H) = tanh(pre-activations), in place, and H (B,H) a copy, for units [firstUnit, endUnit).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal override unsafe void HostForward(in CellStep s, int firstUnit, int endUnit)
    {
        for (int b = 0; b < s.Batch; b++)
        {
            long e0 = (long)b * s.Hidden;
            float* g = Host(s.Gates) + e0, h = Host(s.H) + e0;
            int j = firstUnit;
            if (Vector256.IsHardwareAccelerated)
                for (; j + 8 <= endUnit; j += 8)
                {
                    var a = HostMath.Tanh(Vector256.Load(g + j));
                    a.Store(g + j);
                    a.Store(h + j);
                }
            for (; j < endUnit; j++) h[j] = g[j] = MathF.Tanh(g[j]);
        }
    }

    /// <summary>DGates (B,H) = (DhRec + DhOut)·(1 − h²), for units [firstUnit, endUnit).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal override unsafe void HostBackward(in CellStep s, int firstUnit, int endUnit)
    {
        var one = Vector256<float>.One;
        for (int b = 0; b < s.Batch; b++)
        {
            long e0 = (long)b * s.Hidden;
            float* g = Host(s.Gates) + e0, dho = s.HasDhOut ? Host(s.DhOut) + e0 : null, dhr = Host(s.DhRec) + e0, dg = Host(s.DGates) + e0;
            int j = firstUnit;
            if (Vector256.IsHardwareAccelerated)
                for (; j + 8 <= endUnit; j += 8)
                {
                    var a = Vector256.Load(g + j);
                    var dh = Vector256.Load(dhr + j);
                    if (dho != null) dh += Vector256.Load(dho + j);
                    (dh * (one - a * a)).Store(dg + j);
                }
            for (; j < endUnit; j++)
            {
                float dh = dhr[j] + (dho != null ? dho[j] : 0f);
                dg[j] = dh * (1f - g[j] * g[j]);
            }
        }
    }

    internal override void IlgpuForward(IlgpuKernelSet kernels, in CellStep s)
    {
        var forward = kernels.Kernel(this, nameof(RnnCellKernels.Forward),
            a => a.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, int>(RnnCellKernels.Forward));
        forward(kernels.Stream, s.Batch * s.Hidden, s.Gates, s.H, s.Hidden);
    }

    internal override void IlgpuBackward(IlgpuKernelSet kernels, in CellStep s)
    {
        var backward = kernels.Kernel(this, nameof(RnnCellKernels.Backward), a => a.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, int, int>(RnnCellKernels.Backward));
        backward(kernels.Stream, s.Batch * s.Hidden, s.Gates, s.DhOut, s.DhRec, s.DGates, s.Hidden, s.HasDhOut ? 1 : 0);
    }
}
