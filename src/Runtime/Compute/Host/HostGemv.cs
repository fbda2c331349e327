using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using GpuLstm.Kernels;

namespace GpuLstm.Runtime.Compute.Host;

/// <summary>
/// C (M,N) = [C +] A (M,K) · B (K,N) [+ bias] for a few rows (M ≤ 3) and B's rows contiguous: sampling's
/// products at batch 1, where each weight is read once per token and the speed is the memory's. B is
/// streamed row after row, the only order in which every read is sequential, four rows at a time, into a
/// stretch of C's row that stays in L1; the columns are split over the threads in whole cache lines.
/// Each element is one chain of multiply-adds in k order from C's start value, as <see cref="HostGemm"/>
/// computes it, so the results are those of the other host paths bit for bit.
/// </summary>
internal sealed unsafe class HostGemv : IParallelWork
{
    /// <summary>Products with fewer rows than this come here.</summary>
    public const int MaxRows = 4;
    /// <summary>Columns of C kept in L1 while B's rows stream past: 8 KB a row.</summary>
    private const int Stretch = 2048;
    /// <summary>Columns per part come in whole 64-byte lines.</summary>
    private const int Line = 16;
    /// <summary>Below this many elements of B (256 KB) one thread streams it faster than two can meet.</summary>
    public const long ParallelElements = 1L << 16;

    private readonly WorkerPool _pool;
    private readonly bool _wide;
    private GemmShape _s;
    private float* _a, _b, _bias, _c;

    /// <param name="wide">AVX-512 registers (<see cref="Lanes16"/>) rather than AVX2 ones.</param>
    public HostGemv(WorkerPool pool, bool wide)
    {
        _pool = pool;
        _wide = wide;
    }

    /// <summary>True for the products this class takes: fewer than <see cref="MaxRows"/> rows, B's rows contiguous.</summary>
    public static bool Takes(in GemmShape s) => s.M < MaxRows && s.BColStride == 1 && s.BRowStride >= s.N;

    public void Run(in GemmShape s, float* a, float* b, float* bias, float* c)
    {
        _s = s; _a = a; _b = b; _bias = bias; _c = c;
        int lines = (s.N + Line - 1) / Line;
        int parts = (long)s.K * s.N < ParallelElements ? 1 : Math.Min(_pool.Threads, lines);
        _pool.Run(this, parts);
    }

    void IParallelWork.Run(int part, int parts)
    {
        int lines = (_s.N + Line - 1) / Line;
        int n0 = (int)((long)lines * part / parts) * Line, n1 = Math.Min(_s.N, (int)((long)lines * (part + 1) / parts) * Line);
        for (int n = n0; n < n1; n += Stretch)
        {
            int end = Math.Min(n1, n + Stretch);
            if (_wide) Columns<Lanes16>(n, end);
            else Columns<Lanes8>(n, end);
        }
    }

    /// <summary>Columns [n0, n1) of every row of C: start values, then B's rows four at a time.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Columns<TL>(int n0, int n1) where TL : struct, ILanes<TL>
    {
        ref readonly var s = ref _s;
        int m = s.M, k = s.K, w = TL.Count;
        long brs = s.BRowStride;
        for (int r = 0; r < m; r++)
        {
            float* c = _c + (long)r * s.N;
            // The start value, as the blocked GEMM forms it: C (or 0), then + bias.
            for (int n = n0; n < n1; n++)
            {
                float start = s.Accumulate != 0 ? c[n] : 0f;
                if (s.AddBias != 0) start += _bias[n];
                c[n] = start;
            }
        }
        int vectorEnd = n0 + (n1 - n0) / w * w;
        int kk = 0;
        for (; kk + 4 <= k; kk += 4)
        {
            float* b0 = _b + kk * brs, b1 = b0 + brs, b2 = b1 + brs, b3 = b2 + brs;
            for (int r = 0; r < m; r++)
            {
                float* a = _a + r * s.ARowStride + kk * s.AColStride;
                float x0 = a[0], x1 = a[s.AColStride], x2 = a[2 * s.AColStride], x3 = a[3 * s.AColStride];
                var v0 = TL.Broadcast(x0); var v1 = TL.Broadcast(x1); var v2 = TL.Broadcast(x2); var v3 = TL.Broadcast(x3);
                float* c = _c + (long)r * s.N;
                int n = n0;
                for (; n < vectorEnd; n += w)
                {
                    var y = TL.Load(c + n);
                    y = TL.MultiplyAdd(v0, TL.Load(b0 + n), y);
                    y = TL.MultiplyAdd(v1, TL.Load(b1 + n), y);
                    y = TL.MultiplyAdd(v2, TL.Load(b2 + n), y);
                    y = TL.MultiplyAdd(v3, TL.Load(b3 + n), y);
                    y.Store(c + n);
                }
                for (; n < n1; n++)
                {
                    float y = c[n];
                    y = MathF.FusedMultiplyAdd(x0, b0[n], y);
                    y = MathF.FusedMultiplyAdd(x1, b1[n], y);
                    y = MathF.FusedMultiplyAdd(x2, b2[n], y);
                    y = MathF.FusedMultiplyAdd(x3, b3[n], y);
                    c[n] = y;
                }
            }
        }
        for (; kk < k; kk++)
        {
            float* b0 = _b + kk * brs;
            for (int r = 0; r < m; r++)
            {
                float x0 = _a[r * s.ARowStride + kk * s.AColStride];
                var v0 = TL.Broadcast(x0);
                float* c = _c + (long)r * s.N;
                int n = n0;
                for (; n < vectorEnd; n += w) TL.MultiplyAdd(v0, TL.Load(b0 + n), TL.Load(c + n)).Store(c + n);
                for (; n < n1; n++) c[n] = MathF.FusedMultiplyAdd(x0, b0[n], c[n]);
            }
        }
    }
}
