using GpuLstm.Runtime.Compute;
using GpuLstm.Runtime.Data;
using GpuLstm.Runtime.Models;
using GpuLstm.Runtime.Models.Cells;
using Xunit;

namespace GpuLstm.Tests;

/// <summary>
/// The language model's analytic gradients (float32, on the kernels) against central finite differences of the
/// float64 reference model (<see cref="StackReference.LanguageModelLoss"/>), for every parameter tensor, every
/// cell, one-hot and embedding inputs, stacked levels with the same hashed dropout masks, and the loss at the
/// last or at every position. The reference's loss is first checked to be the kernels' loss.
/// </summary>
[Collection(DeviceCollection.Name)]
public sealed class GradientCheckTests(TestDevices devices)
{
    private const int Vocab = 7, Hidden = 5, Steps = 5, Batch = 3;

    public static IEnumerable<object[]> Cases()
    {
        // positions, layers, embedding, dropout, set
        object[][] everyCell =
        [
            ["Last", 1, 0, 0f, TestDevices.IlgpuName],
            ["All", 2, 0, 0f, TestDevices.HostName],
            ["All", 2, 4, 0.3f, TestDevices.HostName],
            ["Last", 1, 0, 0f, TestDevices.TiledName],
        ];
        object[][] lstm =
        [
            ["All", 1, 0, 0f, TestDevices.IlgpuName],
            ["Last", 2, 0, 0f, TestDevices.IlgpuName],
            ["All", 3, 0, 0f, TestDevices.IlgpuName],
            ["Last", 2, 0, 0f, TestDevices.HostName],
            ["All", 1, 4, 0f, TestDevices.IlgpuName],
            ["All", 2, 4, 0.3f, TestDevices.IlgpuName],
            ["Last", 3, 4, 0.5f, TestDevices.IlgpuName],
            ["Last", 1, 4, 0f, TestDevices.HostName],
        ];
        foreach (var cell in CellReference.CellNames)
            foreach (var c in everyCell) yield return c.Prepend(cell).ToArray();
        foreach (var c in lstm) yield return c.Prepend("lstm").ToArray();
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void AnalyticGradientsMatchFiniteDifferences(string cellName, string lossAt, int layers, int embed, float dropout, string set)
    {
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        var config = new LanguageModelConfig(Vocab, Hidden, Steps, Enum.Parse<LossPositions>(lossAt), layers, embed, dropout) { Cell = RecurrentCell.Parse(cellName) };
        using var model = new LanguageModel(devices[set], config, Batch);
        var p = model.Parameters;
        var values = TestData.Uniform(rng, p.Count, 0.6);
        p.SetValues(values);
        var batch = new TokenBatch(Steps, Batch) { Steps = Steps, Size = Batch };
        for (int i = 0; i < Steps * Batch; i++) { batch.Inputs[i] = rng.Next(Vocab); batch.Targets[i] = rng.Next(Vocab); }
        uint key = (uint)rng.Next();
        double deviceLoss = model.LossAndGradients(batch, dropoutKey: key);
        var grads = p.GetGrads();

        var (threshold, scale) = Dropout.Parameters(dropout);
        double Mask(int boundary, int index) =>
            GpuLstm.Kernels.DropoutKernels.Keeps(key + (uint)boundary * 0x9E3779B9u, index, threshold) ? scale : 0;
        if (dropout > 0)
        {
            int dropped = Enumerable.Range(0, Steps * Batch * Hidden).Count(i => Mask(0, i) == 0);
            Assert.InRange(dropped, 1, Steps * Batch * Hidden - 1); // the masks really drop something
        }

        var theta = values.Select(v => (double)v).ToArray();
        bool all = config.Loss == LossPositions.All;
        double RefLoss(double[] th) => StackReference.LanguageModelLoss(model, th, batch.Inputs, batch.Targets, Steps, Batch, all, dropout > 0 ? Mask : null);
        double refLoss = RefLoss(theta);
        Assert.True(Math.Abs(refLoss - deviceLoss) <= 1e-5 * Math.Abs(refLoss), $"seed {seed}: loss {deviceLoss} vs reference {refLoss}");
        RecurrentLayerCheck.AssertParameterGradients(seed, p, theta, grads, RefLoss);

        // Evaluation (Loss) never drops out: it equals the reference without masks.
        double evalLoss = model.Loss(batch);
        double refEval = StackReference.LanguageModelLoss(model, theta, batch.Inputs, batch.Targets, Steps, Batch, all);
        Assert.True(Math.Abs(refEval - evalLoss) <= 1e-5 * Math.Abs(refEval), $"seed {seed}: eval loss {evalLoss} vs {refEval}");
    }

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
