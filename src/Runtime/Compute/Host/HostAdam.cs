using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using GpuLstm.Kernels;

namespace GpuLstm.Runtime.Compute.Host;

/// <summary>
/// Adam over the flat parameter buffer at memory speed: each element reads p, g, m, v and writes p, m, v once
/// (28 bytes), eight at a time, and big buffers are split over the worker pool in fixed, 64-byte aligned chunks.
/// Every element is computed alone, so the split never changes a bit.
/// </summary>
internal sealed unsafe class HostAdam : IParallelWork
{
    /// <summary>Below this many parameters (1 MB of each buffer) one thread is faster than waking the others.</summary>
    private const long ParallelElements = 1L << 18;

    private readonly WorkerPool _pool;
    private float* _p, _g, _m, _v;
    private long _n;
    private AdamStepArgs _args;

    public HostAdam(WorkerPool pool) => _pool = pool;

    /// <param name="p">(n) parameters, updated in place.</param>
    /// <param name="g">(n) gradients, scaled by <see cref="AdamStepArgs.GradScale"/> as they are read.</param>
    /// <param name="m">(n) first moments, updated in place.</param>
    /// <param name="v">(n) second moments, updated in place.</param>
    public void Run(float* p, float* g, float* m, float* v, long n, in AdamStepArgs args)
    {
        _p = p; _g = g; _m = m; _v = v; _n = n; _args = args;
        _pool.Run(this, n < ParallelElements ? 1 : _pool.Threads);
    }

    void IParallelWork.Run(int part, int parts)
    {
        long lines = (_n + 15) / 16;
        long from = lines * part / parts * 16, to = Math.Min(_n, lines * (part + 1) / parts * 16);
        Update(from, to);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Update(long from, long to)
    {
        float* p = _p, g = _g, mp = _m, vp = _v;
        ref readonly var a = ref _args;
        long i = from;
        if (Vector256.IsHardwareAccelerated)
        {
            var b1 = Vector256.Create(a.Beta1); var b1c = Vector256.Create(1f - a.Beta1);
            var b2 = Vector256.Create(a.Beta2); var b2c = Vector256.Create(1f - a.Beta2);
            var step = Vector256.Create(a.StepSize); var eps = Vector256.Create(a.Epsilon); var scale = Vector256.Create(a.GradScale);
            for (; i + 8 <= to; i += 8)
            {
                var gi = Vector256.Load(g + i) * scale;
                var mi = b1 * Vector256.Load(mp + i) + b1c * gi;
                var vi = b2 * Vector256.Load(vp + i) + b2c * gi * gi;
                mi.Store(mp + i);
                vi.Store(vp + i);
                (Vector256.Load(p + i) - step * mi / (Vector256.Sqrt(vi) + eps)).Store(p + i);
            }
        }
        for (; i < to; i++)
        {
            float gi = g[i] * a.GradScale;
            float mi = a.Beta1 * mp[i] + (1f - a.Beta1) * gi;
            float vi = a.Beta2 * vp[i] + (1f - a.Beta2) * gi * gi;
            mp[i] = mi; vp[i] = vi;
            p[i] -= a.StepSize * mi / (MathF.Sqrt(vi) + a.Epsilon);
        }
    }
}
