using ILGPU;

namespace GpuLstm.Bench;

/// <summary>
/// The unfused baselines the fused kernels are measured against: one element-wise launch per operation,
/// as a framework without kernel fusion would run the LSTM cell and Adam. Benchmark-only code.
/// </summary>
public static class UnfusedKernels
{
    /// <summary>y[i] = σ(x[xOffset + (i / H)·4H + i mod H]): one gate of (B,4H) into (B,H).</summary>
    public static void SigmoidGate(Index1D i, ArrayView<float> gates, ArrayView<float> y, int hidden, int gate)
    {
        int b = i / hidden, j = i - b * hidden;
        y[i] = 1f / (1f + MathF.Exp(-gates[b * 4 * hidden + gate * hidden + j]));
    }

    public static void TanhGate(Index1D i, ArrayView<float> gates, ArrayView<float> y, int hidden, int gate)
    {
        int b = i / hidden, j = i - b * hidden;
        y[i] = MathF.Tanh(gates[b * 4 * hidden + gate * hidden + j]);
    }

    public static void Tanh(Index1D i, ArrayView<float> x, ArrayView<float> y) => y[i] = MathF.Tanh(x[i]);

    public static void Multiply(Index1D i, ArrayView<float> a, ArrayView<float> b, ArrayView<float> y) => y[i] = a[i] * b[i];

    public static void MultiplyAdd(Index1D i, ArrayView<float> a, ArrayView<float> b, ArrayView<float> y) => y[i] += a[i] * b[i];

    /// <summary>m = β·m + (1−β)·g (and, squared, for v): Adam's moment update as its own launch.</summary>
    public static void Moment(Index1D i, ArrayView<float> m, ArrayView<float> g, float beta, int square)
    {
        float gi = square != 0 ? g[i] * g[i] : g[i];
        m[i] = beta * m[i] + (1f - beta) * gi;
    }

    public static void AdamUpdate(Index1D i, ArrayView<float> p, ArrayView<float> m, ArrayView<float> v, float step, float eps) =>
        p[i] -= step * m[i] / (MathF.Sqrt(v[i]) + eps);
}
