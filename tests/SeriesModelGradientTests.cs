using GpuLstm.Runtime.Compute;
using GpuLstm.Runtime.Models;
using Xunit;

namespace GpuLstm.Tests;

/// <summary>
/// The series model's analytic gradients (float32, on the kernels) against central finite differences of the
/// float64 reference, for every parameter tensor: stacked and bidirectional levels, horizons 1 and 3, one and
/// two features. The reference's forward is first checked to be the same function as the kernels' forward.
/// </summary>
[Collection(DeviceCollection.Name)]
public sealed class SeriesModelGradientTests(TestDevices devices)
{
    private const int Hidden = 4, Steps = 5, Batch = 3;

    public static IEnumerable<object[]> Cases()
    {
        // layers, bidirectional, horizon, features
        object[][] shapes =
        [
            [1, false, 1, 1],
            [1, false, 3, 2],
            [2, false, 3, 1],
            [1, true, 1, 2],
            [1, true, 3, 1],
            [2, true, 3, 2],
            [2, true, 1, 1],
        ];
        foreach (var set in new[] { TestDevices.IlgpuName, TestDevices.HostName })
            foreach (var s in shapes) yield return s.Append(set).ToArray();
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void AnalyticGradientsMatchFiniteDifferences(int layers, bool bidirectional, int horizon, int features, string set)
    {
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        var config = new SeriesModelConfig(Hidden, Steps, horizon, features, layers, bidirectional);
        // One spare batch row: the model must pack a smaller batch consistently through every buffer.
        using var model = new SeriesModel(devices[set], config, Batch + 1);
        var p = model.Parameters;
        var values = TestData.Uniform(rng, p.Count, 0.6);
        p.SetValues(values);
        var x = TestData.Uniform(rng, Steps * Batch * features);
        var targets = TestData.Uniform(rng, Batch * horizon);

        double deviceLoss = model.LossAndGradients(x, targets, Batch);
        var grads = p.GetGrads();

        var theta = values.Select(v => (double)v).ToArray();
        double RefLoss(double[] th) => SeriesReference.Loss(Weights(model, th), x, targets, Steps, Batch, features, Hidden, horizon);
        double refLoss = RefLoss(theta);
        Assert.True(Math.Abs(refLoss - deviceLoss) <= 1e-5 * Math.Abs(refLoss), $"seed {seed}: loss {deviceLoss} vs reference {refLoss}");

        const double eps = 1e-5;
        foreach (var tensor in p.Tensors)
        {
            for (int i = tensor.Offset; i < tensor.Offset + tensor.Length; i++)
            {
                double saved = theta[i];
                theta[i] = saved + eps; double up = RefLoss(theta);
                theta[i] = saved - eps; double down = RefLoss(theta);
                theta[i] = saved;
                double numeric = (up - down) / (2 * eps);
                double error = Math.Abs(numeric - grads[i]) / (1e-4 + Math.Abs(numeric));
                Assert.True(error < 2e-3, $"seed {seed}: {tensor.Name}[{i - tensor.Offset}]: analytic {grads[i]:G6}, numeric {numeric:G6}");
            }
        }
    }

    /// <summary>The reference weights for parameter values theta, sliced by the model's own tensors.</summary>
    internal static SeriesReference.Weights Weights(SeriesModel model, double[] theta)
    {
        Reference.LstmWeights Layer(IRecurrentLayer layer)
        {
            var lstm = (LstmLayer)layer;
            return new Reference.LstmWeights(Slice(theta, lstm.InputWeights), Slice(theta, lstm.RecurrentWeights), Slice(theta, lstm.Bias), lstm.InputSize);
        }
        return new SeriesReference.Weights(
            model.ForwardLayers.Select(Layer).ToArray(),
            model.Config.Bidirectional ? model.ReverseLayers.Select(Layer).ToArray() : null,
            Slice(theta, model.Head.Weights), Slice(theta, model.Head.Bias));
    }

    private static double[] Slice(double[] all, ParameterTensor t) => all.AsSpan(t.Offset, t.Length).ToArray();
}
