using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using GpuLstm.Kernels;
using GpuLstm.Runtime.Compute;
using GpuLstm.Runtime.Compute.Host;
using ILGPU;
using ILGPU.Runtime;

namespace GpuLstm.Runtime.Models.Cells;

/// <summary>
/// The LSTM (PyTorch's nn.LSTM, Keras's LSTM): gates [i f g o], c' = f ⊙ c + i ⊙ g, h' = o ⊙ tanh(c'), σ for
/// i, f, o and tanh for g. One combined bias, its forget block initialized to 1 as Keras does.
/// Kernels: <see cref="LstmCellKernels"/>.
/// </summary>
internal sealed class LstmCell : RecurrentCell
{
    public static LstmCell Instance { get; } = new();

    private LstmCell() { }

    public override string Name => "lstm";
    public override string TorchModule => "nn.LSTM";
    public override int Gates => 4;
    public override string GateOrder => "i, f, g, o";
    public override bool HasCellState => true;

    public override float[] InitialBias(int hidden)
    {
        var bias = new float[4 * hidden];
        Array.Fill(bias, 1f, hidden, hidden); // Keras's unit_forget_bias
        return bias;
    }

    internal override FusedRecurrentStep FusedStep { get; } = FusedRecurrentStep.For<LstmMath>();

    /// <summary>Activates gates (B,4H) in place and writes c (B,H), h (B,H) from PrevC (B,H).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal override unsafe void HostForward(in CellStep s, int firstUnit, int endUnit)
    {
        int batch = s.Batch, hidden = s.Hidden;
        float* g = Host(s.Gates), cp = Host(s.PrevC), cn = Host(s.C), hn = Host(s.H);
        for (int b = 0; b < batch; b++)
        {
            float* gi = g + (long)b * 4 * hidden, gf = gi + hidden, gg = gf + hidden, go = gg + hidden;
            float* cpb = cp + (long)b * hidden, cb = cn + (long)b * hidden, hb = hn + (long)b * hidden;
            int j = firstUnit;
            if (Vector256.IsHardwareAccelerated)
                for (; j + 8 <= endUnit; j += 8)
                {
                    var i = HostMath.Sigmoid(Vector256.Load(gi + j));
                    var f = HostMath.Sigmoid(Vector256.Load(gf + j));
                    var gt = HostMath.Tanh(Vector256.Load(gg + j));
                    var o = HostMath.Sigmoid(Vector256.Load(go + j));
                    var cNew = f * Vector256.Load(cpb + j) + i * gt;
                    i.Store(gi + j); f.Store(gf + j); gt.Store(gg + j); o.Store(go + j);
                    cNew.Store(cb + j);
                    (o * HostMath.Tanh(cNew)).Store(hb + j);
                }
            for (; j < endUnit; j++)
            {
                float i = LstmCellKernels.Sigmoid(gi[j]), f = LstmCellKernels.Sigmoid(gf[j]);
                float gt = MathF.Tanh(gg[j]), o = LstmCellKernels.Sigmoid(go[j]);
                float cNew = f * cpb[j] + i * gt;
                gi[j] = i; gf[j] = f; gg[j] = gt; go[j] = o;
                cb[j] = cNew;
                hb[j] = o * MathF.Tanh(cNew);
            }
        }
    }

    /// <summary>DGates (B,4H) from dh = DhRec (+ DhOut); Dc (B,H) goes from dL/dc_t to dL/dc_{t-1} in place.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal override unsafe void HostBackward(in CellStep s, int firstUnit, int endUnit)
    {
        int batch = s.Batch, hidden = s.Hidden;
        float* g = Host(s.Gates), cp = Host(s.PrevC), cn = Host(s.C), dho = s.HasDhOut ? Host(s.DhOut) : null, dhr = Host(s.DhRec);
        float* dcp = Host(s.Dc), dg = Host(s.DGates);
        var one = Vector256<float>.One;
        for (int b = 0; b < batch; b++)
        {
            long rowOffset = (long)b * 4 * hidden, e0 = (long)b * hidden;
            float* gi = g + rowOffset, gf = gi + hidden, gg = gf + hidden, go = gg + hidden;
            float* di = dg + rowOffset, df = di + hidden, dgg = df + hidden, dgo = dgg + hidden;
            int j = firstUnit;
            if (Vector256.IsHardwareAccelerated)
                for (; j + 8 <= endUnit; j += 8)
                {
                    long e = e0 + j;
                    var i = Vector256.Load(gi + j); var f = Vector256.Load(gf + j);
                    var gt = Vector256.Load(gg + j); var o = Vector256.Load(go + j);
                    var tanhC = HostMath.Tanh(Vector256.Load(cn + e));
                    var dh = Vector256.Load(dhr + e);
                    if (dho != null) dh += Vector256.Load(dho + e);
                    var dcTotal = Vector256.Load(dcp + e) + dh * o * (one - tanhC * tanhC);
                    (dcTotal * gt * i * (one - i)).Store(di + j);
                    (dcTotal * Vector256.Load(cp + e) * f * (one - f)).Store(df + j);
                    (dcTotal * i * (one - gt * gt)).Store(dgg + j);
                    (dh * tanhC * o * (one - o)).Store(dgo + j);
                    (dcTotal * f).Store(dcp + e);
                }
            for (; j < endUnit; j++)
            {
                long e = e0 + j;
                float i = gi[j], f = gf[j], gt = gg[j], o = go[j];
                float tanhC = MathF.Tanh(cn[e]);
                float dh = dhr[e] + (dho != null ? dho[e] : 0f);
                float dcTotal = dcp[e] + dh * o * (1f - tanhC * tanhC);
                di[j] = dcTotal * gt * i * (1f - i);
                df[j] = dcTotal * cp[e] * f * (1f - f);
                dgg[j] = dcTotal * i * (1f - gt * gt);
                dgo[j] = dh * tanhC * o * (1f - o);
                dcp[e] = dcTotal * f;
            }
        }
    }

    internal override void IlgpuForward(IlgpuKernelSet kernels, in CellStep s)
    {
        var forward = kernels.Kernel(this, nameof(LstmCellKernels.Forward), a => a.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, int>(LstmCellKernels.Forward));
        forward(kernels.Stream, s.Batch * s.Hidden, s.Gates, s.PrevC, s.C, s.H, s.Hidden);
    }

    internal override void IlgpuBackward(IlgpuKernelSet kernels, in CellStep s)
    {
        var backward = kernels.Kernel(this, nameof(LstmCellKernels.Backward), a => a.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(LstmCellKernels.Backward));
        backward(kernels.Stream, s.Batch * s.Hidden, s.Gates, s.PrevC, s.C, s.DhOut, s.DhRec, s.Dc, s.DGates, s.Hidden, s.HasDhOut ? 1 : 0);
    }

    /// <summary>
    /// <see cref="LstmCellKernels.StepForward"/>: the recurrent dot products and the cell in one launch, for
    /// the CPU accelerator, where a launch costs ~85 µs. A GPU runs the tiled GEMM and the cell instead: this
    /// kernel re-reads all of Wh for every batch row.
    /// </summary>
    internal override bool IlgpuFusedStep(IlgpuKernelSet kernels, in CellStep s, ArrayView<float> recurrentWeights)
    {
        var step = kernels.Kernel(this, nameof(LstmCellKernels.StepForward), a => a.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(LstmCellKernels.StepForward));
        step(kernels.Stream, s.Batch * s.Hidden, s.PrevH, recurrentWeights, s.Gates, s.PrevC, s.C, s.H, s.Hidden);
        return true;
    }
}
