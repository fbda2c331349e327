using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace GpuLstm.Runtime.Compute.Host;

/// <summary>
/// Vectorized activations. The runtime's Vector256.Exp is not hardware-accelerated (measured ~10 ns per
/// element, scalar speed), which made the LSTM cell's five exponentials the largest cost of a step; this
/// exp is Cephes's expf polynomial with the power of two built in the exponent bits, about 2 ulp.
/// </summary>
internal static class HostMath
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Exp(Vector256<float> x)
    {
        // Clamped so 2^n stays a normal float: e^88.7 ≈ 3.4e38, e^-87.3 ≈ 1.2e-38.
        x = Vector256.Min(Vector256.Max(x, Vector256.Create(-87.3f)), Vector256.Create(88.7f));
        var n = Vector256.Round(x * Vector256.Create(1.44269504088896341f));
        // r = x − n·ln 2 in two parts, so r keeps its low bits.
        var r = x - n * Vector256.Create(0.693359375f) - n * Vector256.Create(-2.12194440e-4f);
        var p = Vector256.Create(1.9875691500e-4f);
        p = p * r + Vector256.Create(1.3981999507e-3f);
        p = p * r + Vector256.Create(8.3334519073e-3f);
        p = p * r + Vector256.Create(4.1665795894e-2f);
        p = p * r + Vector256.Create(1.6666665459e-1f);
        p = p * r + Vector256.Create(5.0000001201e-1f);
        var y = p * r * r + r + Vector256<float>.One;
        var pow2n = Vector256.ShiftLeft(Vector256.ConvertToInt32(n) + Vector256.Create(127), 23).AsSingle();
        return y * pow2n;
    }

    /// <summary>
    /// Natural log of positive x (Cephes's logf: x = m·2^e with m in [√½, √2), a degree-9 polynomial in m − 1),
    /// about 1 ulp; x ≤ 0 gives the log of the smallest normal float (−87.3), not NaN or −∞.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Log(Vector256<float> x)
    {
        x = Vector256.Max(x, Vector256.Create(1.17549435e-38f));
        var bits = x.AsInt32();
        var e = Vector256.ConvertToSingle(Vector256.ShiftRightArithmetic(bits, 23) - Vector256.Create(126));
        var m = ((bits & Vector256.Create(0x007FFFFF)) | Vector256.Create(0x3F000000)).AsSingle();   // [0.5, 1)
        var small = Vector256.LessThan(m, Vector256.Create(0.707106781186547524f));
        e -= Vector256.ConditionalSelect(small, Vector256<float>.One, Vector256<float>.Zero);
        m = Vector256.ConditionalSelect(small, m + m, m) - Vector256<float>.One;
        var z = m * m;
        var y = Vector256.Create(7.0376836292e-2f);
        y = y * m + Vector256.Create(-1.1514610310e-1f);
        y = y * m + Vector256.Create(1.1676998740e-1f);
        y = y * m + Vector256.Create(-1.2420140846e-1f);
        y = y * m + Vector256.Create(1.4249322787e-1f);
        y = y * m + Vector256.Create(-1.6668057665e-1f);
        y = y * m + Vector256.Create(2.0000714765e-1f);
        y = y * m + Vector256.Create(-2.4999993993e-1f);
        y = y * m + Vector256.Create(3.3333331174e-1f);
        y = y * m * z;
        y += e * Vector256.Create(-2.12194440e-4f);
        y -= Vector256.Create(0.5f) * z;
        return m + y + e * Vector256.Create(0.693359375f);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Sigmoid(Vector256<float> x) => Vector256<float>.One / (Vector256<float>.One + Exp(-x));

    /// <summary>tanh x = 1 − 2/(e^{2x} + 1): saturates cleanly to ±1 where e^{2x} is clamped.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Tanh(Vector256<float> x)
    {
        var e = Exp(x + x);
        return Vector256<float>.One - Vector256.Create(2f) / (e + Vector256<float>.One);
    }

    /// <summary><see cref="Exp"/> of one value: scalar tails get the lanes' bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ExpOne(float x) => Exp(Vector256.Create(x)).ToScalar();

    /// <summary>max of x[0..n), four vectors at a time (−∞ for n = 0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe float Max(float* x, int n)
    {
        int i = 0;
        float max = float.NegativeInfinity;
        if (n >= 32)
        {
            var m0 = Vector256.Load(x); var m1 = Vector256.Load(x + 8); var m2 = Vector256.Load(x + 16); var m3 = Vector256.Load(x + 24);
            for (i = 32; i + 32 <= n; i += 32)
            {
                m0 = Vector256.Max(m0, Vector256.Load(x + i)); m1 = Vector256.Max(m1, Vector256.Load(x + i + 8));
                m2 = Vector256.Max(m2, Vector256.Load(x + i + 16)); m3 = Vector256.Max(m3, Vector256.Load(x + i + 24));
            }
            var m = Vector256.Max(Vector256.Max(m0, m1), Vector256.Max(m2, m3));
            for (int l = 0; l < 8; l++) max = MathF.Max(max, m.GetElement(l));
        }
        for (; i < n; i++) max = MathF.Max(max, x[i]);
        return max;
    }

    /// <summary>
    /// e[i] = exp(x[i] − max) for i &lt; n, returning Σe (two vector accumulators, then the tail in order): the
    /// softmax's one exponential per element. <paramref name="e"/> may be <paramref name="x"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe float ExpAndSum(float* x, float* e, int n, float max)
    {
        var m = Vector256.Create(max);
        var s0 = Vector256<float>.Zero; var s1 = s0;
        int i = 0;
        for (; i + 16 <= n; i += 16)
        {
            var e0 = Exp(Vector256.Load(x + i) - m);
            var e1 = Exp(Vector256.Load(x + i + 8) - m);
            e0.Store(e + i); e1.Store(e + i + 8);
            s0 += e0; s1 += e1;
        }
        for (; i + 8 <= n; i += 8)
        {
            var e0 = Exp(Vector256.Load(x + i) - m);
            e0.Store(e + i);
            s0 += e0;
        }
        float sum = Vector256.Sum(s0 + s1);
        for (; i < n; i++) sum += e[i] = ExpOne(x[i] - max);
        return sum;
    }

    /// <summary>dst[i] += src[i] for i &lt; n.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static unsafe void AddInPlace(float* dst, float* src, int n)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
            for (; i + 8 <= n; i += 8) (Vector256.Load(dst + i) + Vector256.Load(src + i)).Store(dst + i);
        for (; i < n; i++) dst[i] += src[i];
    }

    /// <summary>dst[i] = a[i] + b[i] for i &lt; n.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static unsafe void Add(float* dst, float* a, float* b, int n)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
            for (; i + 8 <= n; i += 8) (Vector256.Load(a + i) + Vector256.Load(b + i)).Store(dst + i);
        for (; i < n; i++) dst[i] = a[i] + b[i];
    }

    /// <summary>output (C,R) = inputᵀ for input (R,C), in 32×32 tiles so both sides stay in cache.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static unsafe void Transpose(float* input, float* output, int rows, int columns)
    {
        const int Tile = 32;
        for (int r0 = 0; r0 < rows; r0 += Tile)
            for (int c0 = 0; c0 < columns; c0 += Tile)
            {
                int r1 = Math.Min(rows, r0 + Tile), c1 = Math.Min(columns, c0 + Tile);
                for (int r = r0; r < r1; r++)
                    for (int c = c0; c < c1; c++)
                        output[(long)c * rows + r] = input[(long)r * columns + c];
            }
    }
}
