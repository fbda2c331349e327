using ILGPU;

namespace GpuLstm.Kernels;

/// <summary>
/// Inverted dropout between stacked layers (training only). The keep/drop decision for element i is a hash
/// of (key, i), not a draw from a sequential generator: every element is independent of launch order and
/// thread count, the host and GPU sets make the same mask bit for bit, and a resumed run needs no RNG state,
/// only the step number the key is derived from.
/// </summary>
internal static class DropoutKernels
{
    /// <summary>A 32-bit integer hash with full avalanche (Chris Wellons' lowbias32); a bijection on uint.</summary>
    public static uint Hash(uint x)
    {
        x ^= x >> 16;
        x *= 0x7feb352du;
        x ^= x >> 15;
        x *= 0x846ca68bu;
        x ^= x >> 16;
        return x;
    }

    /// <summary>
    /// Whether element <paramref name="index"/> is kept: the top 24 bits of Hash(key + index), read as a
    /// uniform number in [0, 2²⁴), are at or above <paramref name="dropThreshold"/> = round(rate · 2²⁴).
    /// </summary>
    public static bool Keeps(uint key, int index, uint dropThreshold) => (Hash(key + (uint)index) >> 8) >= dropThreshold;

    /// <summary>
    /// index: 0..N. mask[i] = keep ? scale : 0 with scale = 1/(1 − rate); y[i] = x[i]·mask[i].
    /// </summary>
    public static void Forward(
        Index1D index,
        ArrayView<float> x,     // (N) a layer's outputs (T,B,H) flattened
        ArrayView<float> mask,  // (N) out: 0 or scale, kept for backward
        ArrayView<float> y,     // (N) out: the next layer's input
        uint key,               // per (step, layer); see DropoutKeys
        uint dropThreshold,     // round(rate · 2²⁴)
        float scale)            // 1/(1 − rate)
    {
        float m = Keeps(key, index, dropThreshold) ? scale : 0f;
        mask[index] = m;
        y[index] = x[index] * m;
    }

    /// <summary>index: 0..N. dx[i] = dy[i]·mask[i]; dx may alias dy.</summary>
    public static void Backward(
        Index1D index,
        ArrayView<float> dy,    // (N)
        ArrayView<float> mask,  // (N) from Forward
        ArrayView<float> dx)    // (N) out
    {
        dx[index] = dy[index] * mask[index];
    }
}
