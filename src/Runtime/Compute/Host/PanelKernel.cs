using System.Runtime.CompilerServices;

namespace GpuLstm.Runtime.Compute.Host;

/// <summary>
/// C (M, w) += A (M, K) · P (K, w) for a packed panel P of w = 2 registers' width (16 columns with AVX2, 32 with
/// AVX-512), A's rows strided in memory and broadcast one element at a time: the register-blocked micro-kernel
/// of the fused recurrence (<see cref="HostRecurrence"/>). Rows go in blocks of 6 (AVX2: 12 accumulators of
/// 16 registers) or 8 (AVX-512: 16 of 32), remainders in one smaller block. Each element of C is one chain of
/// multiply-adds in k order starting from C's old value, as the other host GEMMs compute it, so the result is
/// the same whatever the register width or the split of C over threads.
/// </summary>
internal static unsafe class PanelKernel
{
    /// <summary>Rows per register block for lanes of <paramref name="laneCount"/> floats.</summary>
    public static int RowBlock(int laneCount) => laneCount == 8 ? 6 : 8;

    /// <summary>Floats of scratch <see cref="Multiply{TL}"/> needs for a partial panel (fewer than w columns).</summary>
    public static int ScratchLength(int laneCount) => RowBlock(laneCount) * 2 * laneCount;

    /// <summary>
    /// C (rows, columns) += A (rows, k) · P (k, 2·TL.Count), for columns ≤ 2·TL.Count: a partial panel (the
    /// last units of a range) goes through <paramref name="scratch"/> so nothing past C's columns is touched.
    /// a: row r at a + r·lda. c: row r at c + r·ldc.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Multiply<TL>(int rows, float* a, long lda, float* panel, int k, float* c, long ldc, int columns, float* scratch)
        where TL : struct, ILanes<TL>
    {
        int width = 2 * TL.Count, block = RowBlock(TL.Count);
        for (int r = 0; r < rows; r += block)
        {
            int count = Math.Min(block, rows - r);
            float* ar = a + r * lda, cr = c + r * ldc;
            if (columns == width)
            {
                Block<TL>(count, ar, lda, panel, k, cr, ldc);
                continue;
            }
            for (int i = 0; i < count; i++)
            {
                new ReadOnlySpan<float>(cr + i * ldc, columns).CopyTo(new Span<float>(scratch + i * width, columns));
                new Span<float>(scratch + i * width + columns, width - columns).Clear();
            }
            Block<TL>(count, ar, lda, panel, k, scratch, width);
            for (int i = 0; i < count; i++)
                new ReadOnlySpan<float>(scratch + i * width, columns).CopyTo(new Span<float>(cr + i * ldc, columns));
        }
    }

    private static void Block<TL>(int count, float* a, long lda, float* panel, int k, float* c, long ldc) where TL : struct, ILanes<TL>
    {
        switch (count)
        {
            case 1: Tile<TL, C1>(a, lda, panel, k, c, ldc); break;
            case 2: Tile<TL, C2>(a, lda, panel, k, c, ldc); break;
            case 3: Tile<TL, C3>(a, lda, panel, k, c, ldc); break;
            case 4: Tile<TL, C4>(a, lda, panel, k, c, ldc); break;
            case 5: Tile<TL, C5>(a, lda, panel, k, c, ldc); break;
            case 6: Tile<TL, C6>(a, lda, panel, k, c, ldc); break;
            case 7: Tile<TL, C7>(a, lda, panel, k, c, ldc); break;
            default: Tile<TL, C8>(a, lda, panel, k, c, ldc); break;
        }
    }

    /// <summary>
    /// TR.Value rows (1–8) × 2 registers: the accumulators start from C, take one multiply-add per k, and go
    /// back to C. TR.Value is a constant for each instantiation, so the rows' branches vanish when compiled.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile<TL, TR>(float* a, long lda, float* panel, int k, float* c, long ldc)
        where TL : struct, ILanes<TL> where TR : struct, IConstant
    {
        int w = TL.Count, n = TR.Value;
        float* a1 = a + lda, a2 = a1 + lda, a3 = a2 + lda, a4 = a3 + lda, a5 = a4 + lda, a6 = a5 + lda, a7 = a6 + lda;
        TL c00 = TL.Load(c), c01 = TL.Load(c + w);
        TL c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default;
        TL c40 = default, c41 = default, c50 = default, c51 = default, c60 = default, c61 = default, c70 = default, c71 = default;
        if (n > 1) { c10 = TL.Load(c + ldc); c11 = TL.Load(c + ldc + w); }
        if (n > 2) { c20 = TL.Load(c + 2 * ldc); c21 = TL.Load(c + 2 * ldc + w); }
        if (n > 3) { c30 = TL.Load(c + 3 * ldc); c31 = TL.Load(c + 3 * ldc + w); }
        if (n > 4) { c40 = TL.Load(c + 4 * ldc); c41 = TL.Load(c + 4 * ldc + w); }
        if (n > 5) { c50 = TL.Load(c + 5 * ldc); c51 = TL.Load(c + 5 * ldc + w); }
        if (n > 6) { c60 = TL.Load(c + 6 * ldc); c61 = TL.Load(c + 6 * ldc + w); }
        if (n > 7) { c70 = TL.Load(c + 7 * ldc); c71 = TL.Load(c + 7 * ldc + w); }
        float* p = panel;
        for (int kk = 0; kk < k; kk++, p += 2 * w)
        {
            var b0 = TL.Load(p);
            var b1 = TL.Load(p + w);
            var x = TL.Broadcast(a[kk]);
            c00 = TL.MultiplyAdd(x, b0, c00); c01 = TL.MultiplyAdd(x, b1, c01);
            if (n > 1) { x = TL.Broadcast(a1[kk]); c10 = TL.MultiplyAdd(x, b0, c10); c11 = TL.MultiplyAdd(x, b1, c11); }
            if (n > 2) { x = TL.Broadcast(a2[kk]); c20 = TL.MultiplyAdd(x, b0, c20); c21 = TL.MultiplyAdd(x, b1, c21); }
            if (n > 3) { x = TL.Broadcast(a3[kk]); c30 = TL.MultiplyAdd(x, b0, c30); c31 = TL.MultiplyAdd(x, b1, c31); }
            if (n > 4) { x = TL.Broadcast(a4[kk]); c40 = TL.MultiplyAdd(x, b0, c40); c41 = TL.MultiplyAdd(x, b1, c41); }
            if (n > 5) { x = TL.Broadcast(a5[kk]); c50 = TL.MultiplyAdd(x, b0, c50); c51 = TL.MultiplyAdd(x, b1, c51); }
            if (n > 6) { x = TL.Broadcast(a6[kk]); c60 = TL.MultiplyAdd(x, b0, c60); c61 = TL.MultiplyAdd(x, b1, c61); }
            if (n > 7) { x = TL.Broadcast(a7[kk]); c70 = TL.MultiplyAdd(x, b0, c70); c71 = TL.MultiplyAdd(x, b1, c71); }
        }
        c00.Store(c); c01.Store(c + w);
        if (n > 1) { c10.Store(c + ldc); c11.Store(c + ldc + w); }
        if (n > 2) { c20.Store(c + 2 * ldc); c21.Store(c + 2 * ldc + w); }
        if (n > 3) { c30.Store(c + 3 * ldc); c31.Store(c + 3 * ldc + w); }
        if (n > 4) { c40.Store(c + 4 * ldc); c41.Store(c + 4 * ldc + w); }
        if (n > 5) { c50.Store(c + 5 * ldc); c51.Store(c + 5 * ldc + w); }
        if (n > 6) { c60.Store(c + 6 * ldc); c61.Store(c + 6 * ldc + w); }
        if (n > 7) { c70.Store(c + 7 * ldc); c71.Store(c + 7 * ldc + w); }
    }
}
