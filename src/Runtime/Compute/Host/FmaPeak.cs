using System.Diagnostics;
using System.Runtime.Intrinsics;

namespace GpuLstm.Runtime.Compute.Host;

/// <summary>
/// The machine's FP32 peak, measured: on every thread of a pool, 12 independent FMA chains (more than an FMA's
/// latency × throughput needs on current x86 cores) of <see cref="Iterations"/> links, with nothing to load.
/// bench prints it beside its GFLOP/s, and BenchmarkDotNet's GEMM rows sit beside its row, so every rate can be
/// read as a share of what this machine gives.
/// </summary>
internal sealed class FmaPeak : IParallelWork
{
    private const int Iterations = 1 << 20, Chains = 12;
    private readonly bool _wide;
    private float _sink;

    private FmaPeak(bool wide) => _wide = wide;

    /// <summary>FLOPs of one <see cref="Run"/> on <paramref name="parts"/> threads (the AVX2 loop does the same count in twice the links).</summary>
    public static double FlopsPerCall(int parts) => 2.0 * 16 * Chains * Iterations * parts;

    /// <summary>One pass of the loop on every thread of <paramref name="pool"/>, in 512-bit or 256-bit registers.</summary>
    public static void Run(WorkerPool pool, bool wide) => pool.Run(new FmaPeak(wide), pool.Threads);

    /// <summary>GFLOP/s: the best of <paramref name="repeats"/> passes after a warm-up pass.</summary>
    public static double MeasureGflops(WorkerPool pool, bool wide, int repeats = 5)
    {
        Run(pool, wide);
        double best = double.MaxValue;
        for (int i = 0; i < repeats; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            Run(pool, wide);
            best = Math.Min(best, Stopwatch.GetElapsedTime(t0).TotalSeconds);
        }
        return FlopsPerCall(pool.Threads) / best / 1e9;
    }

    void IParallelWork.Run(int part, int parts)
    {
        float sum = _wide ? Chains512() : Chains256();
        if (sum == 12345.678f) _sink = sum;   // keeps the loop from being removed
    }

    private static float Chains512()
    {
        var m = Vector512.Create(0.999999f); var a = Vector512.Create(1e-7f);
        Vector512<float> x0 = m, x1 = m, x2 = m, x3 = m, x4 = m, x5 = m, x6 = m, x7 = m, x8 = m, x9 = m, xa = m, xb = m;
        for (int i = 0; i < Iterations; i++)
        {
            x0 = Vector512.FusedMultiplyAdd(x0, m, a); x1 = Vector512.FusedMultiplyAdd(x1, m, a); x2 = Vector512.FusedMultiplyAdd(x2, m, a);
            x3 = Vector512.FusedMultiplyAdd(x3, m, a); x4 = Vector512.FusedMultiplyAdd(x4, m, a); x5 = Vector512.FusedMultiplyAdd(x5, m, a);
            x6 = Vector512.FusedMultiplyAdd(x6, m, a); x7 = Vector512.FusedMultiplyAdd(x7, m, a); x8 = Vector512.FusedMultiplyAdd(x8, m, a);
            x9 = Vector512.FusedMultiplyAdd(x9, m, a); xa = Vector512.FusedMultiplyAdd(xa, m, a); xb = Vector512.FusedMultiplyAdd(xb, m, a);
        }
        return Vector512.Sum(x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9 + xa + xb);
    }

    private static float Chains256()
    {
        var m = Vector256.Create(0.999999f); var a = Vector256.Create(1e-7f);
        Vector256<float> x0 = m, x1 = m, x2 = m, x3 = m, x4 = m, x5 = m, x6 = m, x7 = m, x8 = m, x9 = m, xa = m, xb = m;
        for (int i = 0; i < 2 * Iterations; i++)
        {
            x0 = Vector256.FusedMultiplyAdd(x0, m, a); x1 = Vector256.FusedMultiplyAdd(x1, m, a); x2 = Vector256.FusedMultiplyAdd(x2, m, a);
            x3 = Vector256.FusedMultiplyAdd(x3, m, a); x4 = Vector256.FusedMultiplyAdd(x4, m, a); x5 = Vector256.FusedMultiplyAdd(x5, m, a);
            x6 = Vector256.FusedMultiplyAdd(x6, m, a); x7 = Vector256.FusedMultiplyAdd(x7, m, a); x8 = Vector256.FusedMultiplyAdd(x8, m, a);
            x9 = Vector256.FusedMultiplyAdd(x9, m, a); xa = Vector256.FusedMultiplyAdd(xa, m, a); xb = Vector256.FusedMultiplyAdd(xb, m, a);
        }
        return Vector256.Sum(x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9 + xa + xb);
    }
}
