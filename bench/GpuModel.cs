using System.Globalization;
using System.Text.Json;
using GpuLstm.Cli;
using GpuLstm.Runtime.Compute;
using GpuLstm.Runtime.Data;

namespace GpuLstm.Bench;

/// <summary>A GPU as the step-time model sees it: the vendor's published peaks, and the gap between two dependent launches on one stream.</summary>
internal sealed record GpuSpec(string Id, string Name, int Multiprocessors, int WarpSize, double Fp32Tflops, double BandwidthTbs, double LaunchGapUs)
{
    public double FlopsPerMultiprocessor => Fp32Tflops * 1e12 / Multiprocessors;

    public static IReadOnlyList<GpuSpec> All { get; } =
    [
        new("h100", "H100 SXM5 (132 SMs, 66.9 TFLOP/s FP32, 3.35 TB/s)", 132, 32, 66.9, 3.35, 2.0),
        new("h200", "H200 SXM (132 SMs, 66.9 TFLOP/s FP32, 4.8 TB/s)", 132, 32, 66.9, 4.8, 2.0),
        new("a100", "A100 SXM4 80 GB (108 SMs, 19.5 TFLOP/s FP32, 2.04 TB/s)", 108, 32, 19.5, 2.04, 2.0),
        // ILGPU's OpenCL sees each of an MI250's two dies as a device: 104 CUs, half the card's 45.3 TFLOP/s and 3.2 TB/s.
        new("mi250", "MI250, one GCD (104 CUs, 22.6 TFLOP/s FP32, 1.6 TB/s)", 104, 64, 22.6, 1.6, 4.0),
        new("rtx2080ti", "RTX 2080 Ti (68 SMs, 13.4 TFLOP/s FP32, 0.616 TB/s)", 68, 32, 13.4, 0.616, 2.5),
    ];
}

/// <summary>A measured step time from a paper or benchmark, for the model to be checked against (../shared/peers/gpu-anchors.md).</summary>
internal sealed record GpuAnchor(string Source, string Gpu, string Config, double MeasuredMs, string What);

/// <summary>
/// The paper model of a training step on a GPU. The launch list comes from the code: the GPU kernel set's dry run
/// (<c>gpulstm bench --kernels gpu --device ilgpu-cpu --dry-run</c>, <see cref="StepBenchmark.RecordGpuStep"/>), with the
/// shapes, grids, FLOPs and bytes each call received. Each launch then costs the launch gap plus the larger of its
/// compute time and its memory time under the assumptions printed by <see cref="Assumptions"/>.
/// </summary>
internal static class GpuModel
{
    // GEMM efficiencies: the fraction of a multiprocessor's FP32 peak a group of the kernel sustains.
    private const double CuBlasEfficiency = 0.75;     // cuBLAS SGEMM on shapes that fill the GPU
    private const double Blocked128Efficiency = 0.55; // 8×8 outputs per thread: 1 LDS.128 per 16 FMAs, 4 waves/SIMD
    private const double Blocked64Efficiency = 0.40;  // 4×4 outputs per thread: 1 LDS.128 per 8 FMAs
    private const double Tiled16Efficiency = 0.12;    // 1 output per thread: 2 LDS per FMA, shared-memory bound
    private const double MemoryEfficiency = 0.80;     // of peak bandwidth, for streaming kernels with enough threads
    private const int ThreadsToFillMultiprocessor = 1024; // resident threads a multiprocessor needs to reach that bandwidth

    public static IEnumerable<string> Assumptions(GpuSpec gpu) =>
    [
        $"GPU: {gpu.Name}; {gpu.LaunchGapUs:F1} µs between two dependent launches on one stream (no CUDA graphs: ILGPU has none)",
        $"cuBLAS SGEMM: {CuBlasEfficiency:P0} of FP32 peak on the multiprocessors its tiles (128×128, or 64×64, or split-K up to 8 when there are few) keep busy",
        $"own GEMMs: a group sustains blocked128 {Blocked128Efficiency:P0}, blocked64 {Blocked64Efficiency:P0}, tiled16 {Tiled16Efficiency:P0} of a multiprocessor's peak; groups spread evenly, the busiest multiprocessor sets the time",
        "fused recurrent step: shared-memory bound; forward a thread owns 2 rows × G gates, so per k a warp issues 1+G shared-load wavefronts for 2G FMA instructions " +
            "(LSTM 40%, GRU 37.5%, RNN 25% of peak); backward 2 rows × 2 units, 2 wavefronts for 4 FMA instructions (50%); one 16×16 tile per multiprocessor at a time",
        $"streaming kernels (softmax, reductions, Adam, gathers): {MemoryEfficiency:P0} of peak bandwidth once {ThreadsToFillMultiprocessor} threads per multiprocessor are resident, proportionally less below",
        "every launch also pays the launch gap; host-to-device uploads (tokens) are asynchronous and overlap the previous step; the host waits for nothing in a step (0 syncs)",
    ];

    /// <summary>Predicted microseconds for one launch on <paramref name="gpu"/>, and what limits it.</summary>
    public static (double Us, string Limit) Time(LaunchRecord r, GpuSpec gpu)
    {
        double memoryUs = r.Bytes / (gpu.BandwidthTbs * 1e12 * MemoryEfficiency) * 1e6;
        double computeUs;
        string limit;
        switch (r.Kind)
        {
            case LaunchKind.Gemm when r.Tile == "cublas":
            {
                long tiles128 = Ceil(r.M, 128) * Ceil(r.N, 128), tiles64 = Ceil(r.M, 64) * Ceil(r.N, 64);
                long splitK = Math.Clamp(r.K / 256, 1, 8);
                double busy = Math.Min(gpu.Multiprocessors, Math.Max(tiles128, Math.Max(tiles64, tiles128 * splitK)));
                computeUs = r.Flops / (gpu.FlopsPerMultiprocessor * busy * CuBlasEfficiency) * 1e6;
                limit = "cuBLAS";
                break;
            }
            case LaunchKind.Gemm:
            {
                double efficiency = r.Tile switch { "blocked128" => Blocked128Efficiency, "blocked64" => Blocked64Efficiency, _ => Tiled16Efficiency };
                computeUs = Math.Ceiling((double)r.Groups / gpu.Multiprocessors) * (r.Flops / r.Groups) / (gpu.FlopsPerMultiprocessor * efficiency) * 1e6;
                limit = r.Tile;
                break;
            }
            case LaunchKind.RecurrentStep:
            {
                double efficiency = RecurrentStepEfficiency(r);
                computeUs = r.Flops == 0 ? 0 : Math.Ceiling((double)r.Groups / gpu.Multiprocessors) * (r.Flops / r.Groups) / (gpu.FlopsPerMultiprocessor * efficiency) * 1e6;
                limit = "shared memory";
                break;
            }
            default:
            {
                double threads = (double)r.Groups * Math.Max(1, r.GroupSize);
                double fill = Math.Min(1, threads / ((double)gpu.Multiprocessors * ThreadsToFillMultiprocessor));
                memoryUs /= Math.Max(fill, 1.0 / gpu.Multiprocessors);
                computeUs = 0;
                limit = fill < 1 ? "too few threads" : "bandwidth";
                break;
            }
        }
        double us = Math.Max(computeUs, memoryUs);
        if (memoryUs > computeUs && r.Kind is LaunchKind.Gemm or LaunchKind.RecurrentStep) limit = "bandwidth";
        return (gpu.LaunchGapUs + us, limit);
    }

    /// <summary>
    /// The fused step's FMA-pipe share, from its inner loop (<see cref="Kernels.RecurrentStepKernels"/>): a
    /// multiprocessor issues four FMA instructions and serves one shared-memory wavefront per clock. Forward, per k a
    /// warp reads h for its two rows in one 8-byte load (one wavefront) and one Wh value per gate (G wavefronts) for
    /// 2·G FMA instructions: (2G/4)/(1+G). Backward, one 8-byte load of dNext and one of Wh (two wavefronts) feed
    /// 4 FMA instructions: 1/2.
    /// </summary>
    private static double RecurrentStepEfficiency(LaunchRecord r)
    {
        if (r.Kernel.Contains("backward", StringComparison.Ordinal)) return 0.5;
        double gates = r.N / Math.Max(1.0, r.K); // the record's N is G·H and K is H
        return gates / (2 * (1 + gates));
    }

    private static long Ceil(long a, long b) => (a + b - 1) / b;

    public sealed record Prediction(BenchConfig Config, GpuSpec Gpu, string Gemm, double TotalMs, int Launches, int Syncs, double FloorMs,
        IReadOnlyList<(string Kernel, int Calls, double Us, string Limit)> ByKernel);

    public static Prediction Predict(BenchConfig config, GpuSpec gpu, bool cuBlas)
    {
        var log = StepBenchmark.RecordGpuStep(config, LossPositions.All, gpu.Multiprocessors, gpu.WarpSize, cuBlas);
        var rows = new Dictionary<string, (int Calls, double Us, string Limit)>();
        double total = 0, flops = 0;
        foreach (var r in log.Records)
        {
            var (us, limit) = Time(r, gpu);
            total += us;
            flops += r.Flops;
            string key = r.Kind == LaunchKind.Gemm ? $"{r.Kernel} {r.M}x{r.N}x{r.K}" : r.Kernel;
            rows.TryGetValue(key, out var row);
            rows[key] = (row.Calls + 1, row.Us + us, limit);
        }
        return new Prediction(config, gpu, cuBlas ? "cublas" : "own", total / 1000, log.Records.Count, log.Syncs,
            flops / (gpu.Fp32Tflops * 1e12) * 1000,
            rows.OrderByDescending(kv => kv.Value.Us).Select(kv => (kv.Key, kv.Value.Calls, kv.Value.Us, kv.Value.Limit)).ToArray());
    }

    /// <summary>The anchors of ../shared/peers/gpu-anchors.md that this model can run (the same script, their configuration).</summary>
    public static IReadOnlyList<(BenchConfig Config, GpuAnchor Anchor)> Anchors { get; } =
    [
        (new BenchConfig("rnnlm-2080ti", 10001, 256, 3, 50, 128, 128),
            new GpuAnchor("lcy-seso/Carrot benchmarks/rnnlm", "rtx2080ti", "vocabulary 10,001, embedding 128, 3 × LSTM(256), B 128, T 50",
                23.5, "cuDNN nn.LSTM (PyTorch 1.3), forward + backward + update")),
    ];

    public static void Run(string[] args)
    {
        string? configName = Value(args, "--config");
        string gpuName = Value(args, "--gpu") ?? "all";
        string gemm = Value(args, "--gemm") ?? "both";
        var configs = BenchConfig.Standard.Where(c => configName is null or "all" || c.Name == configName).ToList();
        var gpus = GpuSpec.All.Where(g => gpuName == "all" || g.Id == gpuName).ToList();
        if (gpus.Count == 0) throw new ArgumentException($"unknown --gpu '{gpuName}'; choose {string.Join(", ", GpuSpec.All.Select(g => g.Id))} or all");
        if (configs.Count == 0 && configName != "anchors") throw new ArgumentException($"unknown --config '{configName}'");
        var backends = gemm switch { "cublas" => new[] { true }, "own" => new[] { false }, _ => new[] { true, false } };
        foreach (var gpu in gpus)
        {
            Console.WriteLine($"## {gpu.Name}");
            foreach (var line in Assumptions(gpu)) Console.WriteLine($"- {line}");
            Console.WriteLine();
            foreach (var config in configs)
                foreach (bool cuBlas in backends)
                {
                    // On an AMD GPU (OpenCL) there is no cuBLAS: only the own GEMMs apply.
                    if (cuBlas && gpu.Id == "mi250") continue;
                    Print(Predict(config, gpu, cuBlas));
                }
        }
        foreach (var (config, anchor) in Anchors)
        {
            var gpu = GpuSpec.All.Single(g => g.Id == anchor.Gpu);
            if (!gpus.Contains(gpu) || configName is not (null or "all" or "anchors")) continue;
            var p = Predict(config, gpu, cuBlas: true);
            Print(p);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"anchor {anchor.Source}: {anchor.Config} on {gpu.Id}: GpuLstm predicted {p.TotalMs:F1} ms per training step; measured {anchor.What}: {anchor.MeasuredMs:F1} ms"));
            Console.WriteLine("RESULT " + Json(p, anchor.MeasuredMs));
        }
    }

    private static void Print(Prediction p)
    {
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"### {p.Config} with {(p.Gemm == "cublas" ? "cuBLAS" : "the own GEMM family")}: {p.TotalMs:F2} ms per training step predicted; {p.Launches} launches, {p.Syncs} syncs; FP32 floor {p.FloorMs:F2} ms"));
        Console.WriteLine();
        Console.WriteLine("| kernel | calls | µs per step | share | limited by |");
        Console.WriteLine("|---|---|---|---|---|");
        double total = p.ByKernel.Sum(k => k.Us);
        foreach (var (kernel, calls, us, limit) in p.ByKernel)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| `{kernel}` | {calls} | {us:F1} | {us / total:P0} | {limit} |"));
        Console.WriteLine();
        Console.WriteLine("RESULT " + Json(p, null));
    }

    private static string Json(Prediction p, double? measuredMs) => JsonSerializer.Serialize(new
    {
        model = "gpulstm-paper", gpu = p.Gpu.Id, label = p.Config.Name, p.Config.V, p.Config.H, p.Config.L, p.Config.T, p.Config.B, p.Config.E,
        gemm = p.Gemm, predicted_ms = Math.Round(p.TotalMs, 3), launches_per_step = p.Launches, syncs_per_step = p.Syncs,
        fp32_floor_ms = Math.Round(p.FloorMs, 3), measured_ms = measuredMs,
    });

    private static string? Value(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }
}
