using System.Runtime.InteropServices;
using GpuLstm.Kernels;
using GpuLstm.Runtime.Compute.Host;
using Xunit;

namespace GpuLstm.Tests;

/// <summary>
/// <see cref="HostGemv"/>, the few-row products of sampling at batch 1: against a float64 reference and bitwise
/// against <see cref="HostGemm"/> (the path every other product takes, so a model samples what it trains with),
/// at 1–3 rows, column counts that end mid-vector and mid-cache-line, odd K (the four-row stream ends in a
/// remainder), with bias, accumulation and a transposed A, with 1–3 threads, in AVX2 and AVX-512 registers (the AVX-512 ones
/// run in software where the CPU lacks them), and at sizes big enough to split the columns over the threads.
/// </summary>
public sealed unsafe class HostGemvTests
{
    public static IEnumerable<object[]> Cases() =>
        from m in new[] { 1, 2, 3 }
        from shape in new[] { (N: 37, K: 5), (N: 2053, K: 67), (N: 4111, K: 33), (N: 16, K: 1) }
        from kind in new[] { "plain", "bias", "accumulate", "transposed A" }
        from threads in new[] { 1, 2, 3 }
        from wide in new[] { false, true }
        select new object[] { m, shape.N, shape.K, kind, threads, wide };

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesReferenceAndTheBlockedGemmBitwise(int m, int n, int k, string kind, int threads, bool wide)
    {
        var shape = kind == "transposed A" ? GemmShape.TN(m, n, k) : GemmShape.NN(m, n, k, accumulate: kind == "accumulate", addBias: kind == "bias");
        Assert.True(HostGemv.Takes(shape));
        var rng = new Random(m * 1000 + n + k);
        float[] a = TestData.Uniform(rng, m * k), b = TestData.Uniform(rng, k * n), bias = TestData.Uniform(rng, n),
            c0 = TestData.Uniform(rng, m * n);
        float[] viaGemv = (float[])c0.Clone(), viaGemm = (float[])c0.Clone();
        using (var pool = new WorkerPool(threads))
        {
            var gemv = new HostGemv(pool, wide);
            using var gemm = new HostGemm(pool);
            fixed (float* pa = a, pb = b, pbias = bias, pv = viaGemv, pg = viaGemm)
            {
                gemv.Run(shape, pa, pb, pbias, pv);
                gemm.Run(shape, pa, pb, pbias, pg);
            }
        }
        for (int r = 0; r < m; r++)
            for (int j = 0; j < n; j++)
            {
                double expected = (kind == "accumulate" ? c0[r * n + j] : 0) + (kind == "bias" ? bias[j] : 0);
                for (int p = 0; p < k; p++) expected += (double)(kind == "transposed A" ? a[p * m + r] : a[r * k + p]) * b[p * n + j];
                Assert.True(Math.Abs(viaGemv[r * n + j] - expected) <= 1e-5 * (1 + Math.Abs(expected)),
                    $"C[{r},{j}] = {viaGemv[r * n + j]}, float64 reference {expected}");
            }
        Assert.Equal(MemoryMarshal.AsBytes(viaGemm.AsSpan()).ToArray(), MemoryMarshal.AsBytes(viaGemv.AsSpan()).ToArray());
    }

    [Fact]
    public void TakesOnlyFewRowProductsWithContiguousRowsOfB()
    {
        Assert.True(HostGemv.Takes(GemmShape.NN(3, 2048, 512)));
        Assert.False(HostGemv.Takes(GemmShape.NN(HostGemv.MaxRows, 2048, 512)));
        Assert.False(HostGemv.Takes(GemmShape.NT(1, 2048, 512)));   // B's rows are columns of the stored matrix
        Assert.True(HostGemv.Takes(GemmShape.TN(1, 2048, 512)));    // Aᵀ of one row: A strided, B contiguous
    }
}
