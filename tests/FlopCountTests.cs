using System.Text.Json;
using GpuLstm.Cli;
using GpuLstm.Runtime.Compute;
using GpuLstm.Runtime.Data;
using Xunit;

namespace GpuLstm.Tests;

/// <summary>
/// bench's FLOPs are the ones the kernels do: <c>LanguageModelConfig.TrainingFlops</c> equals the sum, over one
/// profiled training step, of the FLOPs each launch's shape implies (the profile's per-op counts), on the host
/// set (whole recurrences) and the ILGPU set (step by step), for one-hot and embedding inputs, one and two
/// levels, losses at every position and at the last. A one-hot input is a gather: counting it as a V-wide
/// product made the word configuration report more than the machine's peak.
/// </summary>
public sealed class FlopCountTests
{
    public static IEnumerable<object[]> Cases() =>
        from set in new[] { "cpu", "ilgpu-cpu" }
        from c in new (int V, int H, int L, int T, int B, int E, bool All)[]
        {
            (13, 8, 1, 5, 3, 0, true), (13, 8, 2, 5, 3, 6, false), (301, 12, 2, 4, 5, 7, true), (29, 8, 2, 6, 2, 0, false),
        }
        select new object[] { set, c.V, c.H, c.L, c.T, c.B, c.E, c.All };

    [Theory]
    [MemberData(nameof(Cases))]
    public void BenchCountsTheFlopsTheLaunchesDo(string set, int v, int h, int l, int t, int b, int e, bool all)
    {
        var config = new BenchConfig("test", v, h, l, t, b, e);
        var target = all ? LossPositions.All : LossPositions.Last;
        using var device = ComputeDevice.Open(set);
        double counted = StepBenchmark.Profile(device, config, target, 2).Sum(r => r.FlopsPerStep);
        double formula = config.ModelConfig(target).TrainingFlops(t, b);
        Assert.True(Math.Abs(counted - formula) <= 1e-9 * formula, $"{set}: the launches do {counted:N0} FLOPs a step, bench counts {formula:N0}");
    }

    /// <summary>bench prints the machine's measured FP32 peak beside its rate, and the rate is below it, here at the word configuration's shape (scaled down).</summary>
    [Fact]
    public void BenchReportsNoMoreThanTheMeasuredPeak()
    {
        string dir = Directory.CreateTempSubdirectory("gpulstm-flops-").FullName;
        try
        {
            var r = CliTests.Run(dir, "bench", "--config", "custom", "--V", "2000", "--E", "32", "--H", "32", "--L", "2", "--T", "10", "--B", "8",
                "--device", "cpu", "--warmup", "1", "--steps", "3", "--sample-chars", "0");
            Assert.True(r.ExitCode == 0, r.Stderr);
            var json = JsonDocument.Parse(r.Stdout.Split('\n').Single(line => line.StartsWith("RESULT ")).Substring(7)).RootElement;
            double gflops = json.GetProperty("gflops").GetDouble(), peak = json.GetProperty("peak_gflops").GetDouble();
            Assert.True(peak > 0, "no measured peak");
            Assert.True(gflops <= peak, $"{gflops:F1} GFLOP/s reported, above the measured peak of {peak:F1}");
            Assert.Contains("measured peak", r.Stdout);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
