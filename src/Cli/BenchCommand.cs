using GpuLstm.Runtime.Data;
using System.CommandLine;
using System.Globalization;
using GpuLstm.Runtime;
 
using GpuLstm.Runtime.Compute;
using GpuLstm.Runtime.Models;

namespace GpuLstm.Cli;

/// <summary>`gpulstm bench`: training-step and sampling speed at the standard configurations, on any device.</summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var config = new Option<string>("--config") { Description = "seed, small, medium, large, all (those four), word (V 10,000, E 256, H 256, L 2, T 50, B 32), or custom (with --V --H --L --T --B)", DefaultValueFactory = _ => "all" };
        var v = new Option<int?>("--V") { Description = "vocabulary size (custom config, or override)" };
        var h = new Option<int?>("--H") { Description = "hidden size" };
        var l = new Option<int?>("--L") { Description = "layers" };
        var t = new Option<int?>("--T") { Description = "window length" };
        var b = new Option<int?>("--B") { Description = "batch size" };
        var e = new Option<int?>("--E") { Description = "embedding width (0: one-hot input, the default)" };
        var target = new Option<string>("--target") { Description = "all: loss at every position (char-rnn); last: only after the window (the notebook)", DefaultValueFactory = _ => "all" };
        target.AcceptOnlyFromAmong("all", "last");
        var device = new Option<string>("--device") { Description = "auto, cpu, ilgpu-cpu, cuda, cuda:N, opencl, opencl:N", DefaultValueFactory = _ => "auto" };
        var warmup = new Option<int>("--warmup") { Description = "untimed steps first", DefaultValueFactory = _ => 3 };
        var steps = new Option<int>("--steps") { Description = "timed steps", DefaultValueFactory = _ => 20 };
        var maxSeconds = new Option<double>("--max-seconds") { Description = "stop timing after this long (once 3 steps are done)", DefaultValueFactory = _ => 60 };
        var sampleChars = new Option<int>("--sample-chars") { Description = "chars per timed generation (batch 1, carried state); 0: skip", DefaultValueFactory = _ => 1000 };
        var sampleReps = new Option<int>("--sample-reps") { Description = "timed generations (median)", DefaultValueFactory = _ => 3 };
        var kernels = new Option<string>("--kernels")
        {
            Description = "auto; gpu: the GPU kernels (what CUDA and OpenCL run), also on ilgpu-cpu to count their launches without a GPU; cpu: the CPU accelerator's kernels",
            DefaultValueFactory = _ => "auto",
        };
        kernels.AcceptOnlyFromAmong("auto", "gpu", "cpu");
        var gemm = new Option<string>("--gemm")
        {
            Description = "on CUDA: cublas (where libcublas loads, the default) or own (GpuLstm's GEMM kernels), to compare them",
            DefaultValueFactory = _ => "cublas",
        };
        gemm.AcceptOnlyFromAmong("cublas", "own");
        var dryRun = new Option<bool>("--dry-run")
        {
            Description = "with --kernels gpu --device ilgpu-cpu: list the GPU path's launches for one step without running them (fast at any size), " +
                "with the GEMM tiles chosen for --multiprocessors; prints launches and syncs per step",
        };
        var multiprocessors = new Option<int>("--multiprocessors") { Description = "with --dry-run: the GPU's multiprocessor count the tiles are chosen for", DefaultValueFactory = _ => 132 };
        var profile = new Option<bool>("--profile") { Description = "after timing, profile a few steps op by op (each kernel call synchronized and timed)" };
        var command = new Command("bench", "Time training steps and sampling at the standard configurations (prints RESULT JSON lines for scripts).")
        {
            config, v, h, l, t, b, e, target, device, kernels, gemm, dryRun, multiprocessors, warmup, steps, maxSeconds, sampleChars, sampleReps, profile,
        };
        command.SetAction(parse => CliRunner.Run(parse, () =>
        {
            string name = parse.GetValue(config)!.ToLowerInvariant();
            IEnumerable<BenchConfig> configs = name switch
            {
                "all" => BenchConfig.Standard,
                "custom" => new[] { new BenchConfig("custom", 65, 128, 1, 100, 32) },
                "word" => new[] { BenchConfig.Word },
                _ => BenchConfig.Standard.Where(c => c.Name == name).ToArray() is { Length: 1 } one ? one
                    : throw new GpuLstmException($"unknown config '{name}'; choose seed, small, medium, large, all, word or custom"),
            };
            configs = configs.Select(c => c with
            {
                V = parse.GetValue(v) ?? c.V, H = parse.GetValue(h) ?? c.H, L = parse.GetValue(l) ?? c.L,
                T = parse.GetValue(t) ?? c.T, B = parse.GetValue(b) ?? c.B, E = parse.GetValue(e) ?? c.E,
            }).ToArray();
            foreach (var c in configs)
            {
                foreach (var (value, option) in new[] { (c.V, "--V"), (c.H, "--H"), (c.L, "--L"), (c.T, "--T"), (c.B, "--B") })
                    CliRunner.RequirePositive(value, option);
                if (c.E < 0) throw new GpuLstmException($"--E must be 0 (one-hot input) or positive, got {c.E}");
            }
            int w = parse.GetValue(warmup), n = parse.GetValue(steps);
            if (w < 0) throw new GpuLstmException($"--warmup must be 0 or more, got {w}");
            CliRunner.RequirePositive(n, "--steps");
            CliRunner.RequirePositive(parse.GetValue(sampleReps), "--sample-reps");
            int chars = parse.GetValue(sampleChars);
            if (chars < 0 || chars > 10_000_000) throw new GpuLstmException($"--sample-chars must be from 0 (no sampling) to 10,000,000, got {chars}");
            if (!(parse.GetValue(maxSeconds) > 0)) throw new GpuLstmException(string.Create(CultureInfo.InvariantCulture, $"--max-seconds must be a positive number, got {parse.GetValue(maxSeconds)}"));
            var positions = parse.GetValue(target) == "last" ? LossPositions.Last : LossPositions.All;

            if (parse.GetValue(dryRun))
            {
                if (parse.GetValue(device) != "ilgpu-cpu" || parse.GetValue(kernels) != "gpu")
                    throw new GpuLstmException("--dry-run lists the GPU kernels' launches on the CPU accelerator: give it with --kernels gpu --device ilgpu-cpu");
                CliRunner.RequirePositive(parse.GetValue(multiprocessors), "--multiprocessors");
                foreach (var c in configs)
                {
                    StandardOutput.ThrowIfClosed();
                    var log = StepBenchmark.RecordGpuStep(c, positions, parse.GetValue(multiprocessors), 32, assumeCuBlas: parse.GetValue(gemm) == "cublas");
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"{c} target={(positions == LossPositions.All ? "all" : "last")}: {log.Records.Count} launches/step, {log.Syncs} syncs/step (GPU kernels, dry run)"));
                    foreach (var group in log.Records.GroupBy(r => r.Kernel).OrderByDescending(g => g.Count()))
                        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {group.Key,-34} {group.Count(),5}"));
                    Console.WriteLine("RESULT " + System.Text.Json.JsonSerializer.Serialize(new
                    {
                        impl = "gpulstm", label = c.Name, c.V, c.H, c.L, c.T, c.B, c.E, device = "ilgpu-cpu", kernels = "gpu", dry_run = true,
                        launches_per_step = log.Records.Count, syncs_per_step = log.Syncs,
                    }));
                }
                return 0;
            }

            var profileChoice = parse.GetValue(kernels) switch { "gpu" => KernelProfile.Gpu, "cpu" => KernelProfile.Cpu, _ => KernelProfile.Auto };
            using var dev = ComputeDevice.Open(parse.GetValue(device)!, profileChoice, useCuBlas: parse.GetValue(gemm) != "own");
            Console.WriteLine($"device: {dev.Description}");
            foreach (var c in configs)
            {
                StandardOutput.ThrowIfClosed();
                var r = StepBenchmark.Run(dev, c, positions, w, n, parse.GetValue(maxSeconds), parse.GetValue(sampleChars), parse.GetValue(sampleReps));
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{c} target={r.Target}: {r.StepMsMedian:F2} ms/step (median of {r.Steps}; min {r.StepMsMin:F2}, max {r.StepMsMax:F2}), " +
                    $"{r.CharsPerSecond:F0} chars/s, {r.Gflops:F1} GFLOP/s{(r.PeakGflops is { } peak ? $" (measured peak {peak:F0})" : "")}, {r.LaunchesPerStep:F0} launches/step, {r.SyncsPerStep:F0} syncs/step; " +
                    $"sampling {r.SampleCharsPerSecond:F0} chars/s (batch 1, carried state; weights read at {r.SampleGBPerSecond:F1} GB/s, " +
                    $"copy bandwidth {r.CopyGBPerSecond:F1} GB/s); peak RSS {r.PeakRssKb / 1024} MiB"));
                Console.WriteLine("RESULT " + r.ToJson());
            }
            if (parse.GetValue(profile))
                foreach (var c in configs)
                {
                    Console.WriteLine($"profile of {c} target={parse.GetValue(target)}, per training step:");
                    Console.WriteLine($"  {"op",-44} {"calls",6} {"ms",8} {"share",6} {"GFLOP/s",8}");
                    foreach (var row in StepBenchmark.Profile(dev, c, positions, Math.Max(3, Math.Min(n, 10))))
                        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                            $"  {row.Op,-44} {row.CallsPerStep,6:F0} {row.MsPerStep,8:F3} {row.Share,6:P0} {(row.Gflops > 0 ? row.Gflops.ToString("F1", CultureInfo.InvariantCulture) : ""),8}"));
                }
            return 0;
        }));
        return command;
    }
}
