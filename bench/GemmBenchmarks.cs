using BenchmarkDotNet.Attributes;
using GpuLstm.Kernels;
using GpuLstm.Runtime.Compute;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;

namespace GpuLstm.Bench;

/// <summary>
/// SGEMM variants at the LSTM's shapes: the barrier-free ILGPU kernel and the shared-memory tiled ILGPU
/// kernel (both on ILGPU's CPU accelerator, which is how they can be timed without a GPU), and the host
/// SIMD GEMM. Shapes: the per-step recurrent GEMM (B,H)·(H,4H) and the weight gradient (H, T·B)·(T·B, 4H)
/// at the seed configuration (H 128, T 50, B 16).
/// </summary>
[Config(typeof(ShortRunConfig))]
public class GemmBenchmarks : IWorkPerCall
{
    public enum Op { RecurrentNN, WeightGradTN, HiddenGradNT }

    [Params(Op.RecurrentNN, Op.WeightGradTN, Op.HiddenGradNT)] public Op Shape;

    private const int B = 16, H = 128, T = 50;
    private readonly Dictionary<string, (ComputeDevice Device, MemoryBuffer1D<float, Stride1D.Dense>[] Buffers)> _sets = new();

    private GemmShape GemmShape => Shape switch
    {
        Op.RecurrentNN => Kernels.GemmShape.NN(B, 4 * H, H, accumulate: true),
        Op.WeightGradTN => Kernels.GemmShape.TN(H, 4 * H, T * B),
        _ => Kernels.GemmShape.NT(B, H, 4 * H),
    };

    public string WorkUnit => "GFLOP/s";
    public double WorkPerCall(string method) => GemmShape.Flops;

    [GlobalSetup]
    public void Setup()
    {
        _sets["naive"] = (ComputeDevice.Open("ilgpu-cpu"), null!);
        _sets["host"] = (ComputeDevice.Open("cpu"), null!);
        var context = ComputeDevice.CreateContext();
        var acc = new CPUDevice(16, 16, 1).CreateCPUAccelerator(context, CPUAcceleratorMode.Parallel);
        _sets["tiled"] = (ComputeDevice.FromAccelerator(context, acc, new IlgpuKernelSet(acc, IlgpuKernelSet.GemmVariant.Tiled), "cpu-tiled"), null!);
        foreach (var key in _sets.Keys.ToArray())
            _sets[key] = (_sets[key].Device, Allocate(_sets[key].Device.Accelerator));
    }

    private MemoryBuffer1D<float, Stride1D.Dense>[] Allocate(Accelerator acc)
    {
        var s = GemmShape;
        var rng = new Random(1);
        MemoryBuffer1D<float, Stride1D.Dense> Random(int n)
        {
            var b = acc.Allocate1D<float>(n);
            b.CopyFromCPU(Enumerable.Range(0, n).Select(_ => (float)rng.NextDouble()).ToArray());
            return b;
        }
        return new[] { Random(s.M * s.K), Random(s.K * s.N), Random(s.M * s.N) };
    }

    private void Run(string set)
    {
        var (device, buffers) = _sets[set];
        device.Kernels.Gemm(GemmShape, buffers[0].View, buffers[1].View, default, buffers[2].View);
        device.Kernels.Synchronize();
    }

    [Benchmark(Baseline = true, Description = "ilgpu naive (CPU accelerator)")]
    public void IlgpuNaive() => Run("naive");

    [Benchmark(Description = "ilgpu tiled 16x16 (CPU accelerator, OS-thread barriers)")]
    public void IlgpuTiled() => Run("tiled");

    [Benchmark(Description = "host SIMD (AVX2, worker pool)")]
    public void HostSimd() => Run("host");

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var (device, buffers) in _sets.Values)
        {
            foreach (var b in buffers) b.Dispose();
            device.Dispose();
        }
    }
}
