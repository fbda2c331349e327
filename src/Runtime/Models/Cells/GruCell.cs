using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using GpuLstm.Kernels;
using GpuLstm.Runtime.Compute;
using GpuLstm.Runtime.Compute.Host;
using ILGPU;
using ILGPU.Runtime;

namespace GpuLstm.Runtime.Models.Cells;

/// <summary>
/// The GRU as PyTorch's nn.GRU has it (Keras's reset_after=True): gates [r z n],
///   r = σ(x·W_ir + b_ir + h·W_hr + b_hr),  z = σ(x·W_iz + b_iz + h·W_hz + b_hz),
///   n = tanh(x·W_in + b_in + r ⊙ (h·W_hn + b_hn)),  h' = (1 − z) ⊙ n + z ⊙ h.
/// The recurrent projection h·Wh + b_hh is kept apart from the gates (the reset gate multiplies its n block),
/// and so are the two biases. Keras's defaults: zero biases. Kernels: <see cref="GruCellKernels"/>.
/// </summary>
internal sealed class GruCell : RecurrentCell
{
    public static GruCell Instance { get; } = new();

    private GruCell() { }

    public override string Name => "gru";
    public override string TorchModule => "nn.GRU";
    public override int Gates => 3;
    public override string GateOrder => "r, z, n";
    public override bool KeepsRecurrentProjection => true;

    internal override FusedRecurrentStep FusedStep { get; } = FusedRecurrentStep.For<GruMath>();

    /// <summary>
    /// From Gates (B,3H) = x_t·Wx + b_ih and Recurrent (B,3H) = hPrev·Wh + b_hh, writes the activated gates
    /// [r z n] over Gates and H (B,H) = (1 − z) ⊙ n + z ⊙ PrevH.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal override unsafe void HostForward(in CellStep s, int firstUnit, int endUnit)
    {
        int batch = s.Batch, hidden = s.Hidden;
        float* x = Host(s.Gates), hp = Host(s.Recurrent), hpr = Host(s.PrevH), hn = Host(s.H);
        var one = Vector256<float>.One;
        for (int b = 0; b < batch; b++)
        {
            long rowOffset = (long)b * 3 * hidden, e0 = (long)b * hidden;
            float* xr = x + rowOffset, xz = xr + hidden, xn = xz + hidden;     // (3H) row: x-side [r z n], activated in place
            float* hr = hp + rowOffset, hz = hr + hidden, hnn = hz + hidden;   // (3H) row: h-side [r z n]
            float* prev = hpr + e0, next = hn + e0;                            // (H) h_{t-1}, h_t
            int j = firstUnit;
            if (Vector256.IsHardwareAccelerated)
                for (; j + 8 <= endUnit; j += 8)
                {
                    var r = HostMath.Sigmoid(Vector256.Load(xr + j) + Vector256.Load(hr + j));
                    var z = HostMath.Sigmoid(Vector256.Load(xz + j) + Vector256.Load(hz + j));
                    var n = HostMath.Tanh(Vector256.Load(xn + j) + r * Vector256.Load(hnn + j));
                    r.Store(xr + j); z.Store(xz + j); n.Store(xn + j);
                    ((one - z) * n + z * Vector256.Load(prev + j)).Store(next + j);
                }
            for (; j < endUnit; j++)
            {
                float r = GruCellKernels.Sigmoid(xr[j] + hr[j]);
                float z = GruCellKernels.Sigmoid(xz[j] + hz[j]);
                float n = MathF.Tanh(xn[j] + r * hnn[j]);
                xr[j] = r; xz[j] = z; xn[j] = n;
                next[j] = (1f - z) * n + z * prev[j];
            }
        }
    }

    /// <summary>
    /// From dh = DhRec (+ DhOut) and the activations Gates (B,3H), with Recurrent (B,3H) and PrevH (B,H) the
    /// forward's inputs: writes DGates (B,3H), the gradient of the x-side pre-activations; DRecurrent (B,3H),
    /// that of the recurrent projection (equal for r and z, dn ⊙ r for n); and overwrites DhRec with dh ⊙ z,
    /// the direct part of dL/dh_{t-1} (the layer adds DRecurrent·Whᵀ).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal override unsafe void HostBackward(in CellStep s, int firstUnit, int endUnit)
    {
        int batch = s.Batch, hidden = s.Hidden;
        float* g = Host(s.Gates), hp = Host(s.Recurrent), hpr = Host(s.PrevH), dho = s.HasDhOut ? Host(s.DhOut) : null, dhr = Host(s.DhRec);
        float* dgi = Host(s.DGates), dgh = Host(s.DRecurrent);
        var one = Vector256<float>.One;
        for (int b = 0; b < batch; b++)
        {
            long rowOffset = (long)b * 3 * hidden, e0 = (long)b * hidden;
            float* gr = g + rowOffset, gz = gr + hidden, gn = gz + hidden;          // (3H) row: activations [r z n]
            float* hn = hp + rowOffset + 2 * hidden;                              // (H) n block of the recurrent projection
            float* ir = dgi + rowOffset, iz = ir + hidden, inn = iz + hidden;     // (3H) row of DGates
            float* hr = dgh + rowOffset, hz = hr + hidden, hnn = hz + hidden;     // (3H) row of DRecurrent
            float* prev = hpr + e0, rec = dhr + e0, outg = dho == null ? null : dho + e0; // (H) rows
            int j = firstUnit;
            if (Vector256.IsHardwareAccelerated)
                for (; j + 8 <= endUnit; j += 8)
                {
                    var r = Vector256.Load(gr + j); var z = Vector256.Load(gz + j); var n = Vector256.Load(gn + j);
                    var dh = Vector256.Load(rec + j);
                    if (outg != null) dh += Vector256.Load(outg + j);
                    var dn = dh * (one - z) * (one - n * n);
                    var dz = dh * (Vector256.Load(prev + j) - n) * z * (one - z);
                    var dr = dn * Vector256.Load(hn + j) * r * (one - r);
                    dr.Store(ir + j); dz.Store(iz + j); dn.Store(inn + j);
                    dr.Store(hr + j); dz.Store(hz + j); (dn * r).Store(hnn + j);
                    (dh * z).Store(rec + j);
                }
            for (; j < endUnit; j++)
            {
                float r = gr[j], z = gz[j], n = gn[j];
                float dh = rec[j] + (outg != null ? outg[j] : 0f);
                float dn = dh * (1f - z) * (1f - n * n);
                float dz = dh * (prev[j] - n) * z * (1f - z);
                float dr = dn * hn[j] * r * (1f - r);
                ir[j] = dr; iz[j] = dz; inn[j] = dn;
                hr[j] = dr; hz[j] = dz; hnn[j] = dn * r;
                rec[j] = dh * z;
            }
        }
    }

    internal override void IlgpuForward(IlgpuKernelSet kernels, in CellStep s)
    {
        var forward = kernels.Kernel(this, nameof(GruCellKernels.Forward), a => a.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, int>(GruCellKernels.Forward));
        forward(kernels.Stream, s.Batch * s.Hidden, s.Gates, s.Recurrent, s.PrevH, s.H, s.Hidden);
    }

    internal override void IlgpuBackward(IlgpuKernelSet kernels, in CellStep s)
    {
        var backward = kernels.Kernel(this, nameof(GruCellKernels.Backward), a => a.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(GruCellKernels.Backward));
        backward(kernels.Stream, s.Batch * s.Hidden, s.Gates, s.Recurrent, s.PrevH, s.DhOut, s.DhRec, s.DGates, s.DRecurrent, s.Hidden, s.HasDhOut ? 1 : 0);
    }
}
