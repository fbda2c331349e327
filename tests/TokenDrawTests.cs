using GpuLstm.Runtime.Compute.Host;
using GpuLstm.Runtime.Sampling;
using System.Runtime.Intrinsics;
using Xunit;

namespace GpuLstm.Tests;

/// <summary>
/// The sampler's vectorized draw (<see cref="TokenDraw"/>) against the notebook's sample() in float64: the weights
/// exp(log(softmax + 1e-8)/T) renormalized, with top-k zeroing before the ε, at odd vocabulary sizes (below one
/// vector, mid-vector, a word vocabulary's); its draws' frequencies; the partial selection against a sort; the
/// argmax; and <see cref="HostMath.Log"/> against Math.Log.
/// </summary>
public sealed class TokenDrawTests
{
    /// <summary>The notebook's sample(), in float64: p = softmax(logits); top-k zeroes p below the k-th; weights ∝ exp(log(p + 1e-8)/T).</summary>
    private static double[] Reference(float[] logits, double temperature, int topK)
    {
        double max = logits.Max();
        var p = logits.Select(l => Math.Exp(l - max)).ToArray();
        double sum = p.Sum();
        for (int i = 0; i < p.Length; i++) p[i] /= sum;
        if (topK > 0 && topK < p.Length)
        {
            double kth = p.OrderByDescending(v => v).ElementAt(topK - 1);
            for (int i = 0; i < p.Length; i++) if (p[i] < kth) p[i] = 0;
        }
        var w = p.Select(v => Math.Log(v + 1e-8) / temperature).ToArray();
        double wMax = w.Max();
        var q = w.Select(v => Math.Exp(v - wMax)).ToArray();
        double total = q.Sum();
        return q.Select(v => v / total).ToArray();
    }

    [Theory]
    [InlineData(3, 1.0, 0)]
    [InlineData(27, 0.5, 0)]
    [InlineData(27, 1.5, 0)]
    [InlineData(65, 1.0, 5)]
    [InlineData(10_007, 1.0, 0)]
    [InlineData(10_007, 0.7, 40)]
    [InlineData(50_001, 1.3, 0)]
    public void WeightsMatchTheNotebooksSampleInFloat64(int vocab, double temperature, int topK)
    {
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        var logits = TestData.Uniform(rng, vocab, 8);
        var weights = new float[vocab];
        TokenDraw.Weights(logits, temperature, topK, weights, new float[vocab]);
        double total = weights.Sum(w => (double)w);
        var expected = Reference(logits, temperature, topK);
        for (int i = 0; i < vocab; i++)
        {
            double got = weights[i] / total;
            Assert.True(Math.Abs(got - expected[i]) <= 2e-5 * expected[i] + 1e-12,
                $"token {i}: {got:G9}, float64 reference {expected[i]:G9} (V {vocab}, T {temperature}, top-k {topK}, seed {seed})");
        }
    }

    /// <summary>20,000 draws from a fixed seed land in proportion to the reference probabilities (within 4 standard deviations).</summary>
    [Theory]
    [InlineData(7, 0.8, 0)]
    [InlineData(7, 1.0, 3)]
    [InlineData(37, 1.0, 0)]      // blocks of 8 and a tail of 5
    [InlineData(37, 1.4, 10)]
    public void DrawsFollowTheWeights(int vocab, double temperature, int topK)
    {
        float[] logits = vocab == 7 ? [0.5f, 2f, -1f, 1.2f, 0f, 1.9f, -3f]
            : Enumerable.Range(0, vocab).Select(i => (float)(2 * Math.Sin(1.7 * i))).ToArray();
        var expected = Reference(logits, temperature, topK);
        var counts = new int[logits.Length];
        var rng = new GpuLstm.Runtime.Rng(11);
        var weights = new float[logits.Length];
        var selection = new float[logits.Length];
        const int draws = 20_000;
        for (int d = 0; d < draws; d++) counts[TokenDraw.Draw(logits, temperature, topK, rng, weights, selection)]++;
        for (int i = 0; i < logits.Length; i++)
        {
            double mean = draws * expected[i], sd = Math.Sqrt(draws * expected[i] * (1 - expected[i]));
            Assert.True(Math.Abs(counts[i] - mean) <= 4 * sd + 1, $"token {i}: {counts[i]} draws, expected {mean:F0} ± {sd:F0}");
        }
    }

    [Fact]
    public void KthLargestIsTheSortsKth()
    {
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        foreach (int n in new[] { 1, 2, 7, 100, 1001 })
        {
            // Few distinct values, so ties and equal pivots are common.
            var values = Enumerable.Range(0, n).Select(_ => (float)rng.Next(n / 3 + 1)).ToArray();
            var sorted = values.OrderByDescending(v => v).ToArray();
            foreach (int k in new[] { 1, 2, n / 2 + 1, n }.Where(k => k >= 1 && k <= n).Distinct())
                Assert.True(sorted[k - 1] == TokenDraw.KthLargest(values, k, new float[n]), $"n {n} k {k} seed {seed}");
        }
    }

    [Fact]
    public void ArgMaxIsTheFirstOfEqualMaxima()
    {
        Assert.Equal(1, TokenDraw.ArgMax([0f, 3f, 1f, 3f]));
        Assert.Equal(0, TokenDraw.ArgMax([-1f]));
    }

    [Fact]
    public void HostLogMatchesMathLog()
    {
        var rng = new Random(3);
        var xs = Enumerable.Range(0, 4000).Select(i => (float)Math.Exp(rng.NextDouble() * 170 - 85))
            .Concat([1f, 0.70710677f, 0.7071068f, 1.4142135f, 2f, 1e-8f, 3.4e38f]).ToArray();
        foreach (float x in xs)
        {
            float got = HostMath.Log(Vector256.Create(x)).ToScalar();
            double expected = Math.Log(x);
            Assert.True(Math.Abs(got - expected) <= 3e-7 * Math.Max(1, Math.Abs(expected)), $"log {x:R} = {got:R}, float64 {expected:R}");
        }
        Assert.Equal(MathF.Log(1.17549435e-38f), HostMath.Log(Vector256.Create(0f)).ToScalar(), 1e-4f);
    }
}
