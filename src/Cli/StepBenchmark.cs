using GpuLstm.Runtime;
using System.Diagnostics;
using System.Text;
using GpuLstm.Runtime.Compute;
using GpuLstm.Runtime.Data;
using GpuLstm.Runtime.Models;
using GpuLstm.Runtime.Compute.Host;
using GpuLstm.Runtime.Sampling;
using GpuLstm.Runtime.Training;

namespace GpuLstm.Cli;

/// <summary>A model shape to time: vocabulary V, hidden H, layers L, window T, batch B, and an embedding of width E (0: one-hot input).</summary>
internal sealed record BenchConfig(string Name, int V, int H, int L, int T, int B, int E = 0)
{
    /// <summary>The four configurations of the benchmark suite, the same as the TorchSharp peer's.</summary>
    public static IReadOnlyList<BenchConfig> Standard { get; } = new[]
    {
        new BenchConfig("seed", 27, 128, 1, 50, 16),
        new BenchConfig("small", 65, 256, 2, 100, 32),
        new BenchConfig("medium", 65, 512, 2, 100, 64),
        new BenchConfig("large", 65, 1024, 1, 128, 64),
    };

    /// <summary>Word level: a 10,000-word vocabulary through a 256-wide embedding (not in "all": its step is another kind of work).</summary>
    public static BenchConfig Word { get; } = new("word", 10_000, 256, 2, 50, 32, 256);

    public override string ToString() => $"{Name} (V{V} {(E > 0 ? $"E{E} " : "")}H{H} L{L} T{T} B{B})";

    public LanguageModelConfig ModelConfig(LossPositions target) => new(V, H, T, target, L, E);
}

/// <param name="Isa">The host set's ISA ("avx512", "avx2", "scalar"); null on ILGPU sets.</param>
/// <param name="SampleGBPerSecond">Weights read per sampled token (<see cref="LanguageModelConfig.SamplingBytesPerToken"/>) × tokens/s.</param>
/// <param name="PeakGflops">The machine's FP32 peak measured by <see cref="FmaPeak"/> on every core (host sets only; null elsewhere).</param>
/// <param name="CopyGBPerSecond">The machine's copy bandwidth over a buffer of the weights' size on every core (bytes read + written, as STREAM counts them).</param>
internal sealed record BenchResult(BenchConfig Config, string Device, string Kernels, string? Isa, string Target, int Steps, double StepMsMedian, double StepMsMin,
    double StepMsMax, double CharsPerSecond, double Gflops, double LaunchesPerStep, double SyncsPerStep, double SampleCharsPerSecond, int SampleChars,
    double SampleGBPerSecond, double CopyGBPerSecond, double? PeakGflops, long PeakRssKb)
{
    public string ToJson()
    {
        var c = Config;
        return System.Text.Json.JsonSerializer.Serialize(new
        {
            impl = "gpulstm", label = c.Name, c.V, c.H, c.L, c.T, c.B, c.E, target = Target, device = Device, kernels = Kernels, isa = Isa,
            steps = Steps, step_ms_median = StepMsMedian, step_ms_min = StepMsMin, step_ms_max = StepMsMax,
            train_chars_per_s = CharsPerSecond, gflops = Gflops, peak_gflops = PeakGflops, launches_per_step = LaunchesPerStep, syncs_per_step = SyncsPerStep,
            sample_mode = "state", sample_chars = SampleChars, sample_chars_per_s = SampleCharsPerSecond,
            sample_gb_per_s = SampleGBPerSecond, copy_gb_per_s = CopyGBPerSecond, vmhwm_kb = PeakRssKb,
        });
    }
}

/// <summary>
/// Times training steps (forward, backward, Adam) on random tokens and batch-1 sampling that carries
/// state, the way the TorchSharp peer does: warm-up steps first, then the median of the timed steps.
/// </summary>
internal static class StepBenchmark
{
    public static BenchResult Run(ComputeDevice device, BenchConfig config, LossPositions target, int warmup, int steps,
        double maxSeconds, int sampleChars, int sampleReps)
    {
        var model = new LanguageModel(device, config.ModelConfig(target), config.B);
        try
        {
            model.InitializeKerasDefaults(1234);
            using var adam = new AdamOptimizer(model, new AdamOptions(LearningRate: 2e-3));
            var batch = RandomBatch(config);
            var stepper = new PipelinedSteps(model, adam, batch);

            // Warm-up is bounded by the same time budget as the timed steps (after one step).
            var warm = Stopwatch.StartNew();
            for (int i = 0; i < warmup && (i == 0 || warm.Elapsed.TotalSeconds < maxSeconds); i++) stepper.Next();
            stepper.Drain();
            var times = new List<double>(steps);
            long launches = model.Kernels.LaunchCount, syncs = model.Kernels.SyncCount;
            var total = Stopwatch.StartNew();
            while (times.Count < steps && (times.Count < 3 || total.Elapsed.TotalSeconds < maxSeconds))
            {
                // As the trainer runs: each iteration enqueues a step and waits only for the previous one, so
                // in steady state an iteration takes one step's time on the device, however deep the queue.
                long t0 = Stopwatch.GetTimestamp();
                stepper.Next();
                times.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
            }
            double launchesPerStep = (model.Kernels.LaunchCount - launches) / (double)times.Count;
            double syncsPerStep = (model.Kernels.SyncCount - syncs) / (double)times.Count;
            stepper.Drain();
            times.Sort();
            double median = times[times.Count / 2];
            double flops = model.Config.TrainingFlops(config.T, config.B);

            double samplePerSecond = SampleSpeed(model, sampleChars, sampleReps);
            long bytesPerToken = model.Config.SamplingBytesPerToken;
            double copy = sampleChars > 0 ? MemoryBandwidth.CopyGBPerSecond(bytesPerToken) : 0;
            string kernels = device.Kernels is IlgpuKernelSet ilgpu ? ilgpu.Profile.ToString().ToLowerInvariant() : "host";
            string? isa = (device.Kernels as HostKernelSet)?.Isa;
            return new BenchResult(config, device.Id, kernels, isa, target == LossPositions.All ? "all" : "last", times.Count, median, times[0], times[^1],
                config.B * config.T / (median / 1000), flops / (median / 1000) / 1e9, launchesPerStep, syncsPerStep, samplePerSecond, sampleChars,
                samplePerSecond * bytesPerToken / 1e9, copy, MeasuredPeak(device), PeakRssKb());
        }
        finally
        {
            model.Dispose();
        }
    }

    /// <summary>
    /// The GPU path's launches for one training step at <paramref name="config"/>, recorded without running them
    /// (a dry run of the GPU kernel set on ILGPU's CPU accelerator): the same calls and shapes as on a GPU, with the
    /// GEMM tiles chosen for <paramref name="multiprocessors"/> and cuBLAS assumed or not. A first step runs before
    /// the recorded one, so one-time work is left out; the recorded step is pipelined as the trainer runs it.
    /// </summary>
    public static LaunchLog RecordGpuStep(BenchConfig config, LossPositions target, int multiprocessors, int warpSize, bool assumeCuBlas)
    {
        using var device = ComputeDevice.Open("ilgpu-cpu", KernelProfile.Gpu);
        var kernels = (IlgpuKernelSet)device.Kernels;
        var log = new LaunchLog { DryRun = true, Multiprocessors = multiprocessors, WarpSize = warpSize, AssumeCuBlas = assumeCuBlas };
        kernels.Record(log);
        using var model = new LanguageModel(device, config.ModelConfig(target), config.B);
        using var adam = new AdamOptimizer(model, new AdamOptions(LearningRate: 2e-3));
        var stepper = new PipelinedSteps(model, adam, RandomBatch(config));
        stepper.Next();
        log.Clear();
        stepper.Next();
        kernels.Record(null);
        stepper.Drain();
        return log;
    }

    private static TokenBatch RandomBatch(BenchConfig config)
    {
        var rng = new Rng(1234);
        var batch = new TokenBatch(config.T, config.B) { Steps = config.T, Size = config.B };
        for (int i = 0; i < batch.Inputs.Length; i++) { batch.Inputs[i] = rng.NextInt(config.V); batch.Targets[i] = rng.NextInt(config.V); }
        return batch;
    }

    /// <summary>Training steps as <see cref="Trainer"/> runs them: step s is enqueued before the host reads step s−1's outcome.</summary>
    private sealed class PipelinedSteps(LanguageModel model, AdamOptimizer adam, TokenBatch batch)
    {
        private int _slot;
        private bool _pending;

        public void Next()
        {
            int rows = model.ComputeGradients(batch);
            adam.Finish(model.RowLosses(rows), _slot);
            if (_pending) Check(adam.ReadOutcome(_slot ^ 1));
            _pending = true;
            _slot ^= 1;
        }

        public void Drain()
        {
            if (_pending) Check(adam.ReadOutcome(_slot ^ 1));
            _pending = false;
            model.Kernels.Synchronize();
        }

        private static void Check(StepOutcome outcome)
        {
            if (outcome.Halted) throw new GpuLstmException($"the benchmark's training diverged (loss sum {outcome.LossSum}, gradient norm {outcome.GradientNorm})");
        }
    }

    /// <summary>One row of a step profile: an op (GEMMs by layout and shape), its calls and time per step.</summary>
    /// <param name="FlopsPerStep">The op's FLOPs per step, from the shapes it was launched with.</param>
    public sealed record ProfileRow(string Op, double CallsPerStep, double MsPerStep, double Share, double Gflops, double FlopsPerStep);

    /// <summary>
    /// Where a training step's time goes: runs <paramref name="steps"/> steps on a profiled kernel set (each
    /// call synchronized and timed) after a warm-up. The device's kernel set stays profiled afterwards.
    /// </summary>
    public static IReadOnlyList<ProfileRow> Profile(ComputeDevice device, BenchConfig config, LossPositions target, int steps)
    {
        var profiler = device.EnableProfiling();
        using var model = new LanguageModel(device, config.ModelConfig(target), config.B);
        model.InitializeKerasDefaults(1234);
        using var adam = new AdamOptimizer(model, new AdamOptions(LearningRate: 2e-3));
        var stepper = new PipelinedSteps(model, adam, RandomBatch(config));
        for (int i = 0; i < 2; i++) stepper.Next();
        stepper.Drain();
        profiler.Reset();
        for (int i = 0; i < steps; i++) stepper.Next();
        stepper.Drain();
        double total = profiler.Ops.Values.Sum(o => (double)o.Ticks);
        return profiler.Ops
            .Select(kv => new ProfileRow(kv.Key, kv.Value.Calls / (double)steps,
                kv.Value.Ticks * 1000.0 / System.Diagnostics.Stopwatch.Frequency / steps, kv.Value.Ticks / total,
                kv.Value.Flops == 0 ? 0 : kv.Value.Flops / (kv.Value.Ticks / (double)System.Diagnostics.Stopwatch.Frequency) / 1e9,
                kv.Value.Flops / steps))
            .OrderByDescending(r => r.MsPerStep).ToArray();
    }

    /// <summary>The FP32 peak of the cores the host set runs on (its ISA's register width), or null for a GPU set.</summary>
    public static double? MeasuredPeak(ComputeDevice device)
    {
        if (device.Kernels is not HostKernelSet host) return null;
        using var pool = new WorkerPool(Environment.ProcessorCount);
        return FmaPeak.MeasureGflops(pool, wide: host.Isa == "avx512");
    }

    /// <summary>chars/s of batch-1 generation carrying (h, c), median over reps, after one short warm-up.</summary>
    private static double SampleSpeed(LanguageModel model, int chars, int reps)
    {
        if (chars <= 0 || reps <= 0) return 0;
        var vocab = new Vocabulary(Enumerable.Range(0, model.Config.VocabSize).Select(i => new Rune(0x21 + i)));
        var sampler = new Sampler(model, vocab);
        var rng = new Rng(7);
        string prime = vocab.Decode(0);
        sampler.GenerateCarryingState(prime, Math.Min(50, chars), 1.0, rng);
        var times = new double[reps];
        for (int r = 0; r < reps; r++)
        {
            long t0 = Stopwatch.GetTimestamp();
            sampler.GenerateCarryingState(prime, chars, 1.0, rng);
            times[r] = Stopwatch.GetElapsedTime(t0).TotalSeconds;
        }
        Array.Sort(times);
        return chars / times[reps / 2];
    }

    /// <summary>Peak resident set (VmHWM) of this process in KiB, or −1 where /proc is unavailable.</summary>
    public static long PeakRssKb()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                    return long.Parse(line.AsSpan(6).Trim().ToString().Split(' ')[0]);
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return -1;
    }
}
