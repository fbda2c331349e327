using BenchmarkDotNet.Attributes;
using GpuLstm.Kernels;
using GpuLstm.Runtime.Compute;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;

namespace GpuLstm.Bench;

/// <summary>Buffers for one GEMM shape on several kernel sets, each filled with the same random data.</summary>
internal sealed class GemmFixture : IDisposable
{
    private delegate void Launch(GemmShape shape, ArrayView<float> a, ArrayView<float> b, ArrayView<float> bias, ArrayView<float> c);

    private readonly Dictionary<string, (ComputeDevice Device, MemoryBuffer1D<float, Stride1D.Dense>[] Buffers)> _sets = new();
    /// <summary>Kernels launched directly rather than through their device's kernel set.</summary>
    private readonly Dictionary<string, Launch> _direct = new();
    public GemmShape Shape { get; }

    public GemmFixture(GemmShape shape) => Shape = shape;

    /// <summary>
    /// A register-blocked kernel (blockTile 64 or 128) on a CPU accelerator with 256-thread groups, launched
    /// directly: no kernel set picks it yet.
    /// </summary>
    public void AddBlocked(string name, int blockTile)
    {
        var device = TiledCpuDevice();
        var acc = device.Accelerator;
        var kernel = blockTile == GemmKernels.Blocked64Tile
            ? acc.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmShape>(GemmKernels.Blocked64)
            : acc.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmShape>(GemmKernels.Blocked128);
        Add(name, device);
        _direct[name] = (shape, a, b, bias, c) =>
        {
            kernel(acc.DefaultStream, GemmKernels.BlockedConfig(shape, blockTile), a, b, bias, c, shape);
            acc.Synchronize();
        };
    }

    public void Add(string name, ComputeDevice device)
    {
        var rng = new Random(1);
        MemoryBuffer1D<float, Stride1D.Dense> Random(int n)
        {
            var b = device.Accelerator.Allocate1D<float>(n);
            b.CopyFromCPU(Enumerable.Range(0, n).Select(_ => (float)rng.NextDouble()).ToArray());
            return b;
        }
        _sets[name] = (device, new[] { Random(Shape.M * Shape.K), Random(Shape.K * Shape.N), Random(Shape.M * Shape.N) });
    }

    public void Run(string name)
    {
        var (device, b) = _sets[name];
        if (_direct.TryGetValue(name, out var launch))
        {
            launch(Shape, b[0].View, b[1].View, default, b[2].View);
            return;
        }
        device.Kernels.Gemm(Shape, b[0].View, b[1].View, default, b[2].View);
        device.Kernels.Synchronize();
    }

    public static ComputeDevice TiledCpuDevice()
    {
        return ComputeDevice.Open("ilgpu-cpu", KernelProfile.Gpu);
    }

    public void Dispose()
    {
        foreach (var (device, buffers) in _sets.Values)
        {
            foreach (var b in buffers) b.Dispose();
            device.Dispose();
        }
    }
}

/// <summary>
/// SGEMM at the LSTM's shapes, seed configuration (H 128, T 50, B 16, V 27): the barrier-free ILGPU kernel
/// on ILGPU's CPU accelerator against the host SIMD GEMM. Shapes: the per-step recurrent GEMM
/// (B,H)·(H,4H); the per-step backward dh = dgates (B,4H)·Whᵀ (4H,H); the weight gradient
/// (H,T·B)·(T·B,4H); the output layer's dh = dlogits (T·B,V)·Wyᵀ (NT).
/// </summary>
[Config(typeof(ShortRunConfig))]
public class GemmBenchmarks : IWorkPerCall
{
    public enum Op { RecurrentNN, HiddenGradNN, WeightGradTN, OutputGradNT }

    [Params(Op.RecurrentNN, Op.HiddenGradNN, Op.WeightGradTN, Op.OutputGradNT)] public Op Shape;

    private const int B = 16, H = 128, T = 50, V = 27;
    private GemmFixture _fixture = null!;

    internal static GemmShape ShapeOf(Op op) => op switch
    {
        Op.RecurrentNN => GemmShape.NN(B, 4 * H, H, accumulate: true),
        Op.HiddenGradNN => GemmShape.NN(B, H, 4 * H),
        Op.WeightGradTN => GemmShape.TN(H, 4 * H, T * B),
        _ => GemmShape.NT(T * B, H, V),
    };

    public string WorkUnit => "GFLOP/s";
    public double WorkPerCall(string method) => ShapeOf(Shape).Flops;

    [GlobalSetup]
    public void Setup()
    {
        _fixture = new GemmFixture(ShapeOf(Shape));
        _fixture.Add("naive", ComputeDevice.Open("ilgpu-cpu"));
        _fixture.Add("host", ComputeDevice.Open("cpu"));
    }

    [Benchmark(Baseline = true, Description = "ilgpu naive (CPU accelerator)")]
    public void IlgpuNaive() => _fixture.Run("naive");

    [Benchmark(Description = "host SIMD (AVX2, worker pool)")]
    public void HostSimd() => _fixture.Run("host");

    [GlobalCleanup]
    public void Cleanup() => _fixture.Dispose();
}

/// <summary>
/// Every variant at the recurrent shape, the shared-memory kernels included (tiled 16×16, register-blocked
/// 64×64 and 128×128): on ILGPU's CPU accelerator their barriers are OS-thread barriers, which is why the
/// runtime never picks them there. The blocked kernels cross fewer barriers (fewer, larger blocks), so this
/// compares barrier counts more than GPU speed.
/// </summary>
[Config(typeof(ShortRunConfig))]
public class TiledGemmBenchmarks : IWorkPerCall
{
    private GemmFixture _fixture = null!;

    public string WorkUnit => "GFLOP/s";
    public double WorkPerCall(string method) => GemmBenchmarks.ShapeOf(GemmBenchmarks.Op.RecurrentNN).Flops;

    [GlobalSetup]
    public void Setup()
    {
        _fixture = new GemmFixture(GemmBenchmarks.ShapeOf(GemmBenchmarks.Op.RecurrentNN));
        _fixture.Add("naive", ComputeDevice.Open("ilgpu-cpu"));
        _fixture.Add("tiled", GemmFixture.TiledCpuDevice());
        _fixture.AddBlocked("blocked64", GemmKernels.Blocked64Tile);
        _fixture.AddBlocked("blocked128", GemmKernels.Blocked128Tile);
        _fixture.Add("host", ComputeDevice.Open("cpu"));
    }

    [Benchmark(Baseline = true, Description = "ilgpu naive (CPU accelerator)")]
    public void IlgpuNaive() => _fixture.Run("naive");

    [Benchmark(Description = "ilgpu tiled 16x16 (CPU accelerator, OS-thread barriers)")]
    public void IlgpuTiled() => _fixture.Run("tiled");

    [Benchmark(Description = "ilgpu blocked 64x64, 4x4/thread (CPU accelerator, OS-thread barriers)")]
    public void IlgpuBlocked64() => _fixture.Run("blocked64");

    [Benchmark(Description = "ilgpu blocked 128x128, 8x8/thread (CPU accelerator, OS-thread barriers)")]
    public void IlgpuBlocked128() => _fixture.Run("blocked128");

    [Benchmark(Description = "host SIMD (AVX2, worker pool)")]
    public void HostSimd() => _fixture.Run("host");

    [GlobalCleanup]
    public void Cleanup() => _fixture.Dispose();
}
