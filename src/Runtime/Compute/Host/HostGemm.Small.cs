using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace GpuLstm.Runtime.Compute.Host;

/// <summary>
/// The host GEMM's paths for small products, which do not pack A: the per-step recurrent GEMMs (16 or 64 rows),
/// sampling's GEMV rows, and few-row NT products.
/// <list type="bullet">
/// <item>B rows contiguous (NN and TN): register-blocked 6×16 and 4×16 micro-kernels broadcast elements of A and
/// stream a copied KC×16 panel of B, so any A strides work without packing A; column tails use 8-wide masked
/// strips.</item>
/// <item>Fewer than <see cref="SmallM"/> rows: each row streams B once in 32-column strips.</item>
/// <item>NT with few rows: 2×4 blocks of contiguous dot products.</item>
/// </list>
/// </summary>
internal sealed unsafe partial class HostGemm
{
    private const int NR = 16, KC = 256;
    /// <summary>Products with fewer rows than this skip packing (see <see cref="RowVector"/>).</summary>
    private const int SmallM = 4;

    /// <summary>Part <paramref name="part"/> of a small product: columns (or, for NT dot products, rows) in fixed chunks.</summary>
    private void RunSmall(int part, int parts)
    {
        ref readonly var s = ref _s;
        if (_path == Path.RowVector)
        {
            // A few rows (sampling's batch of 1): each element of B is used M times, so packing B would
            // cost as much as the product. Stream B's rows once with 32-column strips instead.
            int chunks = (s.N + 31) / 32;
            int from = (int)((long)chunks * part / parts) * 32, to = Math.Min(s.N, (int)((long)chunks * (part + 1) / parts) * 32);
            for (int m = 0; m < s.M; m++) RowVector(m, from, to);
        }
        else if (_path == Path.RowPanels)
        {
            int panels = (s.N + NR - 1) / NR;
            int from = (int)((long)panels * part / parts) * NR, to = Math.Min(s.N, (int)((long)panels * (part + 1) / parts) * NR);
            RowPanels(from, to, _panels[part]);
        }
        else
        {
            int from = (int)((long)s.M * part / parts), to = (int)((long)s.M * (part + 1) / parts);
            if (_path == Path.DotBlocks) DotBlocks(from, to);
            else Scalar(from, to);
        }
    }

    /// <summary>
    /// Columns [n0, n1) of C, for B with contiguous rows, K in blocks of <see cref="KC"/>. Each KC×16 block
    /// of B is first copied into a contiguous panel: B's rows are often a power of two apart (512 floats for
    /// 4H = 512), which maps a whole strided panel onto two L1 sets and made every load an L2 load.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void RowPanels(int n0, int n1, float* panel)
    {
        int m = _s.M;
        int n16 = n0 + (n1 - n0) / NR * NR;
        for (int k0 = 0; k0 < _s.K; k0 += KC)
        {
            int kc = Math.Min(KC, _s.K - k0);
            bool first = k0 == 0;
            for (int n = n0; n < n16; n += NR)
            {
                float* src = _b + (long)k0 * _s.BRowStride + n;
                for (int k = 0; k < kc; k++)
                {
                    Vector256.Load(src).Store(panel + k * NR);
                    Vector256.Load(src + 8).Store(panel + k * NR + 8);
                    src += _s.BRowStride;
                }
                int r = 0;
                for (; r + 6 <= m; r += 6) Block6x16(r, n, k0, kc, first, panel);
                for (; r + 4 <= m; r += 4) Block4x16(r, n, k0, kc, first, panel);
                for (; r < m; r++) { Strip(r, 1, n, 8, k0, kc, first, panel, NR); Strip(r, 1, n + 8, 8, k0, kc, first, panel + 8, NR); }
            }
            for (int n = n16; n < n1; n += 8)
            {
                int width = Math.Min(8, n1 - n);
                if (width < 8 && !Avx.IsSupported)
                {
                    if (k0 + kc == _s.K) for (int j = n; j < n1; j++) for (int row = 0; row < m; row++) Element(row, j);
                    continue;
                }
                float* b = _b + (long)k0 * _s.BRowStride + n;
                int r = 0;
                for (; r + 4 <= m; r += 4) Strip(r, 4, n, width, k0, kc, first, b, _s.BRowStride);
                for (; r < m; r++) Strip(r, 1, n, width, k0, kc, first, b, _s.BRowStride);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Mask(int width) =>
        Vector256.LessThan(Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7), Vector256.Create(width)).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Load(float* p, int width) => width == 8 ? Vector256.Load(p) : Avx.MaskLoad(p, Mask(width));

    /// <summary>
    /// What a K block's accumulators start from: C's epilogue (bias, the old C) on the first block, the
    /// partial sums already in C on later ones, so C is read and written once per block.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private Vector256<float> Start(int m, int n, bool first, int width = 8)
    {
        float* c = _c + (long)m * _s.N + n;
        if (!first) return Load(c, width);
        var acc = _s.Accumulate != 0 ? Load(c, width) : Vector256<float>.Zero;
        if (_s.AddBias != 0) acc += Load(_bias + n, width);
        return acc;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Store(int m, int n, Vector256<float> acc, int width = 8)
    {
        float* c = _c + (long)m * _s.N + n;
        if (width == 8) acc.Store(c);
        else Avx.MaskStore(c, Mask(width), acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Block6x16(int m, int n, int k0, int kc, bool first, float* panel)
    {
        var c00 = Start(m, n, first); var c01 = Start(m, n + 8, first);
        var c10 = Start(m + 1, n, first); var c11 = Start(m + 1, n + 8, first);
        var c20 = Start(m + 2, n, first); var c21 = Start(m + 2, n + 8, first);
        var c30 = Start(m + 3, n, first); var c31 = Start(m + 3, n + 8, first);
        var c40 = Start(m + 4, n, first); var c41 = Start(m + 4, n + 8, first);
        var c50 = Start(m + 5, n, first); var c51 = Start(m + 5, n + 8, first);
        long ars = _s.ARowStride, acs = _s.AColStride;
        float* a = _a + m * ars + k0 * acs;
        float* b = panel;
        for (int k = 0; k < kc; k++)
        {
            var b0 = Vector256.Load(b);
            var b1 = Vector256.Load(b + 8);
            var x = Vector256.Create(a[0]);
            c00 = Vector256.FusedMultiplyAdd(x, b0, c00); c01 = Vector256.FusedMultiplyAdd(x, b1, c01);
            x = Vector256.Create(a[ars]);
            c10 = Vector256.FusedMultiplyAdd(x, b0, c10); c11 = Vector256.FusedMultiplyAdd(x, b1, c11);
            x = Vector256.Create(a[2 * ars]);
            c20 = Vector256.FusedMultiplyAdd(x, b0, c20); c21 = Vector256.FusedMultiplyAdd(x, b1, c21);
            x = Vector256.Create(a[3 * ars]);
            c30 = Vector256.FusedMultiplyAdd(x, b0, c30); c31 = Vector256.FusedMultiplyAdd(x, b1, c31);
            x = Vector256.Create(a[4 * ars]);
            c40 = Vector256.FusedMultiplyAdd(x, b0, c40); c41 = Vector256.FusedMultiplyAdd(x, b1, c41);
            x = Vector256.Create(a[5 * ars]);
            c50 = Vector256.FusedMultiplyAdd(x, b0, c50); c51 = Vector256.FusedMultiplyAdd(x, b1, c51);
            a += acs;
            b += NR;
        }
        Store(m, n, c00); Store(m, n + 8, c01);
        Store(m + 1, n, c10); Store(m + 1, n + 8, c11);
        Store(m + 2, n, c20); Store(m + 2, n + 8, c21);
        Store(m + 3, n, c30); Store(m + 3, n + 8, c31);
        Store(m + 4, n, c40); Store(m + 4, n + 8, c41);
        Store(m + 5, n, c50); Store(m + 5, n + 8, c51);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Block4x16(int m, int n, int k0, int kc, bool first, float* panel)
    {
        var c00 = Start(m, n, first); var c01 = Start(m, n + 8, first);
        var c10 = Start(m + 1, n, first); var c11 = Start(m + 1, n + 8, first);
        var c20 = Start(m + 2, n, first); var c21 = Start(m + 2, n + 8, first);
        var c30 = Start(m + 3, n, first); var c31 = Start(m + 3, n + 8, first);
        long ars = _s.ARowStride, acs = _s.AColStride;
        float* a = _a + m * ars + k0 * acs;
        float* b = panel;
        for (int k = 0; k < kc; k++)
        {
            var b0 = Vector256.Load(b);
            var b1 = Vector256.Load(b + 8);
            var x = Vector256.Create(a[0]);
            c00 = Vector256.FusedMultiplyAdd(x, b0, c00); c01 = Vector256.FusedMultiplyAdd(x, b1, c01);
            x = Vector256.Create(a[ars]);
            c10 = Vector256.FusedMultiplyAdd(x, b0, c10); c11 = Vector256.FusedMultiplyAdd(x, b1, c11);
            x = Vector256.Create(a[2 * ars]);
            c20 = Vector256.FusedMultiplyAdd(x, b0, c20); c21 = Vector256.FusedMultiplyAdd(x, b1, c21);
            x = Vector256.Create(a[3 * ars]);
            c30 = Vector256.FusedMultiplyAdd(x, b0, c30); c31 = Vector256.FusedMultiplyAdd(x, b1, c31);
            a += acs;
            b += NR;
        }
        Store(m, n, c00); Store(m, n + 8, c01);
        Store(m + 1, n, c10); Store(m + 1, n + 8, c11);
        Store(m + 2, n, c20); Store(m + 2, n + 8, c21);
        Store(m + 3, n, c30); Store(m + 3, n + 8, c31);
    }

    /// <summary>
    /// rows (1 or 4) × one column strip of <paramref name="width"/> ≤ 8, masked below 8: row tails of a panel
    /// and the columns past the last whole panel.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Strip(int m, int rows, int n, int width, int k0, int kc, bool first, float* b, long brs)
    {
        long ars = _s.ARowStride, acs = _s.AColStride;
        float* a = _a + m * ars + k0 * acs;
        var mask = Mask(width);
        if (rows == 4)
        {
            var c0 = Start(m, n, first, width); var c1 = Start(m + 1, n, first, width);
            var c2 = Start(m + 2, n, first, width); var c3 = Start(m + 3, n, first, width);
            for (int k = 0; k < kc; k++)
            {
                var y = width == 8 ? Vector256.Load(b) : Avx.MaskLoad(b, mask);
                c0 = Vector256.FusedMultiplyAdd(Vector256.Create(a[0]), y, c0);
                c1 = Vector256.FusedMultiplyAdd(Vector256.Create(a[ars]), y, c1);
                c2 = Vector256.FusedMultiplyAdd(Vector256.Create(a[2 * ars]), y, c2);
                c3 = Vector256.FusedMultiplyAdd(Vector256.Create(a[3 * ars]), y, c3);
                a += acs;
                b += brs;
            }
            Store(m, n, c0, width); Store(m + 1, n, c1, width); Store(m + 2, n, c2, width); Store(m + 3, n, c3, width);
        }
        else
        {
            var c0 = Start(m, n, first, width);
            for (int k = 0; k < kc; k++)
            {
                var y = width == 8 ? Vector256.Load(b) : Avx.MaskLoad(b, mask);
                c0 = Vector256.FusedMultiplyAdd(Vector256.Create(a[0]), y, c0);
                a += acs;
                b += brs;
            }
            Store(m, n, c0, width);
        }
    }

    /// <summary>
    /// Row m of C, columns [n0, n1): four 8-wide accumulators (32 columns) per pass over K, so four FMA chains
    /// are in flight; the last columns in masked 8-wide strips.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void RowVector(int m, int n0, int n1)
    {
        long acs = _s.AColStride, brs = _s.BRowStride;
        float* aRow = _a + (long)m * _s.ARowStride;
        int n = n0;
        for (; n + 32 <= n1; n += 32)
        {
            var c0 = Start(m, n, true); var c1 = Start(m, n + 8, true); var c2 = Start(m, n + 16, true); var c3 = Start(m, n + 24, true);
            float* a = aRow;
            float* b = _b + n;
            for (int k = 0; k < _s.K; k++)
            {
                var x = Vector256.Create(*a);
                c0 = Vector256.FusedMultiplyAdd(x, Vector256.Load(b), c0);
                c1 = Vector256.FusedMultiplyAdd(x, Vector256.Load(b + 8), c1);
                c2 = Vector256.FusedMultiplyAdd(x, Vector256.Load(b + 16), c2);
                c3 = Vector256.FusedMultiplyAdd(x, Vector256.Load(b + 24), c3);
                a += acs;
                b += brs;
            }
            Store(m, n, c0); Store(m, n + 8, c1); Store(m, n + 16, c2); Store(m, n + 24, c3);
        }
        for (; n < n1; n += 8) Strip(m, 1, n, Math.Min(8, n1 - n), 0, _s.K, true, _b + n, brs);
    }

    /// <summary>Rows [m0, m1) of C as dot products of contiguous A rows and contiguous B columns.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void DotBlocks(int m0, int m1)
    {
        int n4 = _s.N / 4 * 4;
        int m = m0;
        for (; m + 2 <= m1; m += 2)
        {
            for (int n = 0; n < n4; n += 4) Dot2x4(m, n);
            for (int n = n4; n < _s.N; n++) { Element(m, n); Element(m + 1, n); }
        }
        for (; m < m1; m++)
            for (int n = 0; n < _s.N; n++) Element(m, n);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Dot2x4(int m, int n)
    {
        int kEnd = _s.K;
        float* a0 = _a + (long)m * _s.ARowStride, a1 = a0 + _s.ARowStride;
        float* b0 = _b + (long)n * _s.BColStride, b1 = b0 + _s.BColStride, b2 = b1 + _s.BColStride, b3 = b2 + _s.BColStride;
        Vector256<float> c00 = default, c01 = default, c02 = default, c03 = default;
        Vector256<float> c10 = default, c11 = default, c12 = default, c13 = default;
        int k = 0;
        for (; k + 8 <= kEnd; k += 8)
        {
            var x0 = Vector256.Load(a0 + k); var x1 = Vector256.Load(a1 + k);
            var y = Vector256.Load(b0 + k); c00 = Vector256.FusedMultiplyAdd(x0, y, c00); c10 = Vector256.FusedMultiplyAdd(x1, y, c10);
            y = Vector256.Load(b1 + k); c01 = Vector256.FusedMultiplyAdd(x0, y, c01); c11 = Vector256.FusedMultiplyAdd(x1, y, c11);
            y = Vector256.Load(b2 + k); c02 = Vector256.FusedMultiplyAdd(x0, y, c02); c12 = Vector256.FusedMultiplyAdd(x1, y, c12);
            y = Vector256.Load(b3 + k); c03 = Vector256.FusedMultiplyAdd(x0, y, c03); c13 = Vector256.FusedMultiplyAdd(x1, y, c13);
        }
        float s00 = Vector256.Sum(c00), s01 = Vector256.Sum(c01), s02 = Vector256.Sum(c02), s03 = Vector256.Sum(c03);
        float s10 = Vector256.Sum(c10), s11 = Vector256.Sum(c11), s12 = Vector256.Sum(c12), s13 = Vector256.Sum(c13);
        for (; k < kEnd; k++)
        {
            float x0 = a0[k], x1 = a1[k];
            s00 += x0 * b0[k]; s01 += x0 * b1[k]; s02 += x0 * b2[k]; s03 += x0 * b3[k];
            s10 += x1 * b0[k]; s11 += x1 * b1[k]; s12 += x1 * b2[k]; s13 += x1 * b3[k];
        }
        Finish(m, n, s00); Finish(m, n + 1, s01); Finish(m, n + 2, s02); Finish(m, n + 3, s03);
        Finish(m + 1, n, s10); Finish(m + 1, n + 1, s11); Finish(m + 1, n + 2, s12); Finish(m + 1, n + 3, s13);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Scalar(int m0, int m1)
    {
        for (int m = m0; m < m1; m++)
            for (int n = 0; n < _s.N; n++) Element(m, n);
    }

    /// <summary>
    /// One element of C as the packed kernels compute it: one FMA chain in k order from the old C (when
    /// accumulating) plus the bias, so the scalar ISA gives the same bits as the vector ones.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Element(int m, int n)
    {
        long acs = _s.AColStride, brs = _s.BRowStride;
        long i = (long)m * _s.N + n;
        float acc = _s.Accumulate != 0 ? _c[i] : 0f;
        if (_s.AddBias != 0) acc += _bias[n];
        float* a = _a + (long)m * _s.ARowStride;
        float* b = _b + (long)n * _s.BColStride;
        for (int k = 0; k < _s.K; k++)
        {
            acc = MathF.FusedMultiplyAdd(*a, *b, acc);
            a += acs;
            b += brs;
        }
        _c[i] = acc;
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
