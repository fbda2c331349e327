using GpuLstm.Runtime.Data;
using GpuLstm.Runtime.Compute;
using GpuLstm.Runtime.Models;
using Xunit;

namespace GpuLstm.Tests;

/// <summary>
/// The model's analytic gradients (float32, on the kernels) against central finite differences of the
/// float64 reference model, for every parameter tensor. The reference's forward is first checked to be
/// the same function as the kernels' forward.
/// </summary>
[Collection(DeviceCollection.Name)]
public sealed class GradientCheckTests(TestDevices devices)
{
    private const int Vocab = 7, Hidden = 5, Steps = 6, Batch = 3;

    [Theory]
    [InlineData(LossPositions.Last, 1, TestDevices.IlgpuName)]
    [InlineData(LossPositions.All, 1, TestDevices.IlgpuName)]
    [InlineData(LossPositions.Last, 2, TestDevices.IlgpuName)]
    [InlineData(LossPositions.All, 3, TestDevices.IlgpuName)]
    [InlineData(LossPositions.Last, 1, TestDevices.TiledName)]
    [InlineData(LossPositions.Last, 1, TestDevices.HostName)]
    [InlineData(LossPositions.All, 1, TestDevices.HostName)]
    [InlineData(LossPositions.Last, 2, TestDevices.HostName)]
    [InlineData(LossPositions.All, 2, TestDevices.HostName)]
    public void AnalyticGradientsMatchFiniteDifferences(LossPositions positions, int layers, string set)
    {
        var device = devices[set];
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        using var model = new LanguageModel(device, new LanguageModelConfig(Vocab, Hidden, Steps, positions, layers), Batch);
        var p = model.Parameters;
        var values = TestData.Uniform(rng, p.Count, 0.6);
        p.SetValues(values);
        var batch = new TokenBatch(Steps, Batch) { Steps = Steps, Size = Batch };
        for (int i = 0; i < Steps * Batch; i++) { batch.Inputs[i] = rng.Next(Vocab); batch.Targets[i] = rng.Next(Vocab); }

        double deviceLoss = model.LossAndGradients(batch);
        var grads = p.GetGrads();

        var theta = values.Select(v => (double)v).ToArray();
        double RefLoss(double[] th) => Reference.ModelLoss(
            model.Layers.Cast<LstmLayer>().Select(l => new Reference.LstmWeights(Slice(th, l.InputWeights), Slice(th, l.RecurrentWeights), Slice(th, l.Bias), l.InputSize)).ToArray(),
            Slice(th, model.Dense.Weights), Slice(th, model.Dense.Bias),
            batch.Inputs, batch.Targets, Steps, Batch, Vocab, Hidden, positions == LossPositions.All);
        double refLoss = RefLoss(theta);
        Assert.True(Math.Abs(refLoss - deviceLoss) <= 1e-5 * Math.Abs(refLoss), $"seed {seed}: loss {deviceLoss} vs reference {refLoss}");

        const double eps = 1e-5;
        foreach (var tensor in p.Tensors)
        {
            double worst = 0;
            for (int i = tensor.Offset; i < tensor.Offset + tensor.Length; i++)
            {
                double saved = theta[i];
                theta[i] = saved + eps; double up = RefLoss(theta);
                theta[i] = saved - eps; double down = RefLoss(theta);
                theta[i] = saved;
                double numeric = (up - down) / (2 * eps);
                double error = Math.Abs(numeric - grads[i]) / (1e-4 + Math.Abs(numeric));
                worst = Math.Max(worst, error);
                Assert.True(error < 2e-3, $"seed {seed}: {tensor.Name}[{i - tensor.Offset}]: analytic {grads[i]:G6}, numeric {numeric:G6}");
            }
            Assert.True(worst < 2e-3, tensor.Name);
        }
    }

    private static double[] Slice(double[] all, ParameterTensor t) => all.AsSpan(t.Offset, t.Length).ToArray();

    [Fact]
    public void GradientNormIsTheL2NormOfAllGradients()
    {
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        using var model = new LanguageModel(devices.Cpu, new LanguageModelConfig(Vocab, Hidden, Steps), Batch);
        model.Parameters.SetValues(TestData.Uniform(rng, model.Parameters.Count, 0.5));
        var batch = new TokenBatch(Steps, Batch) { Steps = Steps, Size = Batch };
        for (int i = 0; i < Steps * Batch; i++) { batch.Inputs[i] = rng.Next(Vocab); batch.Targets[i] = rng.Next(Vocab); }
        model.LossAndGradients(batch);
        double expected = Math.Sqrt(model.Parameters.GetGrads().Sum(g => (double)g * g));
        Assert.True(Math.Abs(model.GradientNorm() - expected) <= 1e-5 * expected, $"seed {seed}");
    }
}

/// <summary>
/// The embedding and dropout paths through the whole model: analytic gradients against finite differences
/// of the float64 reference, which applies the same hashed dropout masks.
/// </summary>
[Collection(DeviceCollection.Name)]
public sealed class EmbeddingDropoutGradientTests(TestDevices devices)
{
    private const int Vocab = 7, Hidden = 5, Steps = 5, Batch = 3, Embed = 4;

    [Theory]
    [InlineData(1, 0f, LossPositions.All, TestDevices.IlgpuName)]
    [InlineData(2, 0.3f, LossPositions.All, TestDevices.IlgpuName)]
    [InlineData(3, 0.5f, LossPositions.Last, TestDevices.IlgpuName)]
    [InlineData(1, 0f, LossPositions.Last, TestDevices.HostName)]
    [InlineData(2, 0.3f, LossPositions.All, TestDevices.HostName)]
    public void AnalyticGradientsMatchFiniteDifferences(int layers, float dropout, LossPositions positions, string set)
    {
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        using var model = new LanguageModel(devices[set], new LanguageModelConfig(Vocab, Hidden, Steps, positions, layers, Embed, dropout), Batch);
        var p = model.Parameters;
        var values = TestData.Uniform(rng, p.Count, 0.6);
        p.SetValues(values);
        var batch = new TokenBatch(Steps, Batch) { Steps = Steps, Size = Batch };
        for (int i = 0; i < Steps * Batch; i++) { batch.Inputs[i] = rng.Next(Vocab); batch.Targets[i] = rng.Next(Vocab); }
        uint key = (uint)rng.Next();
        double deviceLoss = model.LossAndGradients(batch, dropoutKey: key);
        var grads = p.GetGrads();

        var (threshold, scale) = Dropout.Parameters(dropout);
        int dropped = 0;
        double Mask(int boundary, int index)
        {
            bool keep = GpuLstm.Kernels.DropoutKernels.Keeps(key + (uint)boundary * 0x9E3779B9u, index, threshold);
            return keep ? scale : 0;
        }
        for (int i = 0; i < Steps * Batch * Hidden && layers > 1; i++) if (Mask(0, i) == 0) dropped++;
        if (dropout > 0) Assert.InRange(dropped, 1, Steps * Batch * Hidden - 1); // the masks really drop something

        var theta = values.Select(v => (double)v).ToArray();
        double RefLoss(double[] th) => Reference.ModelLoss(
            model.Layers.Cast<LstmLayer>().Select(l => new Reference.LstmWeights(Slice(th, l.InputWeights), Slice(th, l.RecurrentWeights), Slice(th, l.Bias), l.InputSize)).ToArray(),
            Slice(th, model.Dense.Weights), Slice(th, model.Dense.Bias),
            batch.Inputs, batch.Targets, Steps, Batch, Vocab, Hidden, positions == LossPositions.All,
            Slice(th, model.Embedding!), Embed, dropout > 0 ? Mask : null);
        double refLoss = RefLoss(theta);
        Assert.True(Math.Abs(refLoss - deviceLoss) <= 1e-5 * Math.Abs(refLoss), $"seed {seed}: loss {deviceLoss} vs reference {refLoss}");

        RecurrentLayerCheck.AssertParameterGradients(seed, p, theta, grads, RefLoss);

        // Evaluation (Loss) never drops out: it equals the reference without masks.
        double evalLoss = model.Loss(batch);
        double refEval = Reference.ModelLoss(
            model.Layers.Cast<LstmLayer>().Select(l => new Reference.LstmWeights(Slice(theta, l.InputWeights), Slice(theta, l.RecurrentWeights), Slice(theta, l.Bias), l.InputSize)).ToArray(),
            Slice(theta, model.Dense.Weights), Slice(theta, model.Dense.Bias),
            batch.Inputs, batch.Targets, Steps, Batch, Vocab, Hidden, positions == LossPositions.All, Slice(theta, model.Embedding!), Embed);
        Assert.True(Math.Abs(refEval - evalLoss) <= 1e-5 * Math.Abs(refEval), $"seed {seed}: eval loss {evalLoss} vs {refEval}");
    }

    private static double[] Slice(double[] all, ParameterTensor t) => all.AsSpan(t.Offset, t.Length).ToArray();
}

/// <summary>The GRU text model end to end: embedding → stacked GRU layers → Dense, against a float64 reference built from GruReference's layer.</summary>
[Collection(DeviceCollection.Name)]
public sealed class GruModelGradientTests(TestDevices devices)
{
    private const int Vocab = 6, Hidden = 4, Steps = 5, Batch = 2;

    [Theory]
    [InlineData(1, 0, TestDevices.IlgpuName)]
    [InlineData(2, 3, TestDevices.HostName)]
    public void AnalyticGradientsMatchFiniteDifferences(int layers, int embed, string set)
    {
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        using var model = new LanguageModel(devices[set], new LanguageModelConfig(Vocab, Hidden, Steps, LossPositions.All, layers, embed, 0, "gru"), Batch);
        var p = model.Parameters;
        var values = TestData.Uniform(rng, p.Count, 0.6);
        p.SetValues(values);
        var batch = new TokenBatch(Steps, Batch) { Steps = Steps, Size = Batch };
        for (int i = 0; i < Steps * Batch; i++) { batch.Inputs[i] = rng.Next(Vocab); batch.Targets[i] = rng.Next(Vocab); }
        double deviceLoss = model.LossAndGradients(batch);
        var grads = p.GetGrads();
        var theta = values.Select(v => (double)v).ToArray();

        double RefLoss(double[] th)
        {
            int width = embed > 0 ? embed : Vocab;
            var x = new double[Steps * Batch * width];
            for (int r = 0; r < Steps * Batch; r++)
                for (int j = 0; j < width; j++)
                    x[r * width + j] = embed > 0 ? th[model.Embedding!.Offset + batch.Inputs[r] * embed + j] : (batch.Inputs[r] == j ? 1 : 0);
            foreach (GruLayer l in model.Layers)
                x = GruReference.LayerForward(new GruReference.Weights(Slice(th, l.InputWeights), Slice(th, l.RecurrentWeights), Slice(th, l.InputBias),
                    Slice(th, l.RecurrentBias), l.InputSize), x, Steps, Batch, Hidden, reverse: false).Outputs;
            var wy = Slice(th, model.Dense.Weights);
            var by = Slice(th, model.Dense.Bias);
            double total = 0;
            for (int r = 0; r < Steps * Batch; r++)
            {
                var logits = new double[Vocab];
                for (int v = 0; v < Vocab; v++) { logits[v] = by[v]; for (int k = 0; k < Hidden; k++) logits[v] += x[r * Hidden + k] * wy[k * Vocab + v]; }
                double max = logits.Max();
                total += Math.Log(logits.Sum(l => Math.Exp(l - max))) - (logits[batch.Targets[r]] - max);
            }
            return total / (Steps * Batch);
        }
        Assert.True(Math.Abs(RefLoss(theta) - deviceLoss) <= 1e-5 * Math.Abs(deviceLoss), $"seed {seed}: loss {deviceLoss} vs reference {RefLoss(theta)}");
        RecurrentLayerCheck.AssertParameterGradients(seed, p, theta, grads, RefLoss);
    }

    private static double[] Slice(double[] all, ParameterTensor t) => all.AsSpan(t.Offset, t.Length).ToArray();
}
