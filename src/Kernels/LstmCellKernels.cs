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
    /// The cell update of element index = (b,j), from its four gate pre-activations (<see cref="LstmMath"/>):
    /// keeps the activations in the gates buffer for backward, writes c_t and h_t. Shared by both forward kernels.
    /// </summary>
    private static void Update(int index, int row, int hidden, float zi, float zf, float zg, float zo,
        ArrayView<float> gates, ArrayView<float> cPrev, ArrayView<float> c, ArrayView<float> h)
    {
        default(LstmMath).Forward(new Gate4(zi, zf, zg, zo), default, 0f, cPrev[index], out var act, out float hNew, out float cNew);
        gates[row] = act.A;
        gates[row + hidden] = act.B;
        gates[row + 2 * hidden] = act.C;
        gates[row + 3 * hidden] = act.D;
        c[index] = cNew;
        h[index] = hNew;
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
        var act = new Gate4(gates[row], gates[row + hidden], gates[row + 2 * hidden], gates[row + 3 * hidden]);
        float dh = dhRec[index];
        if (hasDhOut != 0) dh += dhOut[index];
        default(LstmMath).Backward(act, default, 0f, cPrev[index], c[index], dh, dc[index], out var d, out _, out _, out float dcPrev);
        dGates[row] = d.A;
        dGates[row + hidden] = d.B;
        dGates[row + 2 * hidden] = d.C;
        dGates[row + 3 * hidden] = d.D;
        dc[index] = dcPrev;
    }

    public static float Sigmoid(float x) => CellMath.Sigmoid(x);
}

/// <summary>
/// The LSTM's equations for one element, gates [i f g o] (PyTorch's order):
///   i = σ(zi), f = σ(zf), g = tanh(zg), o = σ(zo),  c_t = f ⊙ c_{t−1} + i ⊙ g,  h_t = o ⊙ tanh(c_t)
/// where z = x·Wx + h_{t−1}·Wh + b (the recurrent sums arrive in r, or already added into x).
/// </summary>
internal readonly struct LstmMath : ICellMath
{
    public int Gates => 4;
    public bool HasCellState => true;
    public bool KeepsRecurrent => false;

    public void Forward(in Gate4 x, in Gate4 r, float hPrev, float cPrev, out Gate4 act, out float h, out float c)
    {
        float i = CellMath.Sigmoid(x.A + r.A), f = CellMath.Sigmoid(x.B + r.B), g = CellMath.Tanh(x.C + r.C), o = CellMath.Sigmoid(x.D + r.D);
        c = f * cPrev + i * g;
        h = o * CellMath.Tanh(c);
        act = new Gate4(i, f, g, o);
    }

    public void Backward(in Gate4 act, in Gate4 r, float hPrev, float cPrev, float c, float dh, float dc,
        out Gate4 dInput, out Gate4 dRecurrent, out float dhPrevDirect, out float dcPrev)
    {
        float i = act.A, f = act.B, g = act.C, o = act.D;
        float tanhC = CellMath.Tanh(c);
        float dcTotal = dc + dh * o * (1f - tanhC * tanhC);
        dInput = new Gate4(dcTotal * g * i * (1f - i), dcTotal * cPrev * f * (1f - f), dcTotal * i * (1f - g * g), dh * tanhC * o * (1f - o));
        dRecurrent = dInput;
        dhPrevDirect = 0f;
        dcPrev = dcTotal * f;
    }
}
