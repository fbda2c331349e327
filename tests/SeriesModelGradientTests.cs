using GpuLstm.Runtime.Compute;
using GpuLstm.Runtime.Models;
using GpuLstm.Runtime.Models.Cells;
using Xunit;

namespace GpuLstm.Tests;

/// <summary>
/// The series model's analytic gradients (float32, on the kernels) against central finite differences of the
/// float64 reference (<see cref="StackReference.SeriesLoss"/>), for every parameter tensor: every cell, stacked
/// and bidirectional levels, dropout between levels, horizons 1 and 3, one and two features. The reference's
/// loss is first checked to be the kernels' loss.
/// </summary>
[Collection(DeviceCollection.Name)]
public sealed class SeriesModelGradientTests(TestDevices devices)
{
    private const int Hidden = 4, Steps = 5, Batch = 3;

    public static IEnumerable<object[]> Cases()
    {
        // layers, bidirectional, horizon, features, dropout
        object[][] lstmShapes = // beyond everyCell's shapes
        [
            [1, false, 1, 1, 0f],
            [1, false, 3, 2, 0f],
            [2, false, 3, 1, 0f],
            [1, true, 1, 2, 0f],
            [1, true, 3, 1, 0f],
            [2, true, 1, 1, 0f],
        ];
        object[][] everyCell =
        [
            [2, true, 3, 2, 0f],
            [2, false, 1, 1, 0.4f],
            [3, true, 2, 1, 0.3f],
        ];
        foreach (var set in new[] { TestDevices.IlgpuName, TestDevices.HostName })
        {
            foreach (var s in lstmShapes) yield return s.Prepend("lstm").Append(set).ToArray();
            foreach (var cell in CellReference.CellNames)
                foreach (var s in everyCell) yield return s.Prepend(cell).Append(set).ToArray();
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void AnalyticGradientsMatchFiniteDifferences(string cellName, int layers, bool bidirectional, int horizon, int features, float dropout, string set)
    {
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        var config = new SeriesModelConfig(Hidden, Steps, horizon, features, layers, bidirectional, dropout) { Cell = RecurrentCell.Parse(cellName) };
        // One spare batch row: the model must pack a smaller batch consistently through every buffer.
        using var model = new SeriesModel(devices[set], config, Batch + 1);
        var p = model.Parameters;
        var values = TestData.Uniform(rng, p.Count, 0.6);
        p.SetValues(values);
        var x = TestData.Uniform(rng, Steps * Batch * features);
        var targets = TestData.Uniform(rng, Batch * horizon);
        uint key = (uint)rng.Next();

        double deviceLoss = model.LossAndGradients(x, targets, Batch, key);
        var grads = p.GetGrads();

        var (threshold, scale) = Dropout.Parameters(dropout);
        double Mask(int boundary, int index) =>
            GpuLstm.Kernels.DropoutKernels.Keeps(key + (uint)boundary * 0x9E3779B9u, index, threshold) ? scale : 0;
        var theta = values.Select(v => (double)v).ToArray();
        double RefLoss(double[] th) => StackReference.SeriesLoss(model, th, x, targets, Batch, dropout > 0 ? Mask : null);
        double refLoss = RefLoss(theta);
        Assert.True(Math.Abs(refLoss - deviceLoss) <= 1e-5 * Math.Abs(refLoss), $"seed {seed}: loss {deviceLoss} vs reference {refLoss}");
        RecurrentLayerCheck.AssertParameterGradients(seed, p, theta, grads, RefLoss);
        if (dropout > 0)
        {
            // Without gradients there is no dropout: the loss is the reference's without masks.
            double eval = model.Loss(x, targets, Batch);
            double refEval = StackReference.SeriesLoss(model, theta, x, targets, Batch);
            Assert.True(Math.Abs(refEval - eval) <= 1e-5 * Math.Abs(refEval), $"seed {seed}: eval loss {eval} vs {refEval}");
        }
    }

    /// <summary>
    /// The Gaussian and quantile heads (K·M outputs, their own losses) backpropagate through the head and the
    /// stack as the MSE head does: every parameter's gradient against finite differences of the reference.
    /// </summary>
    [Theory]
    [InlineData("gaussian", TestDevices.IlgpuName)]
    [InlineData("gaussian", TestDevices.HostName)]
    [InlineData("quantile", TestDevices.IlgpuName)]
    [InlineData("quantile", TestDevices.HostName)]
    public void ProbabilisticHeadGradientsMatchFiniteDifferences(string likelihood, string set)
    {
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        const int horizon = 3;
        var head = likelihood == "gaussian" ? SeriesHead.Gaussian : SeriesHead.Quantile([0.1, 0.5, 0.75, 0.9]);
        var config = new SeriesModelConfig(Hidden, Steps, horizon, 1, 2) { Head = head };
        using var model = new SeriesModel(devices[set], config, Batch + 1);
        var p = model.Parameters;
        var values = TestData.Uniform(rng, p.Count, 0.6);
        p.SetValues(values);
        var x = TestData.Uniform(rng, Steps * Batch);
        var targets = TestData.Uniform(rng, Batch * horizon, 2);
        var theta = values.Select(v => (double)v).ToArray();
        if (head.Likelihood == SeriesLikelihood.Quantile)
        {
            // Keep every target clear of its quantile forecasts: a central difference across the pinball's kink
            // at p = y measures neither side's slope.
            var y = StackReference.SeriesPredictions(model, theta, x, Batch);
            int m = head.OutputsPerStep;
            for (int b = 0; b < Batch; b++)
                for (int j = 0; j < horizon; j++)
                    while (Enumerable.Range(0, m).Any(q => Math.Abs(y[(b * m + q) * horizon + j] - targets[b * horizon + j]) < 0.05))
                        targets[b * horizon + j] += 0.05f;
        }
        Assert.Equal(head.OutputsPerStep * horizon, model.Head.OutputSize);

        double deviceLoss = model.LossAndGradients(x, targets, Batch);
        var grads = p.GetGrads();
        double RefLoss(double[] th) => StackReference.SeriesLoss(model, th, x, targets, Batch);
        double refLoss = RefLoss(theta);
        Assert.True(Math.Abs(refLoss - deviceLoss) <= 1e-5 * Math.Abs(refLoss), $"seed {seed}: loss {deviceLoss} vs reference {refLoss}");
        RecurrentLayerCheck.AssertParameterGradients(seed, p, theta, grads, RefLoss);
        // Within a tolerance, not Assert.Equal's 5 rounded decimals: two values 1.5e-7 apart can round apart.
        double evalLoss = model.Loss(x, targets, Batch);
        Assert.True(Math.Abs(refLoss - evalLoss) <= 1e-5 * Math.Abs(refLoss), $"seed {seed}: eval loss {evalLoss} vs reference {refLoss}");
    }
}
