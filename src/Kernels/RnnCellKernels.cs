using ILGPU;

namespace GpuLstm.Kernels;

/// <summary>
/// The Elman RNN's pointwise work for one time step (PyTorch's nn.RNN, char-rnn's "rnn"): h' = tanh(x·W_ih +
/// b_ih + h·W_hh + b_hh), one gate block. The recurrent GEMM accumulates onto the input pre-activations before
/// the forward kernel, and the layer's backward GEMM turns dL/d(pre-activation) into dL/dh_{t-1}.
/// </summary>
internal static class RnnCellKernels
{
    /// <summary>index: 0..B·H, element (b,j). Activates the pre-activation in place (backward needs it) and writes h_t.</summary>
    public static void Forward(
        Index1D index,
        ArrayView<float> gates,  // (B,H) in: x·Wx + b + h·Wh; out: tanh of it
        ArrayView<float> h,      // (B,H) out: h_t
        int hidden)              // H
    {
        default(RnnMath).Forward(new Gate4(gates[index]), default, 0f, 0f, out var act, out float hNew, out _);
        gates[index] = act.A;
        h[index] = hNew;
    }

    /// <summary>index: 0..B·H, element (b,j). dL/d(pre-activation) = dh·(1 − h_t²), with dh = dhRec (+ dhOut).</summary>
    public static void Backward(
        Index1D index,
        ArrayView<float> gates,   // (B,H) the activations Forward saved: h_t
        ArrayView<float> dhOut,   // (B,H) dL/dh_t from the layer above or the loss; read when hasDhOut
        ArrayView<float> dhRec,   // (B,H) dL/dh_t through step t+1's recurrent GEMM
        ArrayView<float> dGates,  // (B,H) out: dL/d(pre-activation) at step t
        int hidden,               // H
        int hasDhOut)             // 1 when dhOut carries a gradient at this step
    {
        float dh = dhRec[index];
        if (hasDhOut != 0) dh += dhOut[index];
        default(RnnMath).Backward(new Gate4(gates[index]), default, 0f, 0f, 0f, dh, 0f, out var d, out _, out _, out _);
        dGates[index] = d.A;
    }
}

/// <summary>The Elman RNN's equation for one element: h_t = tanh(x·Wx + b + h_{t−1}·Wh), one gate block.</summary>
internal readonly struct RnnMath : ICellMath
{
    public int Gates => 1;
    public bool HasCellState => false;
    public bool KeepsRecurrent => false;

    public void Forward(in Gate4 x, in Gate4 r, float hPrev, float cPrev, out Gate4 act, out float h, out float c)
    {
        h = CellMath.Tanh(x.A + r.A);
        c = 0f;
        act = new Gate4(h);
    }

    public void Backward(in Gate4 act, in Gate4 r, float hPrev, float cPrev, float c, float dh, float dc,
        out Gate4 dInput, out Gate4 dRecurrent, out float dhPrevDirect, out float dcPrev)
    {
        dInput = new Gate4(dh * (1f - act.A * act.A));
        dRecurrent = dInput;
        dhPrevDirect = 0f;
        dcPrev = 0f;
    }
}
