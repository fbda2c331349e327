using ILGPU;

namespace GpuLstm.Kernels;

/// <summary>
/// The LSTM's pointwise work for one time step, forward and backward, each fused into one launch.
/// Gate order inside a (4H) row is [i f g o], PyTorch's order. Activations: σ for i, f, o; tanh for g
/// and for the cell output (Keras's and PyTorch's defaults).
/// </summary>
internal static class LstmCellKernels
{
    /// <summary>
    /// index: 0..B·H, element (b,j). Reads the four pre-activations of (b,j), writes the activated
    /// gates back in place (backward needs exactly those), and c_t, h_t.
    /// </summary>
    public static void Forward(
        Index1D index,
        ArrayView<float> gates,  // (B,4H) in: pre-activations x·Wx + h·Wh + b; out: activations [i f g o]
        ArrayView<float> cPrev,  // (B,H) c_{t-1}
        ArrayView<float> c,      // (B,H) out: c_t
        ArrayView<float> h,      // (B,H) out: h_t
        int hidden)              // H
    {
        int b = index / hidden;
        int row = b * 4 * hidden + index - b * hidden;
        Update(index, row, hidden, gates[row], gates[row + hidden], gates[row + 2 * hidden], gates[row + 3 * hidden], gates, cPrev, c, h);
    }

    /// <summary>
    /// The cell update of element index = (b,j), from its four gate pre-activations: activates them, keeps the
    /// activations in the gates buffer for backward, writes c_t and h_t. Shared by both forward kernels.
    /// </summary>
    private static void Update(int index, int row, int hidden, float zi, float zf, float zg, float zo,
        ArrayView<float> gates, ArrayView<float> cPrev, ArrayView<float> c, ArrayView<float> h)
    {
        float i = Sigmoid(zi), f = Sigmoid(zf), g = MathF.Tanh(zg), o = Sigmoid(zo);
        float cNew = f * cPrev[index] + i * g;
        gates[row] = i;
        gates[row + hidden] = f;
        gates[row + 2 * hidden] = g;
        gates[row + 3 * hidden] = o;
        c[index] = cNew;
        h[index] = o * MathF.Tanh(cNew);
    }

    /// <summary>
    /// index: 0..B·H, element (b,j). One whole step of the recurrence in one launch: the four recurrent dot
    /// products of (b,j), gates += h_{t-1}·Wh for columns j, H+j, 2H+j, 3H+j, then the cell update of
    /// <see cref="Forward"/>. Adjacent threads read adjacent columns of Wh, so every load of a row of Wh is
    /// coalesced; no shared memory and no barriers, which suits the small batches of a recurrence (and the
    /// CPU accelerator). It replaces a GEMM launch and a cell launch per time step.
    /// </summary>
    public static void StepForward(
        Index1D index,
        ArrayView<float> hPrev,    // (B,H) h_{t-1}
        ArrayView<float> weights,  // (H,4H) Wh
        ArrayView<float> gates,    // (B,4H) in: x_t·Wx + b; out: activations [i f g o]
        ArrayView<float> cPrev,    // (B,H) c_{t-1}
        ArrayView<float> c,        // (B,H) out: c_t
        ArrayView<float> h,        // (B,H) out: h_t
        int hidden)                // H
    {
        int b = index / hidden;
        int j = index - b * hidden;
        int row = b * 4 * hidden + j;
        float zi = gates[row], zf = gates[row + hidden], zg = gates[row + 2 * hidden], zo = gates[row + 3 * hidden];
        int hRow = b * hidden;
        int w = j;
        for (int k = 0; k < hidden; k++)
        {
            float hk = hPrev[hRow + k];
            zi += hk * weights[w];
            zf += hk * weights[w + hidden];
            zg += hk * weights[w + 2 * hidden];
            zo += hk * weights[w + 3 * hidden];
            w += 4 * hidden;
        }
        Update(index, row, hidden, zi, zf, zg, zo, gates, cPrev, c, h);
    }

    /// <summary>
    /// index: 0..B·H, element (b,j). Gradient of one step: from dL/dh_t and dL/dc_t to the gate
    /// pre-activation gradients and dL/dc_{t-1}. The recurrent dL/dh_{t-1} is a GEMM the caller runs next.
    /// </summary>
    public static void Backward(
        Index1D index,
        ArrayView<float> gates,     // (B,4H) activations [i f g o] saved by Forward at step t
        ArrayView<float> cPrev,     // (B,H) c_{t-1}
        ArrayView<float> c,         // (B,H) c_t
        ArrayView<float> dhOut,     // (B,H) dL/dh_t from the layer above or the loss; read when hasDhOut
        ArrayView<float> dhRec,     // (B,H) dL/dh_t through step t+1's recurrent GEMM
        ArrayView<float> dc,        // (B,H) in: dL/dc_t from step t+1; out: dL/dc_{t-1}
        ArrayView<float> dGates,    // (B,4H) out: dL/d(pre-activations) at step t
        int hidden,                 // H
        int hasDhOut)               // 1 when dhOut carries a gradient at this step
    {
        int b = index / hidden;
        int j = index - b * hidden;
        int row = b * 4 * hidden + j;
        float i = gates[row];
        float f = gates[row + hidden];
        float g = gates[row + 2 * hidden];
        float o = gates[row + 3 * hidden];
        float tanhC = MathF.Tanh(c[index]);
        float dh = dhRec[index];
        if (hasDhOut != 0) dh += dhOut[index];
        float dcTotal = dc[index] + dh * o * (1f - tanhC * tanhC);
        dGates[row] = dcTotal * g * i * (1f - i);
        dGates[row + hidden] = dcTotal * cPrev[index] * f * (1f - f);
        dGates[row + 2 * hidden] = dcTotal * i * (1f - g * g);
        dGates[row + 3 * hidden] = dh * tanhC * o * (1f - o);
        dc[index] = dcTotal * f;
    }

    public static float Sigmoid(float x) => 1f / (1f + MathF.Exp(-x));
}
