using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using BenchmarkDotNet.Attributes;
using GpuLstm.Runtime.Compute.Host;

namespace GpuLstm.Bench;

/// <summary>
/// Softmax cross-entropy on the host over 16 M logits per call (1,600 rows at V 10,000, the word configuration's
/// B·T; 320 rows at V 50,000), in place as training runs it, on all cores. Three variants: the shipped one
/// (<see cref="HostSoftmax"/>: the max, then exp stored and summed, then the scale, with the row in L2 after the
/// first sweep: one exponential per logit), an online softmax (max and sum in one sweep with a rescale per block
/// of four vectors, then a gradient sweep: 2.25 exponentials per logit), and the scalar loop it replaced
/// (MathF.Exp twice per logit, one thread). Rate: G logits/s; the word issue's goal is ≥ 2.
/// </summary>
[Config(typeof(ShortRunConfig))]
public unsafe class SoftmaxBenchmarks : IWorkPerCall
{
    [Params(10_000, 50_000)]
    public int V = 10_000;

    private const long Logits = 16_000_000;
    private int Rows => (int)(Logits / V);

    private WorkerPool _pool = null!;
    private HostSoftmax _softmax = null!;
    private float* _source, _x, _loss;
    private int* _targets;

    public string WorkUnit => "G logits/s";
    public double WorkPerCall(string method) => Logits;

    [GlobalSetup]
    public void Setup()
    {
        _pool = new WorkerPool(Environment.ProcessorCount);
        _softmax = new HostSoftmax(_pool);
        _source = (float*)NativeMemory.AlignedAlloc((nuint)(Logits * 4), 64);
        _x = (float*)NativeMemory.AlignedAlloc((nuint)(Logits * 4), 64);
        _loss = (float*)NativeMemory.AlignedAlloc((nuint)(Rows * 4), 64);
        _targets = (int*)NativeMemory.AlignedAlloc((nuint)(Rows * 4), 64);
        var rng = new Random(5);
        for (long i = 0; i < Logits; i++) _source[i] = (float)(rng.NextDouble() * 20 - 10);
        for (int r = 0; r < Rows; r++) _targets[r] = rng.Next(V);
    }

    /// <summary>Each call starts from the same logits (the gradient overwrites them): a copy both variants pay alike.</summary>
    [IterationSetup]
    public void Restore() => Buffer.MemoryCopy(_source, _x, Logits * 4, Logits * 4);

    [Benchmark(Baseline = true, Description = "host softmax CE: max, exp+sum, scale (shipped)")]
    public void ThreeSweeps() => _softmax.Run(Rows, V, _x, _targets, _x, _loss, 1f / Rows);

    [Benchmark(Description = "host softmax CE: online max+sum, gradient (2 sweeps, 2.25 exp/logit, one thread)")]
    public void Online()
    {
        for (int r = 0; r < Rows; r++) OnlineRow(_x + (long)r * V, V, _targets[r], 1f / Rows, out _loss[r]);
    }

    [Benchmark(Description = "scalar MathF.Exp, one thread (before)")]
    public void Scalar()
    {
        for (int r = 0; r < Rows; r++)
        {
            float* row = _x + (long)r * V;
            float max = row[0];
            for (int v = 1; v < V; v++) max = MathF.Max(max, row[v]);
            float sum = 0f;
            for (int v = 0; v < V; v++) sum += MathF.Exp(row[v] - max);
            int t = _targets[r];
            _loss[r] = MathF.Log(sum) - (row[t] - max);
            float inv = 1f / sum;
            for (int v = 0; v < V; v++) { float p = MathF.Exp(row[v] - max) * inv; row[v] = (v == t ? p - 1f : p) / Rows; }
        }
    }

    /// <summary>The online variant, one thread (V a multiple of 32 here).</summary>
    private static void OnlineRow(float* x, int vocab, int target, float scale, out float loss)
    {
        var m = Vector256.Create(float.NegativeInfinity);
        var s = Vector256<float>.Zero;
        for (int v = 0; v < vocab; v += 32)
        {
            var a = Vector256.Load(x + v); var b = Vector256.Load(x + v + 8);
            var c = Vector256.Load(x + v + 16); var e = Vector256.Load(x + v + 24);
            var next = Vector256.Max(m, Vector256.Max(Vector256.Max(a, b), Vector256.Max(c, e)));
            s = s * HostMath.Exp(m - next) + ((HostMath.Exp(a - next) + HostMath.Exp(b - next)) + (HostMath.Exp(c - next) + HostMath.Exp(e - next)));
            m = next;
        }
        float max = float.NegativeInfinity;
        for (int i = 0; i < 8; i++) max = MathF.Max(max, m.GetElement(i));
        float sum = Vector256.Sum(s * HostMath.Exp(m - Vector256.Create(max)));
        float xt = x[target];
        loss = MathF.Log(sum) - (xt - max);
        var mv = Vector256.Create(max); var inv = Vector256.Create(scale / sum);
        for (int v = 0; v < vocab; v += 8) (HostMath.Exp(Vector256.Load(x + v) - mv) * inv).Store(x + v);
        x[target] -= scale;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _pool.Dispose();
        NativeMemory.AlignedFree(_source); NativeMemory.AlignedFree(_x); NativeMemory.AlignedFree(_loss); NativeMemory.AlignedFree(_targets);
    }
}
