using BenchmarkDotNet.Attributes;
using GpuLstm.Kernels;
using GpuLstm.Runtime.Compute;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;

namespace GpuLstm.Bench;

/// <summary>
/// SGEMM at the LSTM's recurrent shape (B,H)·(H,4H), NN, on ILGPU's CPU accelerator: the barrier-free
/// variant the CPU runs against the shared-memory tiled variant a GPU runs. Reports GFLOP/s via FLOPs/op.
/// </summary>
[Config(typeof(ShortRunConfig))]
public class GemmBenchmarks
{
    [Params(16)] public int M;
    [Params(128)] public int H;

    private ComputeDevice _naive = null!, _tiled = null!;
    private MemoryBuffer1D<float, Stride1D.Dense>[] _naiveBuffers = null!, _tiledBuffers = null!;
    private GemmShape _shape;

    [GlobalSetup]
    public void Setup()
    {
        _shape = GemmShape.NN(M, 4 * H, H, accumulate: true);
        _naive = ComputeDevice.Open("cpu");
        var context = ComputeDevice.CreateContext();
        var acc = new CPUDevice(16, 16, 1).CreateCPUAccelerator(context, CPUAcceleratorMode.Parallel);
        _tiled = ComputeDevice.FromAccelerator(context, acc, new IlgpuKernelSet(acc, IlgpuKernelSet.GemmVariant.Tiled), "cpu-tiled");
        _naiveBuffers = Allocate(_naive.Accelerator);
        _tiledBuffers = Allocate(_tiled.Accelerator);
    }

    private MemoryBuffer1D<float, Stride1D.Dense>[] Allocate(Accelerator acc)
    {
        var rng = new Random(1);
        MemoryBuffer1D<float, Stride1D.Dense> Random(int n)
        {
            var b = acc.Allocate1D<float>(n);
            b.CopyFromCPU(Enumerable.Range(0, n).Select(_ => (float)rng.NextDouble()).ToArray());
            return b;
        }
        return new[] { Random(M * H), Random(H * 4 * H), Random(M * 4 * H) };
    }

    [Benchmark(Baseline = true, Description = "ilgpu naive (CPU accelerator)")]
    public void Naive()
    {
        _naive.Kernels.Gemm(_shape, _naiveBuffers[0].View, _naiveBuffers[1].View, default, _naiveBuffers[2].View);
        _naive.Kernels.Synchronize();
    }

    [Benchmark(Description = "ilgpu tiled 16x16 (CPU accelerator, OS-thread barriers)")]
    public void Tiled()
    {
        _tiled.Kernels.Gemm(_shape, _tiledBuffers[0].View, _tiledBuffers[1].View, default, _tiledBuffers[2].View);
        _tiled.Kernels.Synchronize();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var b in _naiveBuffers.Concat(_tiledBuffers)) b.Dispose();
        _naive.Dispose();
        _tiled.Dispose();
    }
}
