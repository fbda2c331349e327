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

    /// <summary>Gates (B,H) = tanh(pre-activations), in place, and H (B,H) a copy.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal override unsafe void HostForward(in CellStep s)
    {
        float* g = Host(s.Gates), h = Host(s.H);
        long n = (long)s.Batch * s.Hidden, i = 0;
        if (Vector256.IsHardwareAccelerated)
            for (; i + 8 <= n; i += 8)
            {
                var a = HostMath.Tanh(Vector256.Load(g + i));
                a.Store(g + i);
                a.Store(h + i);
            }
        for (; i < n; i++) h[i] = g[i] = MathF.Tanh(g[i]);
    }

    /// <summary>DGates (B,H) = (DhRec + DhOut)·(1 − h²).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal override unsafe void HostBackward(in CellStep s)
    {
        float* g = Host(s.Gates), dho = s.HasDhOut ? Host(s.DhOut) : null, dhr = Host(s.DhRec), dg = Host(s.DGates);
        long n = (long)s.Batch * s.Hidden, i = 0;
        var one = Vector256<float>.One;
        if (Vector256.IsHardwareAccelerated)
            for (; i + 8 <= n; i += 8)
            {
                var a = Vector256.Load(g + i);
                var dh = Vector256.Load(dhr + i);
                if (dho != null) dh += Vector256.Load(dho + i);
                (dh * (one - a * a)).Store(dg + i);
            }
        for (; i < n; i++)
        {
            float dh = dhr[i] + (dho != null ? dho[i] : 0f);
            dg[i] = dh * (1f - g[i] * g[i]);
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
