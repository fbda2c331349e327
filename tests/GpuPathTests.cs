using GpuLstm.Cli;
using GpuLstm.Runtime.Compute;
using GpuLstm.Runtime.Data;
using GpuLstm.Runtime.Models;
using GpuLstm.Runtime.Training;
using Xunit;

namespace GpuLstm.Tests;

/// <summary>
/// The GPU path's shape of a training step, from the code: how many launches, and that the host never waits
/// inside a step. Counted by the GPU kernel set's dry run at the real configurations (as bench --dry-run and the
/// paper model count them), and checked against real steps of the same kernels on the CPU accelerator.
/// </summary>
[Collection(DeviceCollection.Name)]
public sealed class GpuPathTests(TestDevices devices)
{
    [Theory]
    [InlineData("medium", true)]
    [InlineData("medium", false)]
    [InlineData("small", true)]
    public void AStepIsAtMost420LaunchesAndNoSyncs(string config, bool cuBlas)
    {
        var c = BenchConfig.Standard.Single(x => x.Name == config);
        var log = StepBenchmark.RecordGpuStep(c, LossPositions.All, multiprocessors: 132, warpSize: 32, assumeCuBlas: cuBlas);
        Assert.InRange(log.Records.Count, 400, 420); // 2·T·L fused steps and a few big ops
        Assert.Equal(0, log.Syncs);
        Assert.Equal(2 * c.T * c.L, log.Records.Count(r => r.Kind == LaunchKind.RecurrentStep));
        Assert.All(log.Records, r => Assert.True(r.Bytes > 0, $"{r.Kernel} moves no bytes"));
    }

    /// <summary>The dry run lists exactly the launches a real run makes (the same code, kernels skipped), at a shape small enough to run.</summary>
    [Fact]
    public void TheDryRunListsWhatARealStepLaunches()
    {
        var config = new BenchConfig("tiny", 11, 5, 2, 4, 3, E: 6);
        var dry = StepBenchmark.RecordGpuStep(config, LossPositions.All, multiprocessors: 1, warpSize: 16, assumeCuBlas: false);
        var device = devices.CpuTiled;
        var kernels = (IlgpuKernelSet)device.Kernels;
        using var model = new LanguageModel(device, config.ModelConfig(LossPositions.All), config.B);
        model.InitializeKerasDefaults(3);
        using var adam = new AdamOptimizer(model, new AdamOptions());
        var batch = new TokenBatch(config.T, config.B) { Steps = config.T, Size = config.B };
        var rng = new Random(5);
        for (int i = 0; i < batch.Inputs.Length; i++) { batch.Inputs[i] = rng.Next(config.V); batch.Targets[i] = rng.Next(config.V); }
        // Two pipelined steps, as the trainer runs them; the second is recorded with the kernels running.
        adam.Finish(model.RowLosses(model.ComputeGradients(batch)), 0);
        var log = new LaunchLog { Multiprocessors = 1, WarpSize = 16 };
        long syncs = kernels.SyncCount;
        kernels.Record(log);
        adam.Finish(model.RowLosses(model.ComputeGradients(batch)), 1);
        adam.ReadOutcome(0);
        kernels.Record(null);
        Assert.Equal(syncs, kernels.SyncCount); // reading the previous step's outcome waited for that step, not the stream
        var outcome = adam.ReadOutcome(1);
        Assert.False(outcome.Halted);
        Assert.True(outcome.LossSum > 0 && double.IsFinite(outcome.GradientNorm));
        Assert.Equal(dry.Records.Select(r => r.Kernel), log.Records.Select(r => r.Kernel));
        Assert.Equal(0, log.Syncs);
    }
}
