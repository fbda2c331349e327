using GpuLstm.Kernels;
using Xunit;

namespace GpuLstm.Tests;

/// <summary>
/// The probabilistic heads' fused losses (Gaussian NLL, pinball) against float64 references and finite
/// differences, on every kernel set, at odd shapes and with the gradient written over the predictions.
/// </summary>
[Collection(DeviceCollection.Name)]
public sealed class LikelihoodLossKernelTests(TestDevices devices)
{
    // rows, horizon K, in place
    public static IEnumerable<object[]> GaussianCases => TestDevices.WithKernelSets(
        [1, 1, false], [5, 3, true], [13, 7, false], [33, 1, true], [3, 17, false]);

    // rows, horizon K, quantile levels Q, in place
    public static IEnumerable<object[]> PinballCases => TestDevices.WithKernelSets(
        [1, 1, 1, false], [5, 3, 3, true], [13, 7, 5, false], [33, 1, 9, true], [3, 17, 2, false]);

    /// <summary>Means and targets in ±3, raw scales in ±4: σ from about 0.02 (steep NLL) to 4.</summary>
    private static (float[] Predictions, float[] Targets) GaussianInputs(Random rng, int rows, int horizon)
    {
        var predictions = new float[rows * 2 * horizon];
        for (int r = 0; r < rows; r++)
            for (int k = 0; k < horizon; k++)
            {
                predictions[r * 2 * horizon + k] = (float)(rng.NextDouble() * 6 - 3);
                predictions[r * 2 * horizon + horizon + k] = (float)(rng.NextDouble() * 8 - 4);
            }
        return (predictions, TestData.Uniform(rng, rows * horizon, 3));
    }

    /// <summary>Q distinct sorted levels in (0.02, 0.98).</summary>
    private static float[] Levels(Random rng, int count) =>
        Enumerable.Range(0, count).Select(i => (float)(0.02 + 0.96 * (i + 0.2 + 0.6 * rng.NextDouble()) / count)).ToArray();

    [Theory]
    [MemberData(nameof(GaussianCases))]
    public void GaussianNllMatchesReference(string set, int rows, int horizon, bool inPlace)
    {
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        var acc = devices[set].Accelerator;
        var (predictions, targets) = GaussianInputs(rng, rows, horizon);
        using var predBuf = TestData.Upload(acc, predictions);
        using var targetBuf = TestData.Upload(acc, targets);
        using var dBuf = TestData.Poisoned(acc, predictions.Length);
        using var lossBuf = TestData.Poisoned(acc, rows);
        float scale = 1f / rows;
        devices[set].Kernels.GaussianNll(rows, horizon, predBuf.View, targetBuf.View, inPlace ? predBuf.View : dBuf.View, lossBuf.View, scale);
        devices[set].Kernels.Synchronize();
        var (loss, d) = Reference.GaussianNll(predictions, targets, rows, horizon, scale);
        // z² reaches ~10⁴ at σ 0.02: float32's relative error there, not an absolute one, bounds the loss.
        // A row's loss sums log σ (negative for σ < 1) and z²/2 terms, and d/draw carries (1 − z²): both cancel, so
        // float32's rounding is relative to the terms, not to the result. 1e-4 still catches any wrong formula
        // (errors of order 1); 2e-5 failed once in ~thousands of fresh seeds (4e-5 on a cancelling row).
        TestData.AssertClose(loss, lossBuf.GetAsArray1D(), 1e-4, 1e-5 * horizon, $"loss seed {seed}");
        TestData.AssertClose(d, (inPlace ? predBuf : dBuf).GetAsArray1D(), 1e-4, 1e-6, $"dPred seed {seed}");
        TestData.AssertClose(targets.Select(v => (double)v).ToArray(), targetBuf.GetAsArray1D(), 0, 0, $"targets seed {seed}");
    }

    [Theory]
    [MemberData(nameof(GaussianCases))]
    public void GaussianGradientIsTheDerivativeOfTheScaledMeanLoss(string set, int rows, int horizon, bool inPlace)
    {
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        var acc = devices[set].Accelerator;
        var (predictions, targets) = GaussianInputs(rng, rows, horizon);
        using var predBuf = TestData.Upload(acc, predictions);
        using var targetBuf = TestData.Upload(acc, targets);
        using var dBuf = TestData.Poisoned(acc, predictions.Length);
        using var lossBuf = TestData.Poisoned(acc, rows);
        devices[set].Kernels.GaussianNll(rows, horizon, predBuf.View, targetBuf.View, inPlace ? predBuf.View : dBuf.View, lossBuf.View, 1f / rows);
        devices[set].Kernels.Synchronize();
        var d = (inPlace ? predBuf : dBuf).GetAsArray1D();
        var p = predictions.Select(v => (double)v).ToArray();
        double Mean()
        {
            double total = 0;
            for (int r = 0; r < rows; r++)
                for (int k = 0; k < horizon; k++)
                {
                    double mu = p[r * 2 * horizon + k], sigma = Reference.GaussianScale(p[r * 2 * horizon + horizon + k]);
                    double z = (targets[r * horizon + k] - mu) / sigma;
                    total += Math.Log(sigma) + 0.5 * z * z + 0.5 * Math.Log(2 * Math.PI);
                }
            return total / (rows * horizon);
        }
        AssertFiniteDifferences(p, d, Mean, $"seed {seed}");
    }

    /// <summary>Raw scales far past float's exp range: σ stays finite and at least the floor, and so do the loss and gradients.</summary>
    [Theory]
    [MemberData(nameof(Sets))]
    public void GaussianStaysFiniteAtExtremeRawScales(string set)
    {
        var acc = devices[set].Accelerator;
        float[] predictions = [0.5f, -0.5f, 0f, 1f, -200f, 200f, -90f, 90f]; // K 4: means, then raw scales
        float[] targets = [0.5f, 3f, -1f, 1f];
        using var predBuf = TestData.Upload(acc, predictions);
        using var targetBuf = TestData.Upload(acc, targets);
        using var dBuf = TestData.Poisoned(acc, 8);
        using var lossBuf = TestData.Poisoned(acc, 1);
        devices[set].Kernels.GaussianNll(1, 4, predBuf.View, targetBuf.View, dBuf.View, lossBuf.View, 1f);
        devices[set].Kernels.Synchronize();
        var (loss, d) = Reference.GaussianNll(predictions, targets, 1, 4, 1);
        Assert.All(dBuf.GetAsArray1D(), v => Assert.True(float.IsFinite(v), $"gradient {v}"));
        Assert.True(float.IsFinite(lossBuf.GetAsArray1D()[0]));
        TestData.AssertClose(loss, lossBuf.GetAsArray1D(), 1e-5, 1e-4, "loss");
        TestData.AssertClose(d, dBuf.GetAsArray1D(), 1e-5, 1e-6, "dPred");
        Assert.Equal(LossKernels.GaussianScaleFloor, LossKernels.GaussianScale(-200f));
        Assert.Equal(200f + LossKernels.GaussianScaleFloor, LossKernels.GaussianScale(200f), 4);
    }

    public static IEnumerable<object[]> Sets => TestDevices.WithKernelSets(Array.Empty<object>());

    [Theory]
    [MemberData(nameof(PinballCases))]
    public void PinballMatchesReference(string set, int rows, int horizon, int quantileCount, bool inPlace)
    {
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        var acc = devices[set].Accelerator;
        var predictions = TestData.Uniform(rng, rows * quantileCount * horizon, 3);
        var targets = TestData.Uniform(rng, rows * horizon, 3);
        var levels = Levels(rng, quantileCount);
        // Some forecasts exactly on their target: the subgradient there is 1 − τ on both sets and the reference.
        for (int r = 0; r < rows; r += 2) predictions[r * quantileCount * horizon] = targets[r * horizon];
        using var predBuf = TestData.Upload(acc, predictions);
        using var targetBuf = TestData.Upload(acc, targets);
        using var levelBuf = TestData.Upload(acc, levels);
        using var dBuf = TestData.Poisoned(acc, predictions.Length);
        using var lossBuf = TestData.Poisoned(acc, rows);
        float scale = 1f / rows;
        devices[set].Kernels.Pinball(rows, horizon, quantileCount, predBuf.View, targetBuf.View, levelBuf.View,
            inPlace ? predBuf.View : dBuf.View, lossBuf.View, scale);
        devices[set].Kernels.Synchronize();
        var (loss, d) = Reference.Pinball(predictions, targets, levels, rows, horizon, scale);
        TestData.AssertClose(loss, lossBuf.GetAsArray1D(), 1e-5, 1e-6, $"loss seed {seed}");
        TestData.AssertClose(d, (inPlace ? predBuf : dBuf).GetAsArray1D(), 1e-5, 1e-7, $"dPred seed {seed}");
        TestData.AssertClose(levels.Select(v => (double)v).ToArray(), levelBuf.GetAsArray1D(), 0, 0, $"levels seed {seed}");
    }

    [Theory]
    [MemberData(nameof(PinballCases))]
    public void PinballGradientIsTheDerivativeOfTheScaledMeanLoss(string set, int rows, int horizon, int quantileCount, bool inPlace)
    {
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        var acc = devices[set].Accelerator;
        var predictions = TestData.Uniform(rng, rows * quantileCount * horizon, 3);
        var targets = TestData.Uniform(rng, rows * horizon, 3);
        var levels = Levels(rng, quantileCount);
        // Away from the kink at p = y, where a central difference straddles two slopes.
        int n = quantileCount * horizon;
        for (int r = 0; r < rows; r++)
            for (int i = 0; i < n; i++)
            {
                ref float pred = ref predictions[r * n + i];
                float y = targets[r * horizon + i % horizon];
                if (Math.Abs(pred - y) < 1e-3f) pred = y + 0.01f;
            }
        using var predBuf = TestData.Upload(acc, predictions);
        using var targetBuf = TestData.Upload(acc, targets);
        using var levelBuf = TestData.Upload(acc, levels);
        using var dBuf = TestData.Poisoned(acc, predictions.Length);
        using var lossBuf = TestData.Poisoned(acc, rows);
        devices[set].Kernels.Pinball(rows, horizon, quantileCount, predBuf.View, targetBuf.View, levelBuf.View,
            inPlace ? predBuf.View : dBuf.View, lossBuf.View, 1f / rows);
        devices[set].Kernels.Synchronize();
        var d = (inPlace ? predBuf : dBuf).GetAsArray1D();
        var p = predictions.Select(v => (double)v).ToArray();
        double Mean()
        {
            double total = 0;
            for (int r = 0; r < rows; r++)
                for (int i = 0; i < n; i++)
                {
                    double u = targets[r * horizon + i % horizon] - p[r * n + i], tau = levels[i / horizon];
                    total += Math.Max(tau * u, (tau - 1) * u);
                }
            return total / (rows * n);
        }
        AssertFiniteDifferences(p, d, Mean, $"seed {seed}");
    }

    /// <summary>
    /// What the pinball loss is for: over many targets, its gradient wrt a constant forecast vanishes at the
    /// targets' τ-quantile and pushes toward it from either side, so a head trained on it learns quantiles.
    /// </summary>
    [Theory]
    [MemberData(nameof(Sets))]
    public void PinballGradientPointsToTheEmpiricalQuantile(string set)
    {
        var acc = devices[set].Accelerator;
        const int rows = 1000;
        var targets = Enumerable.Range(0, rows).Select(i => (float)i).ToArray(); // 0..999: the 0.1-quantile is ~100
        float[] levels = [0.1f];
        float Slope(float forecast)
        {
            using var predBuf = TestData.Upload(acc, Enumerable.Repeat(forecast, rows).ToArray());
            using var targetBuf = TestData.Upload(acc, targets);
            using var levelBuf = TestData.Upload(acc, levels);
            using var dBuf = TestData.Poisoned(acc, rows);
            using var lossBuf = TestData.Poisoned(acc, rows);
            devices[set].Kernels.Pinball(rows, 1, 1, predBuf.View, targetBuf.View, levelBuf.View, dBuf.View, lossBuf.View, 1f / rows);
            devices[set].Kernels.Synchronize();
            return dBuf.GetAsArray1D().Sum();
        }
        Assert.True(Slope(50.5f) < -0.04f, "below the quantile the loss must fall as the forecast rises");
        Assert.True(Slope(150.5f) > 0.04f, "above the quantile it must rise");
        Assert.True(Math.Abs(Slope(99.5f)) < 0.002f, "at the quantile the slope is ~0");
    }

    private static void AssertFiniteDifferences(double[] p, float[] analytic, Func<double> mean, string what)
    {
        const double eps = 1e-6;
        for (int i = 0; i < p.Length; i++)
        {
            double saved = p[i];
            p[i] = saved + eps; double up = mean();
            p[i] = saved - eps; double down = mean();
            p[i] = saved;
            double numeric = (up - down) / (2 * eps);
            Assert.True(Math.Abs(numeric - analytic[i]) <= 1e-5 + 1e-4 * Math.Abs(numeric),
                $"{what}: element {i}: analytic {analytic[i]:G6}, numeric {numeric:G6}");
        }
    }
}
