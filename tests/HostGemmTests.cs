using GpuLstm.Kernels;
using GpuLstm.Runtime.Compute.Host;
using Xunit;

namespace GpuLstm.Tests;

/// <summary>
/// The host GEMM's ISA variants, each forced through the constructor (Vector512 and Vector256 code runs in software
/// where the hardware lacks it, so every variant runs on every machine), against the float64 reference and against
/// each other. Shapes are odd and cross the register tiles (MR×NR: 6×16, 12×32) and, with the test's small cache
/// blocks, MC, KC and NC; the default blocks are crossed by the larger shapes (517 rows > MC, K = 600 > KC).
/// </summary>
public sealed unsafe class HostGemmTests : IDisposable
{
    public enum Layout { NN, NNBias, NNAccumulate, NNBiasAccumulate, NT, NTAccumulate, TN, TNAccumulate }

    private readonly WorkerPool _pool = new(2);

    public void Dispose() => _pool.Dispose();

    private static readonly HostIsa[] Isas = [HostIsa.Scalar, HostIsa.Avx2, HostIsa.Avx512];

    private static readonly int[][] Shapes =
    [
        [1, 1, 1], [7, 33, 5], [13, 65, 300], [64, 27, 45], [200, 129, 257], [517, 70, 600],
    ];

    public static TheoryData<string, Layout, int, int, int> IsaCases()
    {
        var data = new TheoryData<string, Layout, int, int, int>();
        foreach (var isa in Isas)
            foreach (var layout in Enum.GetValues<Layout>())
                foreach (var s in Shapes)
                    data.Add(isa.ToString(), layout, s[0], s[1], s[2]);
        return data;
    }

    [Theory]
    [MemberData(nameof(IsaCases))]
    public void EveryIsaMatchesReference(string isaName, Layout layout, int m, int n, int k)
    {
        var isa = Enum.Parse<HostIsa>(isaName);
        using var gemm = new HostGemm(_pool, isa);
        Check(gemm, layout, m, n, k, $"{isa} ");
    }

    /// <summary>
    /// Cache blocks a few tiles big (MC 2–3 row tiles, KC 37, NC 2 column tiles plus a bit), so the shapes cross every
    /// block boundary several times, with the edge tiles of each block; the default blocking gives the same bits.
    /// </summary>
    [Theory]
    [InlineData("Avx2", Layout.NNBiasAccumulate, 200, 129, 257)]
    [InlineData("Avx2", Layout.NT, 97, 70, 100)]
    [InlineData("Avx2", Layout.TNAccumulate, 131, 97, 75)]
    [InlineData("Avx512", Layout.NNBiasAccumulate, 200, 129, 257)]
    [InlineData("Avx512", Layout.NT, 97, 70, 100)]
    [InlineData("Avx512", Layout.TNAccumulate, 131, 97, 75)]
    public void SmallCacheBlocksMatchReferenceAndDefaultBlocks(string isaName, Layout layout, int m, int n, int k)
    {
        var isa = Enum.Parse<HostIsa>(isaName);
        using var small = new HostGemm(_pool, isa, HostGemm.Blocking.For(isa).WithCacheBlocks(mc: 30, kc: 37, nc: 70));
        using var standard = new HostGemm(_pool, isa);
        var (expected, actual, what) = Check(small, layout, m, n, k, $"{isa} small blocks ");
        var (_, again, _) = Check(standard, layout, m, n, k, $"{isa} ", seed: what.Seed);
        AssertSameBits(actual, again, $"{isa} small vs default blocks {layout} {m}x{n}x{k}");
        Assert.Equal(expected.Length, actual.Length);
    }

    /// <summary>
    /// The vector ISAs give the same bits as each other and as the scalar path: each element of C is one FMA chain in k
    /// order, whatever the kernel, blocking or split. The exception is NT with few rows, where the vector ISAs take
    /// the dot-product path (8 lanes summed at the end), checked only against the reference there.
    /// </summary>
    [Theory]
    [InlineData(Layout.NNBiasAccumulate, 7, 33, 5)]
    [InlineData(Layout.NNBias, 13, 65, 300)]
    [InlineData(Layout.NN, 16, 512, 128)]
    [InlineData(Layout.NT, 200, 129, 257)]
    [InlineData(Layout.NT, 13, 65, 300)]
    [InlineData(Layout.TNAccumulate, 517, 70, 600)]
    [InlineData(Layout.TN, 3, 100, 40)]
    public void IsasAgreeBitwise(Layout layout, int m, int n, int k)
    {
        var results = new List<float[]>();
        int seed = TestData.FreshSeed();
        foreach (var isa in Isas)
        {
            using var gemm = new HostGemm(_pool, isa);
            results.Add(Check(gemm, layout, m, n, k, $"{isa} ", seed).Actual);
        }
        string what = $"{layout} {m}x{n}x{k} seed {seed}";
        AssertSameBits(results[1], results[2], $"AVX2 vs AVX-512 {what}");
        bool dotProducts = layout is Layout.NT or Layout.NTAccumulate && m < HostGemm.PackedMinRows;
        if (!dotProducts) AssertSameBits(results[0], results[2], $"scalar vs AVX-512 {what}");
    }

    /// <summary>The split over threads changes which thread computes a tile, never its bits.</summary>
    [Theory]
    [InlineData("Avx2", Layout.NNBias, 517, 70, 600)]
    [InlineData("Avx512", Layout.TN, 64, 200, 700)]
    [InlineData("Avx512", Layout.NT, 300, 37, 513)]
    public void ResultsDoNotDependOnThreads(string isaName, Layout layout, int m, int n, int k)
    {
        var isa = Enum.Parse<HostIsa>(isaName);
        int seed = TestData.FreshSeed();
        using var one = new WorkerPool(1);
        using var three = new WorkerPool(3);
        using var g1 = new HostGemm(one, isa);
        using var g2 = new HostGemm(_pool, isa);
        using var g3 = new HostGemm(three, isa);
        var r1 = Check(g1, layout, m, n, k, "1 thread ", seed).Actual;
        var r2 = Check(g2, layout, m, n, k, "2 threads ", seed).Actual;
        var r3 = Check(g3, layout, m, n, k, "3 threads ", seed).Actual;
        AssertSameBits(r1, r2, $"{isa} 1 vs 2 threads {layout} {m}x{n}x{k}");
        AssertSameBits(r1, r3, $"{isa} 1 vs 3 threads {layout} {m}x{n}x{k}");
    }

    /// <summary>
    /// Operands that are views into wider matrices (row strides past K or M, as GemmShape allows) and one with no
    /// unit stride at all, which packs element by element.
    /// </summary>
    [Theory]
    [InlineData("Avx2", false, false, 3, 5)]
    [InlineData("Avx2", true, false, 0, 7)]
    [InlineData("Avx2", false, true, 9, 0)]
    [InlineData("Avx512", false, false, 3, 5)]
    [InlineData("Avx512", true, false, 0, 7)]
    [InlineData("Avx512", false, true, 9, 0)]
    [InlineData("Scalar", true, true, 1, 2)]
    public void StridedOperandsMatchReference(string isaName, bool transA, bool transB, int padA, int padB)
    {
        var isa = Enum.Parse<HostIsa>(isaName);
        const int m = 77, n = 45, k = 130;
        // A: (M,K) with rows padA apart beyond K, or stored (K,M) with rows padA beyond M; likewise B.
        int ars = transA ? 1 : k + padA, acs = transA ? m + padA : 1;
        int brs = transB ? 1 : n + padB, bcs = transB ? k + padB : 1;
        if (isa == HostIsa.Scalar) { ars = 2 * k; acs = 2; }  // no unit stride: A at even offsets
        var shape = new GemmShape(m, n, k, ars, acs, brs, bcs, accumulate: true, addBias: true);
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        var a = TestData.Uniform(rng, (m - 1) * ars + (k - 1) * acs + 1);
        var b = TestData.Uniform(rng, (k - 1) * brs + (n - 1) * bcs + 1);
        var bias = TestData.Uniform(rng, n);
        var c = TestData.Uniform(rng, m * n);
        var expected = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double acc = (double)c[i * n + j] + bias[j];
                for (int p = 0; p < k; p++) acc += (double)a[i * ars + p * acs] * b[p * brs + j * bcs];
                expected[i * n + j] = acc;
            }
        using var gemm = new HostGemm(_pool, isa);
        var actual = Run(gemm, shape, a, b, bias, c);
        TestData.AssertClose(expected, actual, 1e-5, 1e-5 * Math.Sqrt(k), $"{isa} strided A{(transA ? "ᵀ" : "")} B{(transB ? "ᵀ" : "")} seed {seed}");
    }

    [Fact]
    public void IsaRequestsAreCappedByTheHardware()
    {
        var best = HostGemm.BestIsa;
        Assert.Equal(best, HostGemm.ChooseIsa(null));
        Assert.Equal(best, HostGemm.ChooseIsa(""));
        Assert.Equal(best, HostGemm.ChooseIsa("sse9"));
        Assert.Equal(HostIsa.Scalar, HostGemm.ChooseIsa("scalar"));
        Assert.Equal(best < HostIsa.Avx2 ? best : HostIsa.Avx2, HostGemm.ChooseIsa(" AVX2 "));
        Assert.Equal(best, HostGemm.ChooseIsa("avx512") < best ? HostIsa.Scalar : best);
        Assert.Equal("avx512", HostGemm.IsaName(HostIsa.Avx512));
        Assert.Equal("avx2", HostGemm.IsaName(HostIsa.Avx2));
        Assert.Equal("scalar", HostGemm.IsaName(HostIsa.Scalar));
    }

    private static void AssertSameBits(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]))
                Assert.Fail($"{what}: element {i} is {actual[i]:R}, expected the bits of {expected[i]:R}");
    }

    private static float[] Run(HostGemm gemm, GemmShape shape, float[] a, float[] b, float[] bias, float[] cStart)
    {
        var c = (float[])cStart.Clone();
        fixed (float* pa = a, pb = b, pbias = bias, pc = c)
            gemm.Run(shape, pa, pb, shape.AddBias != 0 ? pbias : null, pc);
        return c;
    }

    private static (double[] Expected, float[] Actual, (int Seed, string Text) What) Check(HostGemm gemm, Layout layout, int m, int n, int k,
        string prefix, int seed = 0)
    {
        if (seed == 0) seed = TestData.FreshSeed();
        var rng = new Random(seed);
        bool transA = layout is Layout.TN or Layout.TNAccumulate;
        bool transB = layout is Layout.NT or Layout.NTAccumulate;
        bool accumulate = layout is Layout.NNAccumulate or Layout.NNBiasAccumulate or Layout.NTAccumulate or Layout.TNAccumulate;
        bool bias = layout is Layout.NNBias or Layout.NNBiasAccumulate;
        var a = TestData.Uniform(rng, m * k);
        var b = TestData.Uniform(rng, k * n);
        var biasData = TestData.Uniform(rng, n);
        // Without accumulation C starts as NaN, so every element must have been written.
        var cStart = accumulate ? TestData.Uniform(rng, m * n) : Enumerable.Repeat(float.NaN, m * n).ToArray();
        var shape = transA ? GemmShape.TN(m, n, k, accumulate)
            : transB ? GemmShape.NT(m, n, k, accumulate)
            : GemmShape.NN(m, n, k, accumulate, bias);
        var actual = Run(gemm, shape, a, b, biasData, cStart);
        var expected = Reference.Gemm(a, b, bias ? biasData : null, accumulate ? cStart : null, m, n, k, transA, transB);
        string text = $"{prefix}{layout} {m}x{n}x{k} seed {seed}";
        TestData.AssertClose(expected, actual, 1e-5, 1e-5 * Math.Sqrt(k), text);
        return (expected, actual, (seed, text));
    }
}
