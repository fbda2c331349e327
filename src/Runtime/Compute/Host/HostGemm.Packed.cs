using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using unsafe Kernel = delegate*<int, float*, float*, float*, long, float*, bool, void>;

namespace GpuLstm.Runtime.Compute.Host;

/// <summary>The packed (GotoBLAS/BLIS) path for big products.</summary>
internal sealed unsafe partial class HostGemm
{

    /// <summary>Products with at least this many rows take the packed path.</summary>
    internal const int PackedMinRows = 64;

    /// <summary>
    /// Register and cache blocking for one ISA, and its kernels: the main MR×NR one and smaller ones for the edges of
    /// C, whose A micro-panels are packed <see cref="RowSteps"/> rows wide and B micro-panels <see cref="Widths"/>
    /// columns wide, so a 64-row product with MR = 12 ends in one 4-row tile rather than 12 with 8 rows of padding.
    /// </summary>
    internal sealed class Blocking
    {
        public int MR, NR, MC, KC, NC;
        /// <summary>Row counts of the kernels, ascending, the last MR.</summary>
        public int[] RowSteps = [];
        /// <summary>Column counts of the kernels, ascending, the last NR.</summary>
        public int[] Widths = [];
        /// <summary>Kernel for RowSteps[i] × Widths[j] at [i·Widths.Length + j].</summary>
        public IntPtr[] Kernels = [];

        public static Blocking For(HostIsa isa, int mr = 0)
        {
            if (isa == HostIsa.Avx512)
            {
                mr = mr > 0 ? mr : 12;
                var steps = new[] { 4, 8, 12, mr }.Where(r => r <= mr).Distinct().ToArray();
                return new Blocking
                {
                    MR = mr, NR = 32, MC = 192, KC = 512, NC = 2048,
                    RowSteps = steps, Widths = [8, 16, 32],
                    Kernels = steps.SelectMany(r => new[] { Tile256(r, 1), Tile512(r, 1), Tile512(r, 2) }).ToArray(),
                };
            }
            return new Blocking
            {
                MR = 6, NR = 16, MC = 144, KC = 256, NC = 2048,
                RowSteps = [2, 4, 6], Widths = [8, 16],
                Kernels = new[] { 2, 4, 6 }.SelectMany(r => new[] { Tile256(r, 1), Tile256(r, 2) }).ToArray(),
            };
        }

        /// <summary>The same kernels with other cache blocks (MC and NC rounded to whole tiles).</summary>
        public Blocking WithCacheBlocks(int mc, int kc, int nc) => new()
        {
            MR = MR, NR = NR, MC = Math.Max(MR, mc / MR * MR), KC = Math.Max(1, kc), NC = Math.Max(NR, nc / NR * NR),
            RowSteps = RowSteps, Widths = Widths, Kernels = Kernels,
        };

        private static IntPtr P(Kernel kernel) => (IntPtr)kernel;

        private static IntPtr Tile256(int rows, int cols) => (rows, cols) switch
        {
            (2, 1) => P(&HostGemmKernels.Tile256<C2, C1>),
            (2, 2) => P(&HostGemmKernels.Tile256<C2, C2>),
            (4, 1) => P(&HostGemmKernels.Tile256<C4, C1>),
            (4, 2) => P(&HostGemmKernels.Tile256<C4, C2>),
            (6, 1) => P(&HostGemmKernels.Tile256<C6, C1>),
            (6, 2) => P(&HostGemmKernels.Tile256<C6, C2>),
            (8, 1) => P(&HostGemmKernels.Tile256<C8, C1>),
            (12, 1) => P(&HostGemmKernels.Tile256<C12, C1>),
            (14, 1) => P(&HostGemmKernels.Tile256<C14, C1>),
            _ => throw new ArgumentOutOfRangeException(nameof(rows), $"no Vector256 kernel for {rows}×{cols * 8}"),
        };

        private static IntPtr Tile512(int rows, int cols) => (rows, cols) switch
        {
            (4, 1) => P(&HostGemmKernels.Tile512<C4, C1>),
            (4, 2) => P(&HostGemmKernels.Tile512<C4, C2>),
            (8, 1) => P(&HostGemmKernels.Tile512<C8, C1>),
            (8, 2) => P(&HostGemmKernels.Tile512<C8, C2>),
            (12, 1) => P(&HostGemmKernels.Tile512<C12, C1>),
            (12, 2) => P(&HostGemmKernels.Tile512<C12, C2>),
            (14, 1) => P(&HostGemmKernels.Tile512<C14, C1>),
            (14, 2) => P(&HostGemmKernels.Tile512<C14, C2>),
            _ => throw new ArgumentOutOfRangeException(nameof(rows), $"no Vector512 kernel for {rows}×{cols * 16}"),
        };

        /// <summary>The smallest of <paramref name="steps"/> that covers <paramref name="n"/>, and its index.</summary>
        public static int Cover(int[] steps, int n, out int index)
        {
            index = 0;
            while (steps[index] < n) index++;
            return steps[index];
        }
    }

    private Blocking _blocking;
    internal Blocking Blocks { get => _blocking; set => _blocking = value; }

    /// <summary>One worker's packing buffers: A (MC×KC), B (KC×NC) and one MR×NR tile for C's edges.</summary>
    private sealed class Pack : IDisposable
    {
        public readonly float* A, B, Tile;

        public Pack(Blocking bl)
        {
            A = Alloc((long)(bl.MC + bl.MR) * bl.KC);
            B = Alloc((long)bl.KC * (bl.NC + bl.NR));
            Tile = Alloc((long)bl.MR * bl.NR);
        }

        private static float* Alloc(long floats) => (float*)NativeMemory.AlignedAlloc((nuint)(floats * sizeof(float)), 64);

        public void Dispose()
        {
            NativeMemory.AlignedFree(A);
            NativeMemory.AlignedFree(B);
            NativeMemory.AlignedFree(Tile);
        }
    }

    private readonly Pack?[] _packs;
    /// <summary>The split of the current packed product: rows (each part packs all of B) or columns (all of A).</summary>
    private bool _splitRows;

    /// <summary>
    /// Splits rows when B (K×N) is the smaller operand, since every part packs all of the operand it shares, else
    /// columns; in whole MR or NR tiles, so no part is left without work unless there are fewer tiles than parts.
    /// </summary>
    private int PrepareSplit(int parts)
    {
        var bl = _blocking;
        int rowTiles = (_s.M + bl.MR - 1) / bl.MR, colTiles = (_s.N + bl.NR - 1) / bl.NR;
        _splitRows = _s.N <= _s.M ? rowTiles >= parts || colTiles < parts : colTiles < parts;
        return Math.Min(parts, _splitRows ? rowTiles : colTiles);
    }

    private void RunPacked(int part, int parts)
    {
        var bl = _blocking;
        int m0 = 0, m1 = _s.M, n0 = 0, n1 = _s.N;
        if (_splitRows)
        {
            int tiles = (_s.M + bl.MR - 1) / bl.MR;
            m0 = (int)((long)tiles * part / parts) * bl.MR;
            m1 = Math.Min(_s.M, (int)((long)tiles * (part + 1) / parts) * bl.MR);
        }
        else
        {
            int tiles = (_s.N + bl.NR - 1) / bl.NR;
            n0 = (int)((long)tiles * part / parts) * bl.NR;
            n1 = Math.Min(_s.N, (int)((long)tiles * (part + 1) / parts) * bl.NR);
        }
        if (m0 >= m1 || n0 >= n1) return;
        var pack = _packs[part] ??= new Pack(bl);
        Blocked(m0, m1, n0, n1, pack);
    }

    /// <summary>
    /// <paramref name="total"/> in equal blocks of at most <paramref name="max"/>, rounded up to a multiple of
    /// <paramref name="multiple"/>: K = 600 with KC = 384 runs as 2×300, not 384 + 216.
    /// </summary>
    private static int Even(int total, int max, int multiple)
    {
        max = Math.Max(multiple, max / multiple * multiple);
        int blocks = (total + max - 1) / max;
        int size = (total + blocks - 1) / blocks;
        return Math.Min(max, (size + multiple - 1) / multiple * multiple);
    }

    /// <summary>C[m0..m1, n0..n1): jc (NC) → pc (KC) → pack B → ic (MC) → pack A → jr (NR) → ir (MR).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Blocked(int m0, int m1, int n0, int n1, Pack pack)
    {
        var bl = _blocking;
        int mr = bl.MR, nr = bl.NR;
        int ncMax = Even(n1 - n0, bl.NC, nr), kcMax = Even(_s.K, bl.KC, 1), mcMax = Even(m1 - m0, bl.MC, mr);
        for (int jc = n0; jc < n1; jc += ncMax)
        {
            int nc = Math.Min(ncMax, n1 - jc);
            for (int pc = 0; pc < _s.K; pc += kcMax)
            {
                int kc = Math.Min(kcMax, _s.K - pc);
                PackB(pc, kc, jc, nc, pack.B);
                for (int ic = m0; ic < m1; ic += mcMax)
                {
                    int mc = Math.Min(mcMax, m1 - ic);
                    PackA(ic, mc, pc, kc, pack.A);
                    for (int jr = 0; jr < nc; jr += nr)
                    {
                        int cols = Math.Min(nr, nc - jr), width = Blocking.Cover(bl.Widths, cols, out int wi);
                        for (int ir = 0; ir < mc; ir += mr)
                        {
                            int rows = Math.Min(mr, mc - ir), height = Blocking.Cover(bl.RowSteps, rows, out int ri);
                            Tile((Kernel)bl.Kernels[ri * bl.Widths.Length + wi], kc, pack.A + (long)ir * kc, pack.B + (long)jr * kc,
                                ic + ir, jc + jr, rows, cols, height, width, pc == 0, pack.Tile);
                        }
                    }
                }
            }
        }
    }

    /// <summary>Rows [ic, ic + mc) × K block [pc, pc + kc) of op(A) as MR-row micro-panels, the last one as few rows as its kernel.</summary>
    private void PackA(int ic, int mc, int pc, int kc, float* dst)
    {
        var bl = _blocking;
        long ars = _s.ARowStride, acs = _s.AColStride;
        for (int ir = 0; ir < mc; ir += bl.MR)
        {
            int rows = Math.Min(bl.MR, mc - ir);
            PackPanel(_a + (ic + ir) * ars + pc * acs, ars, acs, rows, kc, Blocking.Cover(bl.RowSteps, rows, out _), dst + (long)ir * kc);
        }
    }

    /// <summary>K block [pc, pc + kc) × columns [jc, jc + nc) of op(B) as NR-wide micro-panels, the last one as narrow as its kernel.</summary>
    private void PackB(int pc, int kc, int jc, int nc, float* dst)
    {
        var bl = _blocking;
        long brs = _s.BRowStride, bcs = _s.BColStride;
        for (int jr = 0; jr < nc; jr += bl.NR)
        {
            int cols = Math.Min(bl.NR, nc - jr);
            PackPanel(_b + pc * brs + (jc + jr) * bcs, bcs, brs, cols, kc, Blocking.Cover(bl.Widths, cols, out _), dst + (long)jr * kc);
        }
    }

    /// <summary>
    /// One tile of C over one K block, with the kernel for height × width. Tiles that fill it run on C itself; the
    /// others on a zero-padded copy whose start values are computed as the kernel would, so they give the same bits.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Tile(Kernel kernel, int kc, float* ap, float* bp, int row, int col, int rows, int cols, int height, int width,
        bool first, float* tile)
    {
        long ldc = _s.N;
        float* c = _c + row * ldc + col;
        float* bias = first && _s.AddBias != 0 ? _bias + col : null;
        bool loadC = !first || _s.Accumulate != 0;
        if (rows == height && cols == width)
        {
            kernel(kc, ap, bp, c, ldc, bias, loadC);
            return;
        }
        for (int r = 0; r < height; r++)
            for (int j = 0; j < width; j++)
            {
                float v = 0f;
                if (r < rows && j < cols)
                {
                    v = loadC ? c[r * ldc + j] : 0f;
                    if (bias != null) v += bias[j];
                }
                tile[r * width + j] = v;
            }
        kernel(kc, ap, bp, tile, width, null, true);
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < cols; j++)
                c[r * ldc + j] = tile[r * width + j];
    }

    /// <summary>
    /// One micro-panel: dst[k·width + r] = src[r·rs + k·ks] for r &lt; rows, k &lt; kc, zero for rows ≤ r &lt; width.
    /// rs = 1 (B in NN/TN, A in TN) copies a run of floats per k; ks = 1 (A in NN/NT, B in NT) transposes, 8×8 or 4×8
    /// blocks at a time with AVX shuffles.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackPanel(float* src, long rs, long ks, int rows, int kc, int width, float* dst)
    {
        if (rs == 1)
        {
            for (int k = 0; k < kc; k++, src += ks, dst += width)
            {
                int r = 0;
                for (; r + 8 <= rows; r += 8) Vector256.Store(Vector256.Load(src + r), dst + r);
                for (; r + 4 <= rows; r += 4) Vector128.Store(Vector128.Load(src + r), dst + r);
                for (; r < rows; r++) dst[r] = src[r];
                for (; r < width; r++) dst[r] = 0f;
            }
            return;
        }
        if (rows < width)
            for (int k = 0; k < kc; k++)
                for (int r = rows; r < width; r++) dst[k * width + r] = 0f;
        if (ks == 1)
        {
            int r = 0, k8 = Avx.IsSupported ? kc & ~7 : 0;
            for (; r + 8 <= rows; r += 8)
                for (int k = 0; k < k8; k += 8) Transpose8x8(src + r * rs + k, rs, dst + k * width + r, width);
            for (; r + 4 <= rows; r += 4)
                for (int k = 0; k < k8; k += 8) Transpose4x8(src + r * rs + k, rs, dst + k * width + r, width);
            int vectorRows = r;
            for (r = 0; r < rows; r++)
            {
                float* s = src + r * rs;
                float* d = dst + r;
                for (int k = r < vectorRows ? k8 : 0; k < kc; k++) d[k * width] = s[k];
            }
            return;
        }
        for (int r = 0; r < rows; r++)
            for (int k = 0; k < kc; k++) dst[k * width + r] = src[r * rs + k * ks];
    }

    /// <summary>Rows 0..7 (<paramref name="rs"/> apart) × 8 consecutive k of src → 8 runs of 8 floats, <paramref name="ld"/> apart.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose8x8(float* src, long rs, float* dst, int ld)
    {
        var r0 = Avx.LoadVector256(src); var r1 = Avx.LoadVector256(src + rs);
        var r2 = Avx.LoadVector256(src + 2 * rs); var r3 = Avx.LoadVector256(src + 3 * rs);
        var r4 = Avx.LoadVector256(src + 4 * rs); var r5 = Avx.LoadVector256(src + 5 * rs);
        var r6 = Avx.LoadVector256(src + 6 * rs); var r7 = Avx.LoadVector256(src + 7 * rs);
        // Pairs of rows interleaved, then quads: s_j holds k = j (low lane) and k = j + 4 (high lane) of rows 0..3 / 4..7.
        var t0 = Avx.UnpackLow(r0, r1); var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3); var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5); var t5 = Avx.UnpackHigh(r4, r5);
        var t6 = Avx.UnpackLow(r6, r7); var t7 = Avx.UnpackHigh(r6, r7);
        var s0 = Avx.Shuffle(t0, t2, 0x44); var s1 = Avx.Shuffle(t0, t2, 0xEE);
        var s2 = Avx.Shuffle(t1, t3, 0x44); var s3 = Avx.Shuffle(t1, t3, 0xEE);
        var s4 = Avx.Shuffle(t4, t6, 0x44); var s5 = Avx.Shuffle(t4, t6, 0xEE);
        var s6 = Avx.Shuffle(t5, t7, 0x44); var s7 = Avx.Shuffle(t5, t7, 0xEE);
        Avx.Store(dst, Avx.Permute2x128(s0, s4, 0x20));
        Avx.Store(dst + ld, Avx.Permute2x128(s1, s5, 0x20));
        Avx.Store(dst + 2 * ld, Avx.Permute2x128(s2, s6, 0x20));
        Avx.Store(dst + 3 * ld, Avx.Permute2x128(s3, s7, 0x20));
        Avx.Store(dst + 4 * ld, Avx.Permute2x128(s0, s4, 0x31));
        Avx.Store(dst + 5 * ld, Avx.Permute2x128(s1, s5, 0x31));
        Avx.Store(dst + 6 * ld, Avx.Permute2x128(s2, s6, 0x31));
        Avx.Store(dst + 7 * ld, Avx.Permute2x128(s3, s7, 0x31));
    }

    /// <summary>Rows 0..3 × 8 consecutive k → 8 runs of 4 floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose4x8(float* src, long rs, float* dst, int ld)
    {
        var r0 = Avx.LoadVector256(src); var r1 = Avx.LoadVector256(src + rs);
        var r2 = Avx.LoadVector256(src + 2 * rs); var r3 = Avx.LoadVector256(src + 3 * rs);
        var t0 = Avx.UnpackLow(r0, r1); var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3); var t3 = Avx.UnpackHigh(r2, r3);
        var s0 = Avx.Shuffle(t0, t2, 0x44); var s1 = Avx.Shuffle(t0, t2, 0xEE);
        var s2 = Avx.Shuffle(t1, t3, 0x44); var s3 = Avx.Shuffle(t1, t3, 0xEE);
        Sse.Store(dst, s0.GetLower()); Sse.Store(dst + ld, s1.GetLower());
        Sse.Store(dst + 2 * ld, s2.GetLower()); Sse.Store(dst + 3 * ld, s3.GetLower());
        Sse.Store(dst + 4 * ld, s0.GetUpper()); Sse.Store(dst + 5 * ld, s1.GetUpper());
        Sse.Store(dst + 6 * ld, s2.GetUpper()); Sse.Store(dst + 7 * ld, s3.GetUpper());
    }
}
