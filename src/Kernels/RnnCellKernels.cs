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
        float a = MathF.Tanh(gates[index]);
        gates[index] = a;
        h[index] = a;
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
        float a = gates[index];
        dGates[index] = dh * (1f - a * a);
    }
}
