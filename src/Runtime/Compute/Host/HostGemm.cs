using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using GpuLstm.Kernels;

namespace GpuLstm.Runtime.Compute.Host;

/// <summary>
/// SGEMM for the host, C (M,N) = [C +] op(A)·op(B) [+ bias], in the layouts the LSTM uses:
/// <list type="bullet">
/// <item>B rows contiguous (NN and TN: the forward GEMMs and every weight gradient): a 4×16 register-blocked
/// micro-kernel broadcasts four elements of A and streams one row of B per k, so any A strides work
/// without packing.</item>
/// <item>A rows and B columns contiguous in K (NT: dh = dgates·Whᵀ, dx): 2×4 blocks of dot products, so the
/// transposed weights never need a copy.</item>
/// </list>
/// Columns (or, for NT, rows) are split over the worker pool in fixed chunks, so results are bitwise
/// independent of thread timing.
/// </summary>
internal sealed unsafe class HostGemm : IParallelWork
{
    private const int MR = 4, NR = 16;
    /// <summary>Below this many FLOPs a GEMM runs on the calling thread: waking workers costs more.</summary>
    private const long ParallelFlops = 1 << 18;

    private readonly WorkerPool _pool;
    private GemmShape _s;
    private float* _a, _b, _bias, _c;

    public HostGemm(WorkerPool pool) => _pool = pool;

    public void Run(in GemmShape s, float* a, float* b, float* bias, float* c)
    {
        _s = s; _a = a; _b = b; _bias = bias; _c = c;
        int parts = s.Flops < ParallelFlops ? 1 : _pool.Threads;
        _pool.Run(this, parts);
    }

    void IParallelWork.Run(int part, int parts)
    {
        ref readonly var s = ref _s;
        if (s.BColStride == 1 && Vector256.IsHardwareAccelerated)
        {
            // Split N in whole 16-column panels.
            int panels = (s.N + NR - 1) / NR;
            int from = (int)((long)panels * part / parts) * NR, to = Math.Min(s.N, (int)((long)panels * (part + 1) / parts) * NR);
            RowPanels(from, to);
        }
        else if (s.AColStride == 1 && s.BRowStride == 1 && Vector256.IsHardwareAccelerated)
        {
            int from = (int)((long)s.M * part / parts), to = (int)((long)s.M * (part + 1) / parts);
            DotBlocks(from, to);
        }
        else
        {
            int from = (int)((long)s.M * part / parts), to = (int)((long)s.M * (part + 1) / parts);
            Scalar(from, to);
        }
    }

    /// <summary>Columns [n0, n1) of C, for B with contiguous rows.</summary>
    private void RowPanels(int n0, int n1)
    {
        ref readonly var s = ref _s;
        int m = 0;
        for (; m + MR <= s.M; m += MR)
        {
            int n = n0;
            for (; n + NR <= n1; n += NR) Block4x16(m, n);
            for (; n < n1; n++)
                for (int r = 0; r < MR; r++) Element(m + r, n);
        }
        for (; m < s.M; m++)
        {
            int n = n0;
            for (; n + 8 <= n1; n += 8) Block1x8(m, n);
            for (; n < n1; n++) Element(m, n);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Block4x16(int m, int n)
    {
        ref readonly var s = ref _s;
        var c00 = Vector256<float>.Zero; var c01 = Vector256<float>.Zero;
        var c10 = Vector256<float>.Zero; var c11 = Vector256<float>.Zero;
        var c20 = Vector256<float>.Zero; var c21 = Vector256<float>.Zero;
        var c30 = Vector256<float>.Zero; var c31 = Vector256<float>.Zero;
        float* a0 = _a + (long)m * s.ARowStride;
        long ars = s.ARowStride, acs = s.AColStride;
        float* b = _b + n;
        for (int k = 0; k < s.K; k++)
        {
            var b0 = Vector256.Load(b);
            var b1 = Vector256.Load(b + 8);
            var a = Vector256.Create(a0[0]);
            c00 = Vector256.FusedMultiplyAdd(a, b0, c00); c01 = Vector256.FusedMultiplyAdd(a, b1, c01);
            a = Vector256.Create(a0[ars]);
            c10 = Vector256.FusedMultiplyAdd(a, b0, c10); c11 = Vector256.FusedMultiplyAdd(a, b1, c11);
            a = Vector256.Create(a0[2 * ars]);
            c20 = Vector256.FusedMultiplyAdd(a, b0, c20); c21 = Vector256.FusedMultiplyAdd(a, b1, c21);
            a = Vector256.Create(a0[3 * ars]);
            c30 = Vector256.FusedMultiplyAdd(a, b0, c30); c31 = Vector256.FusedMultiplyAdd(a, b1, c31);
            a0 += acs;
            b += s.BRowStride;
        }
        Store(m, n, c00); Store(m, n + 8, c01);
        Store(m + 1, n, c10); Store(m + 1, n + 8, c11);
        Store(m + 2, n, c20); Store(m + 2, n + 8, c21);
        Store(m + 3, n, c30); Store(m + 3, n + 8, c31);
    }

    private void Block1x8(int m, int n)
    {
        ref readonly var s = ref _s;
        var acc = Vector256<float>.Zero;
        float* a = _a + (long)m * s.ARowStride;
        float* b = _b + n;
        for (int k = 0; k < s.K; k++)
        {
            acc = Vector256.FusedMultiplyAdd(Vector256.Create(*a), Vector256.Load(b), acc);
            a += s.AColStride;
            b += s.BRowStride;
        }
        Store(m, n, acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Store(int m, int n, Vector256<float> acc)
    {
        float* c = _c + (long)m * _s.N + n;
        if (_s.AddBias != 0) acc += Vector256.Load(_bias + n);
        if (_s.Accumulate != 0) acc += Vector256.Load(c);
        acc.Store(c);
    }

    /// <summary>Rows [m0, m1) of C as dot products of contiguous A rows and contiguous B columns.</summary>
    private void DotBlocks(int m0, int m1)
    {
        ref readonly var s = ref _s;
        int m = m0;
        for (; m + 2 <= m1; m += 2)
        {
            int n = 0;
            for (; n + 4 <= s.N; n += 4) Dot2x4(m, n);
            for (; n < s.N; n++) { Element(m, n); Element(m + 1, n); }
        }
        for (; m < m1; m++)
            for (int n = 0; n < s.N; n++) Element(m, n);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Dot2x4(int m, int n)
    {
        ref readonly var s = ref _s;
        float* a0 = _a + (long)m * s.ARowStride, a1 = a0 + s.ARowStride;
        float* b0 = _b + (long)n * s.BColStride, b1 = b0 + s.BColStride, b2 = b1 + s.BColStride, b3 = b2 + s.BColStride;
        Vector256<float> c00 = default, c01 = default, c02 = default, c03 = default;
        Vector256<float> c10 = default, c11 = default, c12 = default, c13 = default;
        int k = 0;
        for (; k + 8 <= s.K; k += 8)
        {
            var x0 = Vector256.Load(a0 + k); var x1 = Vector256.Load(a1 + k);
            var y = Vector256.Load(b0 + k); c00 = Vector256.FusedMultiplyAdd(x0, y, c00); c10 = Vector256.FusedMultiplyAdd(x1, y, c10);
            y = Vector256.Load(b1 + k); c01 = Vector256.FusedMultiplyAdd(x0, y, c01); c11 = Vector256.FusedMultiplyAdd(x1, y, c11);
            y = Vector256.Load(b2 + k); c02 = Vector256.FusedMultiplyAdd(x0, y, c02); c12 = Vector256.FusedMultiplyAdd(x1, y, c12);
            y = Vector256.Load(b3 + k); c03 = Vector256.FusedMultiplyAdd(x0, y, c03); c13 = Vector256.FusedMultiplyAdd(x1, y, c13);
        }
        Span<float> sums = stackalloc float[8]
        {
            Vector256.Sum(c00), Vector256.Sum(c01), Vector256.Sum(c02), Vector256.Sum(c03),
            Vector256.Sum(c10), Vector256.Sum(c11), Vector256.Sum(c12), Vector256.Sum(c13),
        };
        for (; k < s.K; k++)
        {
            float x0 = a0[k], x1 = a1[k];
            sums[0] += x0 * b0[k]; sums[1] += x0 * b1[k]; sums[2] += x0 * b2[k]; sums[3] += x0 * b3[k];
            sums[4] += x1 * b0[k]; sums[5] += x1 * b1[k]; sums[6] += x1 * b2[k]; sums[7] += x1 * b3[k];
        }
        for (int r = 0; r < 2; r++)
            for (int j = 0; j < 4; j++) Finish(m + r, n + j, sums[r * 4 + j]);
    }

    private void Scalar(int m0, int m1)
    {
        for (int m = m0; m < m1; m++)
            for (int n = 0; n < _s.N; n++) Element(m, n);
    }

    private void Element(int m, int n)
    {
        ref readonly var s = ref _s;
        float acc = 0;
        float* a = _a + (long)m * s.ARowStride;
        float* b = _b + (long)n * s.BColStride;
        for (int k = 0; k < s.K; k++)
        {
            acc = MathF.FusedMultiplyAdd(*a, *b, acc);
            a += s.AColStride;
            b += s.BRowStride;
        }
        Finish(m, n, acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Finish(int m, int n, float acc)
    {
        long i = (long)m * _s.N + n;
        if (_s.AddBias != 0) acc += _bias[n];
        if (_s.Accumulate != 0) acc += _c[i];
        _c[i] = acc;
    }
}
