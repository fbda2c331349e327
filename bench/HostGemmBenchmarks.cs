using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using BenchmarkDotNet.Attributes;
using GpuLstm.Kernels;
using GpuLstm.Runtime.Compute.Host;

namespace GpuLstm.Bench;

/// <summary>
/// The host GEMM's packed path per ISA at the medium configuration's training shapes (T·B = 6400 rows, H 512,
/// 4H 2048, V 65), every layout the step uses, beside the machine's measured FP32 peak: the
/// <see cref="FmaPeak"/> row, a loop of independent FMAs on every core with nothing to load. The goal of the CPU
/// issue is ≥ 75% of that row for the big products (M ≥ 512). Rows with N or K = 65 are the output layer's,
/// split over the cores in whole row tiles.
/// </summary>
[Config(typeof(ShortRunConfig))]
public unsafe class HostGemmBenchmarks : IWorkPerCall
{
    public enum Op { InputNN, WeightGradTN, InputGradNT, OutputNN, OutputWeightGradTN, OutputGradNT }

    [Params(Op.InputNN, Op.WeightGradTN, Op.InputGradNT, Op.OutputNN, Op.OutputWeightGradTN, Op.OutputGradNT)]
    public Op Shape;

    [Params(PanelIsa.Avx2, PanelIsa.Avx512)]
    public PanelIsa Isa;

    private const int Rows = 6400, H = 512, G = 4 * H, V = 65;

    internal static GemmShape ShapeOf(Op op) => op switch
    {
        Op.InputNN => GemmShape.NN(Rows, G, H, addBias: true),              // x·Wx + b over all T·B
        Op.WeightGradTN => GemmShape.TN(H, G, Rows, accumulate: true),     // dWx += xᵀ·dgates
        Op.InputGradNT => GemmShape.NT(Rows, H, G),                        // dx = dgates·Wxᵀ
        Op.OutputNN => GemmShape.NN(Rows, V, H, addBias: true),            // logits = h·Wy + b
        Op.OutputWeightGradTN => GemmShape.TN(H, V, Rows, accumulate: true),
        _ => GemmShape.NT(Rows, H, V),                                     // dh = dlogits·Wyᵀ
    };

    private WorkerPool _pool = null!;
    private HostGemm _gemm = null!;
    
    private float* _a, _b, _bias, _c;

    public string WorkUnit => "GFLOP/s";

    public double WorkPerCall(string method) => method == nameof(FmaPeak) ? GpuLstm.Runtime.Compute.Host.FmaPeak.FlopsPerCall(_pool?.Threads ?? Environment.ProcessorCount) : ShapeOf(Shape).Flops;

    [GlobalSetup]
    public void Setup()
    {
        _pool = new WorkerPool(Environment.ProcessorCount);
        _gemm = new HostGemm(_pool, Isa == PanelIsa.Avx512 ? HostIsa.Avx512 : HostIsa.Avx2);
                var s = ShapeOf(Shape);
        float* Random(long n)
        {
            var p = (float*)NativeMemory.AlignedAlloc((nuint)(n * sizeof(float)), 64);
            var rng = new Random(3);
            for (long i = 0; i < n; i++) p[i] = (float)(rng.NextDouble() - 0.5);
            return p;
        }
        _a = Random((long)s.M * s.K); _b = Random((long)s.K * s.N); _bias = Random(s.N); _c = Random((long)s.M * s.N);
    }

    [Benchmark(Description = "host packed GEMM")]
    public void Gemm() => _gemm.Run(ShapeOf(Shape), _a, _b, _bias, _c);

    [Benchmark(Description = "FMA peak (all cores, registers only)")]
    public void FmaPeak() => GpuLstm.Runtime.Compute.Host.FmaPeak.Run(_pool, Isa == PanelIsa.Avx512);

    [GlobalCleanup]
    public void Cleanup()
    {
        _gemm.Dispose();
        _pool.Dispose();
        NativeMemory.AlignedFree(_a); NativeMemory.AlignedFree(_b); NativeMemory.AlignedFree(_bias); NativeMemory.AlignedFree(_c);
    }
}
