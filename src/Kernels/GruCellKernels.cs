using ILGPU;

namespace GpuLstm.Kernels;

/// <summary>
/// The GRU's pointwise work for one time step, forward and backward, each fused into one launch. PyTorch's
/// nn.GRU (Keras's reset_after=True): gate order inside a (3H) row is [r z n], and the reset gate scales the
/// recurrent product after it is taken, so the per-step recurrent work is one plain GEMM
/// hproj = h_{t-1}·Wh + b_hh that the caller runs before <see cref="Forward"/>:
///   r = σ(xr + hr),  z = σ(xz + hz),  n = tanh(xn + r ⊙ hn),  h_t = (1 − z) ⊙ n + z ⊙ h_{t-1}
/// where x· = x_t·Wx + b_ih and h· = h_{t-1}·Wh + b_hh, each split into its three H-wide column blocks.
/// </summary>
internal static class GruCellKernels
{
    /// <summary>
    /// index: 0..B·H, element (b,j). Reads the x- and h-side pre-activations of (b,j), writes the activated
    /// gates [r z n] over the x-side ones (backward needs exactly those), and h_t.
    /// </summary>
    public static void Forward(
        Index1D index,
        ArrayView<float> xproj,  // (B,3H) in: x_t·Wx + b_ih; out: activations [r z n]
        ArrayView<float> hproj,  // (B,3H) h_{t-1}·Wh + b_hh (kept: backward needs its n block)
        ArrayView<float> hPrev,  // (B,H) h_{t-1}
        ArrayView<float> h,      // (B,H) out: h_t
        int hidden)              // H
    {
        int b = index / hidden;
        int row = b * 3 * hidden + index - b * hidden;
        default(GruMath).Forward(new Gate4(xproj[row], xproj[row + hidden], xproj[row + 2 * hidden]),
            new Gate4(hproj[row], hproj[row + hidden], hproj[row + 2 * hidden]), hPrev[index], 0f, out var act, out float hNew, out _);
        xproj[row] = act.A;
        xproj[row + hidden] = act.B;
        xproj[row + 2 * hidden] = act.C;
        h[index] = hNew;
    }

    /// <summary>
    /// index: 0..B·H, element (b,j). Gradient of one step from dh = dL/dh_t = dhRec (+ dhOut): the gradients
    /// of the x-side pre-activations, those of hproj, and the direct part of dL/dh_{t-1}, dh ⊙ z, written
    /// over dhRec. The recurrent part, dGatesHidden·Whᵀ, is a GEMM the caller accumulates onto dhRec next.
    /// </summary>
    public static void Backward(
        Index1D index,
        ArrayView<float> gates,         // (B,3H) activations [r z n] saved by Forward at step t
        ArrayView<float> hproj,         // (B,3H) h_{t-1}·Wh + b_hh at step t (only the n block is read)
        ArrayView<float> hPrev,         // (B,H) h_{t-1}
        ArrayView<float> dhOut,         // (B,H) dL/dh_t from the layer above or the loss; read when hasDhOut
        ArrayView<float> dhRec,         // (B,H) in: dL/dh_t through step t+1; out: dh ⊙ z, the direct part of dL/dh_{t-1}
        ArrayView<float> dGatesInput,   // (B,3H) out: dL/d(x-side pre-activations) [dr dz dn]
        ArrayView<float> dGatesHidden,  // (B,3H) out: dL/d(hproj) [dr dz dn ⊙ r]
        int hidden,                     // H
        int hasDhOut)                   // 1 when dhOut carries a gradient at this step
    {
        int b = index / hidden;
        int row = b * 3 * hidden + index - b * hidden;
        float dh = dhRec[index];
        if (hasDhOut != 0) dh += dhOut[index];
        default(GruMath).Backward(new Gate4(gates[row], gates[row + hidden], gates[row + 2 * hidden]), new Gate4(0f, 0f, hproj[row + 2 * hidden]),
            hPrev[index], 0f, 0f, dh, 0f, out var dInput, out var dRecurrent, out float direct, out _);
        dGatesInput[row] = dInput.A;
        dGatesInput[row + hidden] = dInput.B;
        dGatesInput[row + 2 * hidden] = dInput.C;
        dGatesHidden[row] = dRecurrent.A;
        dGatesHidden[row + hidden] = dRecurrent.B;
        dGatesHidden[row + 2 * hidden] = dRecurrent.C;
        dhRec[index] = direct;
    }

    public static float Sigmoid(float x) => CellMath.Sigmoid(x);
}

/// <summary>
/// The GRU's equations for one element, gates [r z n], with x· = x_t·Wx + b_ih and h· = h_{t−1}·Wh + b_hh (kept):
///   r = σ(xr + hr),  z = σ(xz + hz),  n = tanh(xn + r ⊙ hn),  h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}.
/// </summary>
internal readonly struct GruMath : ICellMath
{
    public int Gates => 3;
    public bool HasCellState => false;
    public bool KeepsRecurrent => true;

    public void Forward(in Gate4 x, in Gate4 r, float hPrev, float cPrev, out Gate4 act, out float h, out float c)
    {
        float rg = CellMath.Sigmoid(x.A + r.A);
        float z = CellMath.Sigmoid(x.B + r.B);
        float n = CellMath.Tanh(x.C + rg * r.C);
        h = (1f - z) * n + z * hPrev;
        c = 0f;
        act = new Gate4(rg, z, n);
    }

    public void Backward(in Gate4 act, in Gate4 r, float hPrev, float cPrev, float c, float dh, float dc,
        out Gate4 dInput, out Gate4 dRecurrent, out float dhPrevDirect, out float dcPrev)
    {
        float rg = act.A, z = act.B, n = act.C;
        float dn = dh * (1f - z) * (1f - n * n);
        float dz = dh * (hPrev - n) * z * (1f - z);
        float dr = dn * r.C * rg * (1f - rg);
        dInput = new Gate4(dr, dz, dn);
        dRecurrent = new Gate4(dr, dz, dn * rg);
        dhPrevDirect = dh * z;
        dcPrev = 0f;
    }
}
