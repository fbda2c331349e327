using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;

namespace GpuLstm.Bench;

/// <summary>
/// Short runs: the machine is a shared 2-core box, so ratios measured side by side in one run are what
/// we report, not absolute times.
/// </summary>
public sealed class ShortRunConfig : ManualConfig
{
    public ShortRunConfig()
    {
        AddJob(Job.ShortRun.WithWarmupCount(2).WithIterationCount(5));
        AddColumn(new RateColumn());
        WithOptions(ConfigOptions.DisableOptimizationsValidator);
    }
}
