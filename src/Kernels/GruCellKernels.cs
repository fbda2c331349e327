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
        float r = Sigmoid(xproj[row] + hproj[row]);
        float z = Sigmoid(xproj[row + hidden] + hproj[row + hidden]);
        float n = MathF.Tanh(xproj[row + 2 * hidden] + r * hproj[row + 2 * hidden]);
        xproj[row] = r;
        xproj[row + hidden] = z;
        xproj[row + 2 * hidden] = n;
        h[index] = (1f - z) * n + z * hPrev[index];
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
        float r = gates[row];
        float z = gates[row + hidden];
        float n = gates[row + 2 * hidden];
        float dh = dhRec[index];
        if (hasDhOut != 0) dh += dhOut[index];
        float dn = dh * (1f - z) * (1f - n * n);
        float dz = dh * (hPrev[index] - n) * z * (1f - z);
        float dr = dn * hproj[row + 2 * hidden] * r * (1f - r);
        dGatesInput[row] = dr;
        dGatesInput[row + hidden] = dz;
        dGatesInput[row + 2 * hidden] = dn;
        dGatesHidden[row] = dr;
        dGatesHidden[row + hidden] = dz;
        dGatesHidden[row + 2 * hidden] = dn * r;
        dhRec[index] = dh * z;
    }

    public static float Sigmoid(float x) => 1f / (1f + MathF.Exp(-x));
}
