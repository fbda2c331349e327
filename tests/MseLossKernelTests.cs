using Xunit;

namespace GpuLstm.Tests;

/// <summary>The fused mean-squared-error kernel against a float64 reference, on every kernel set.</summary>
[Collection(DeviceCollection.Name)]
public sealed class MseLossKernelTests(TestDevices devices)
{
    public static IEnumerable<object[]> Cases => TestDevices.WithKernelSets(
        [1, 1, false], [5, 3, false], [7, 1, true], [13, 9, true], [33, 17, false], [3, 65, true]);

    [Theory]
    [MemberData(nameof(Cases))]
    public void MeanSquaredErrorMatchesReference(string set, int rows, int columns, bool inPlace)
    {
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        var acc = devices[set].Accelerator;
        var predictions = TestData.Uniform(rng, rows * columns, 3);
        var targets = TestData.Uniform(rng, rows * columns, 3);
        using var predBuf = TestData.Upload(acc, predictions);
        using var targetBuf = TestData.Upload(acc, targets);
        using var dBuf = TestData.Poisoned(acc, rows * columns);
        using var lossBuf = TestData.Poisoned(acc, rows);
        float scale = 1f / rows;
        var dView = inPlace ? predBuf.View : dBuf.View;
        devices[set].Kernels.MeanSquaredError(rows, columns, predBuf.View, targetBuf.View, dView, lossBuf.View, scale);
        devices[set].Kernels.Synchronize();
        var (loss, d) = Reference.MeanSquaredError(predictions, targets, rows, columns, scale);
        TestData.AssertClose(loss, lossBuf.GetAsArray1D(), 1e-5, 1e-6, $"loss seed {seed}");
        TestData.AssertClose(d, (inPlace ? predBuf : dBuf).GetAsArray1D(), 1e-5, 1e-7, $"dPred seed {seed}");
        // Targets are read-only.
        TestData.AssertClose(targets.Select(v => (double)v).ToArray(), targetBuf.GetAsArray1D(), 0, 0, $"targets seed {seed}");
    }

    /// <summary>The gradient is the derivative of the scaled mean loss: a finite difference of the reference agrees.</summary>
    [Theory]
    [MemberData(nameof(Cases))]
    public void GradientIsTheDerivativeOfTheScaledMeanLoss(string set, int rows, int columns, bool inPlace)
    {
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        var acc = devices[set].Accelerator;
        var predictions = TestData.Uniform(rng, rows * columns);
        var targets = TestData.Uniform(rng, rows * columns);
        using var predBuf = TestData.Upload(acc, predictions);
        using var targetBuf = TestData.Upload(acc, targets);
        using var dBuf = TestData.Poisoned(acc, rows * columns);
        using var lossBuf = TestData.Poisoned(acc, rows);
        devices[set].Kernels.MeanSquaredError(rows, columns, predBuf.View, targetBuf.View, inPlace ? predBuf.View : dBuf.View, lossBuf.View, 1f / rows);
        devices[set].Kernels.Synchronize();
        var d = (inPlace ? predBuf : dBuf).GetAsArray1D();
        var p = predictions.Select(v => (double)v).ToArray();
        double Mean()
        {
            double total = 0;
            for (int i = 0; i < p.Length; i++) total += (p[i] - targets[i]) * (p[i] - targets[i]);
            return total / (rows * columns);
        }
        const double eps = 1e-6;
        for (int i = 0; i < p.Length; i++)
        {
            double saved = p[i];
            p[i] = saved + eps; double up = Mean();
            p[i] = saved - eps; double down = Mean();
            p[i] = saved;
            double numeric = (up - down) / (2 * eps);
            Assert.True(Math.Abs(numeric - d[i]) <= 1e-5 + 1e-4 * Math.Abs(numeric), $"seed {seed}: element {i}: analytic {d[i]:G6}, numeric {numeric:G6}");
        }
    }
}
