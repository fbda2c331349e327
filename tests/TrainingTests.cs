using GpuLstm.Runtime;
using GpuLstm.Runtime.Data;
using GpuLstm.Runtime.Models;
using GpuLstm.Runtime.Sampling;
using GpuLstm.Runtime.Training;
using Xunit;

namespace GpuLstm.Tests;

/// <summary>Training and sampling end to end on the kernels, small enough for the CPU accelerator.</summary>
[Collection(DeviceCollection.Name)]
public sealed class TrainingTests(TestDevices devices)
{
    private const string Text = "the cat sat on the mat. the dog sat on the log. a cat and a dog met.";

    private sealed record Run(float[] Weights, double[] Losses, string Sample);

    private Run TrainAndSample(ulong seed, int epochs = 3, int patience = 5, bool restoreBest = false, double minDelta = 0,
        string set = TestDevices.IlgpuName)
    {
        var vocab = Vocabulary.FromText(Text);
        var data = new WindowDataset(vocab.Encode(Text, "text"), 12);
        using var model = new LanguageModel(devices[set], new LanguageModelConfig(vocab.Count, 9, 12), 5);
        model.InitializeKerasDefaults(seed);
        using var adam = new AdamOptimizer(model, new AdamOptions(LearningRate: 0.01));
        var trainer = new Trainer(new LanguageModelTask(model, new ShuffledWindowBatches(data, 5, model.Config.Loss, seed)), adam,
            new EarlyStoppingOptions(MonitoredLoss.Loss, patience, minDelta, restoreBest), new TrainOptions(epochs, seed));
        var losses = new List<double>();
        trainer.Evaluated += r => losses.Add(r.Loss);
        trainer.Train();
        var sample = new Sampler(model, vocab).Generate("the cat", 15, 1.0, Rng.ForPurpose(seed, "sample"));
        return new Run(model.Parameters.GetValues(), losses.ToArray(), sample);
    }

    [Theory]
    [InlineData(TestDevices.IlgpuName)]
    [InlineData(TestDevices.HostName)]
    public void SameSeedGivesBitIdenticalWeightsAndSamples(string set)
    {
        var a = TrainAndSample(7, set: set);
        var b = TrainAndSample(7, set: set);
        Assert.Equal(a.Weights, b.Weights);
        Assert.Equal(a.Losses, b.Losses);
        Assert.Equal(a.Sample, b.Sample);
    }

    [Theory]
    [InlineData(TestDevices.IlgpuName)]
    [InlineData(TestDevices.HostName)]
    public void DifferentSeedsGiveDifferentWeightsAndSamples(string set)
    {
        var a = TrainAndSample(7, set: set);
        var b = TrainAndSample(8, set: set);
        Assert.NotEqual(a.Weights, b.Weights);
        Assert.NotEqual(a.Sample, b.Sample);
    }

    [Fact]
    public void LossFallsOnEveryEarlyEpoch()
    {
        var run = TrainAndSample(3, epochs: 6);
        Assert.Equal(6, run.Losses.Length);
        for (int i = 1; i < run.Losses.Length; i++)
            Assert.True(run.Losses[i] < run.Losses[i - 1], $"epoch {i + 1}: {run.Losses[i]} after {run.Losses[i - 1]}");
        Assert.InRange(run.Losses[0], 0.5 * Math.Log(21), 1.2 * Math.Log(21)); // about ln V at the start
    }

    [Fact]
    public void EarlyStoppingEndsTrainingAndRestoresTheBestWeights()
    {
        // A min delta no epoch can beat: the first epoch is the best, and training stops after `patience` more.
        var vocab = Vocabulary.FromText(Text);
        var data = new WindowDataset(vocab.Encode(Text, "text"), 12);
        using var model = new LanguageModel(devices.Cpu, new LanguageModelConfig(vocab.Count, 9, 12), 5);
        model.InitializeKerasDefaults(1);
        using var adam = new AdamOptimizer(model, new AdamOptions(LearningRate: 0.01));
        var trainer = new Trainer(new LanguageModelTask(model, new ShuffledWindowBatches(data, 5, model.Config.Loss, 1)), adam,
            new EarlyStoppingOptions(MonitoredLoss.Loss, 2, 100, RestoreBestWeights: true), new TrainOptions(20, 1));
        float[]? afterFirst = null;
        int epochsSeen = 0;
        trainer.Evaluated += r => { epochsSeen++; if (r.Epoch == 0) afterFirst = model.Parameters.GetValues(); };
        var result = trainer.Train();
        Assert.Equal(3, result.EpochsRun);
        Assert.Equal(3, epochsSeen);
        Assert.Equal(2, result.StoppedEpoch);
        Assert.Equal(0, result.BestEpoch);
        Assert.True(result.RestoredBestWeights);
        Assert.Equal(afterFirst, model.Parameters.GetValues());
    }

    [Fact]
    public void ClippingBoundsTheUpdateByTheGlobalNorm()
    {
        var vocab = Vocabulary.FromText(Text);
        var data = new WindowDataset(vocab.Encode(Text, "text"), 12);
        using var model = new LanguageModel(devices.Cpu, new LanguageModelConfig(vocab.Count, 9, 12), 5);
        model.InitializeKerasDefaults(1);
        using var adam = new AdamOptimizer(model, new AdamOptions(LearningRate: 0.01, ClipNorm: 1e-3));
        var batch = new TokenBatch(12, 5);
        data.FillBatch(new[] { 0, 1, 2, 3, 4 }, batch, LossPositions.Last);
        model.LossAndGradients(batch);
        double norm = model.GradientNorm();
        adam.Apply();
        Assert.Equal(norm, adam.LastGradientNorm, 6);
        // Adam's first step is sign-like, so check the moments: m = (1−β1)·g·(clip/‖g‖).
        var g = model.Parameters.GetGrads();
        var m = adam.GetFirstMoments();
        double scale = 1e-3 / norm;
        for (int i = 0; i < g.Length; i += 97)
            Assert.True(Math.Abs(m[i] - 0.1 * g[i] * scale) <= 1e-6 * Math.Abs(g[i]) + 1e-12, $"m[{i}]");
    }
}
