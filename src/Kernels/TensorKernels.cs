using ILGPU;

namespace GpuLstm.Kernels;

/// <summary>Small data-movement kernels around the LSTM: input encoding and bias gradients.</summary>
public static class TensorKernels
{
    /// <summary>index: 0..R·V. Element (r,v) of the one-hot matrix; one thread per element keeps writes coalesced.</summary>
    public static void OneHot(
        Index1D index,
        ArrayView<int> tokens,  // (R) ids in 0..V
        ArrayView<float> x,     // (R,V) out
        int vocab)              // V
    {
        int r = index / vocab;
        int v = index - r * vocab;
        x[index] = tokens[r] == v ? 1f : 0f;
    }

    /// <summary>
    /// index: 0..N, one column per thread: sum[n] (+)= Σ_r x[r,n]. Bias gradients; adjacent threads read
    /// adjacent columns, so every row is read coalesced, and the fixed summation order is deterministic.
    /// </summary>
    public static void ColumnSum(
        Index1D column,
        ArrayView<float> x,    // (R,N)
        ArrayView<float> sum,  // (N) out
        int rows,              // R
        int columns,           // N
        int accumulate)        // 1: add to sum
    {
        float acc = 0f;
        for (int r = 0; r < rows; r++) acc += x[r * columns + column];
        if (accumulate != 0) acc += sum[column];
        sum[column] = acc;
    }
}
