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
    private PeakLoop _peak = null!;
    private float* _a, _b, _bias, _c;

    public string WorkUnit => "GFLOP/s";

    public double WorkPerCall(string method) => method == nameof(FmaPeak) ? PeakLoop.FlopsPerCall(Environment.ProcessorCount) : ShapeOf(Shape).Flops;

    [GlobalSetup]
    public void Setup()
    {
        _pool = new WorkerPool(Environment.ProcessorCount);
        _gemm = new HostGemm(_pool, Isa == PanelIsa.Avx512 ? HostIsa.Avx512 : HostIsa.Avx2);
        _peak = new PeakLoop(Isa == PanelIsa.Avx512);
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
    public void FmaPeak() => _pool.Run(_peak, _pool.Threads);

    [GlobalCleanup]
    public void Cleanup()
    {
        _gemm.Dispose();
        _pool.Dispose();
        NativeMemory.AlignedFree(_a); NativeMemory.AlignedFree(_b); NativeMemory.AlignedFree(_bias); NativeMemory.AlignedFree(_c);
    }

    /// <summary>Per part, 12 independent FMA chains (more than latency × throughput needs) of <see cref="Iterations"/> links.</summary>
    private sealed class PeakLoop(bool wide) : IParallelWork
    {
        private const int Iterations = 1 << 20, Chains = 12;
        public float Sink;

        /// <summary>Vector512 FLOPs; the AVX2 loop does the same count in twice the links of half the width.</summary>
        public static double FlopsPerCall(int parts) => 2.0 * 16 * Chains * Iterations * parts;

        public void Run(int part, int parts)
        {
            float sum = wide ? Chains512() : Chains256();
            if (sum == 12345.678f) Sink = sum;   // keeps the loop from being removed
        }

        private static float Chains512()
        {
            var m = Vector512.Create(0.999999f); var a = Vector512.Create(1e-7f);
            Vector512<float> x0 = m, x1 = m, x2 = m, x3 = m, x4 = m, x5 = m, x6 = m, x7 = m, x8 = m, x9 = m, xa = m, xb = m;
            for (int i = 0; i < Iterations; i++)
            {
                x0 = Vector512.FusedMultiplyAdd(x0, m, a); x1 = Vector512.FusedMultiplyAdd(x1, m, a); x2 = Vector512.FusedMultiplyAdd(x2, m, a);
                x3 = Vector512.FusedMultiplyAdd(x3, m, a); x4 = Vector512.FusedMultiplyAdd(x4, m, a); x5 = Vector512.FusedMultiplyAdd(x5, m, a);
                x6 = Vector512.FusedMultiplyAdd(x6, m, a); x7 = Vector512.FusedMultiplyAdd(x7, m, a); x8 = Vector512.FusedMultiplyAdd(x8, m, a);
                x9 = Vector512.FusedMultiplyAdd(x9, m, a); xa = Vector512.FusedMultiplyAdd(xa, m, a); xb = Vector512.FusedMultiplyAdd(xb, m, a);
            }
            return Vector512.Sum(x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9 + xa + xb);
        }

        private static float Chains256()
        {
            var m = Vector256.Create(0.999999f); var a = Vector256.Create(1e-7f);
            Vector256<float> x0 = m, x1 = m, x2 = m, x3 = m, x4 = m, x5 = m, x6 = m, x7 = m, x8 = m, x9 = m, xa = m, xb = m;
            for (int i = 0; i < 2 * Iterations; i++)
            {
                x0 = Vector256.FusedMultiplyAdd(x0, m, a); x1 = Vector256.FusedMultiplyAdd(x1, m, a); x2 = Vector256.FusedMultiplyAdd(x2, m, a);
                x3 = Vector256.FusedMultiplyAdd(x3, m, a); x4 = Vector256.FusedMultiplyAdd(x4, m, a); x5 = Vector256.FusedMultiplyAdd(x5, m, a);
                x6 = Vector256.FusedMultiplyAdd(x6, m, a); x7 = Vector256.FusedMultiplyAdd(x7, m, a); x8 = Vector256.FusedMultiplyAdd(x8, m, a);
                x9 = Vector256.FusedMultiplyAdd(x9, m, a); xa = Vector256.FusedMultiplyAdd(xa, m, a); xb = Vector256.FusedMultiplyAdd(xb, m, a);
            }
            return Vector256.Sum(x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9 + xa + xb);
        }
    }
}
