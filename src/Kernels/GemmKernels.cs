using ILGPU;
using ILGPU.Runtime;

namespace GpuLstm.Kernels;

/// <summary>
/// Shape and memory layout of one GEMM: C (M,N) = [C +] op(A) (M,K) · op(B) (K,N) [+ bias (N)].
/// Transposition is expressed through strides, so NN, NT and TN products share one kernel and
/// no operand is ever copied into a transposed buffer.
/// </summary>
internal readonly struct GemmShape
{
    public readonly int M, N, K;
    /// <summary>Element (m,k) of op(A) is a[m·ARowStride + k·AColStride].</summary>
    public readonly int ARowStride, AColStride;
    /// <summary>Element (k,n) of op(B) is b[k·BRowStride + n·BColStride].</summary>
    public readonly int BRowStride, BColStride;
    /// <summary>1: C += product; 0: C = product. Ints, not bools, keep the struct blittable on every backend.</summary>
    public readonly int Accumulate;
    /// <summary>1: add bias[n] to every row.</summary>
    public readonly int AddBias;

    public GemmShape(int m, int n, int k, int aRowStride, int aColStride, int bRowStride, int bColStride,
        bool accumulate, bool addBias)
    {
        if (m <= 0 || n <= 0 || k <= 0) throw new ArgumentOutOfRangeException(nameof(m), $"GEMM shape must be positive, got M={m} N={n} K={k}");
        M = m; N = n; K = k;
        ARowStride = aRowStride; AColStride = aColStride;
        BRowStride = bRowStride; BColStride = bColStride;
        Accumulate = accumulate ? 1 : 0;
        AddBias = addBias ? 1 : 0;
    }

    /// <summary>A (M,K) row-major, B (K,N) row-major.</summary>
    public static GemmShape NN(int m, int n, int k, bool accumulate = false, bool addBias = false) =>
        new(m, n, k, k, 1, n, 1, accumulate, addBias);

    /// <summary>A (M,K) row-major, B stored (N,K) row-major and used as Bᵀ.</summary>
    public static GemmShape NT(int m, int n, int k, bool accumulate = false) =>
        new(m, n, k, k, 1, 1, k, accumulate, false);

    /// <summary>A stored (K,M) row-major and used as Aᵀ, B (K,N) row-major.</summary>
    public static GemmShape TN(int m, int n, int k, bool accumulate = false) =>
        new(m, n, k, 1, m, n, 1, accumulate, false);

    public long Flops => 2L * M * N * K;
}

/// <summary>
/// SGEMM kernels. Four variants of the same contract, checked against the same float64 reference:
/// <see cref="Naive"/> has no barriers (the right choice on ILGPU's CPU accelerator, whose barriers are
/// OS-thread barriers), <see cref="Tiled"/> stages 16×16 tiles of A and B in shared memory (the right
/// choice on a GPU, where it cuts global loads by the tile width), and <see cref="Blocked64"/> and
/// <see cref="Blocked128"/> add register blocking on top (each thread computes 4×4 or 8×8 outputs, so one
/// shared load feeds several multiply-adds): the GPU kernels where no vendor BLAS is available.
/// <see cref="Choose"/> picks among the GPU kernels by shape.
/// </summary>
internal static class GemmKernels
{
    public const int Tile = 16;

    /// <summary>One thread per element of C. index: 0..M·N.</summary>
    public static void Naive(
        Index1D index,
        ArrayView<float> a,     // op(A): (M,K) through strides
        ArrayView<float> b,     // op(B): (K,N) through strides
        ArrayView<float> bias,  // (N), read only when AddBias
        ArrayView<float> c,     // (M,N) row-major
        GemmShape s)
    {
        int m = index / s.N;
        int n = index - m * s.N;
        float acc = 0f;
        int ai = m * s.ARowStride;
        int bi = n * s.BColStride;
        for (int k = 0; k < s.K; k++)
        {
            acc += a[ai] * b[bi];
            ai += s.AColStride;
            bi += s.BRowStride;
        }
        if (s.AddBias != 0) acc += bias[n];
        if (s.Accumulate != 0) acc += c[index];
        c[index] = acc;
    }

    /// <summary>
    /// Shared-memory tiled GEMM. Launch with grid (⌈N/16⌉, ⌈M/16⌉) and groups of (16,16):
    /// thread (x,y) of group (gx,gy) owns C[gy·16+y, gx·16+x].
    /// </summary>
    public static void Tiled(
        ArrayView<float> a,     // op(A): (M,K) through strides
        ArrayView<float> b,     // op(B): (K,N) through strides
        ArrayView<float> bias,  // (N), read only when AddBias
        ArrayView<float> c,     // (M,N) row-major
        GemmShape s)
    {
        var aTile = SharedMemory.Allocate<float>(Tile * Tile); // (16 rows of C, 16 k)
        var bTile = SharedMemory.Allocate<float>(Tile * Tile); // (16 k, 16 cols of C)
        int tx = Group.IdxX;
        int ty = Group.IdxY;
        int row = Grid.IdxY * Tile + ty;
        int col = Grid.IdxX * Tile + tx;
        float acc = 0f;
        for (int k0 = 0; k0 < s.K; k0 += Tile)
        {
            int ka = k0 + tx;
            aTile[ty * Tile + tx] = row < s.M && ka < s.K ? a[row * s.ARowStride + ka * s.AColStride] : 0f;
            int kb = k0 + ty;
            bTile[ty * Tile + tx] = kb < s.K && col < s.N ? b[kb * s.BRowStride + col * s.BColStride] : 0f;
            Group.Barrier();
            for (int kk = 0; kk < Tile; kk++)
                acc += aTile[ty * Tile + kk] * bTile[kk * Tile + tx];
            Group.Barrier();
        }
        if (row < s.M && col < s.N)
        {
            int index = row * s.N + col;
            if (s.AddBias != 0) acc += bias[col];
            if (s.Accumulate != 0) acc += c[index];
            c[index] = acc;
        }
    }

    /// <summary>The launch shape <see cref="Tiled"/> expects.</summary>
    public static KernelConfig TiledConfig(in GemmShape s) =>
        new(new Index2D((s.N + Tile - 1) / Tile, (s.M + Tile - 1) / Tile), new Index2D(Tile, Tile));

    // ---- Register-blocked kernels (Blocked64, Blocked128) ----
    //
    // One 256-thread block (16×16) computes a square tile of C; each thread holds a 4×4 (Blocked64) or
    // 8×8 (Blocked128) block of C in registers. Per K-tile the block copies op(A)'s and op(B)'s panels to
    // shared memory, both k-major, so that for one k a thread's 4 rows of A and its 4 columns of B are each
    // one aligned float4 in shared memory: one ld.shared.v4 per operand feeds 16 multiply-adds. The copy
    // walks each operand's unit-stride dimension across adjacent threads (coalesced for NN, NT and TN) and
    // loads float4s from global memory when the layout and the view's address allow (PanelCopy).

    /// <summary>Threads per register-blocked block: 16×16.</summary>
    public const int BlockedSide = 16, BlockedThreads = BlockedSide * BlockedSide;
    /// <summary>Blocked64: a 64×64 tile of C, K staged 16 at a time.</summary>
    public const int Blocked64Tile = 64, Blocked64K = 16;
    /// <summary>Blocked128: a 128×128 tile of C, K staged 8 at a time.</summary>
    public const int Blocked128Tile = 128, Blocked128K = 8;
    /// <summary>
    /// Floats of padding after each k row of a shared panel. 4 keeps every row 16-byte aligned (the float4
    /// reads) and shifts consecutive k rows by 4 banks, so threads that copy adjacent k of one row (NN's A,
    /// NT's B) store to different banks instead of all to one.
    /// </summary>
    public const int PanelPad = 4;
    private const int Pitch64 = Blocked64Tile + PanelPad, Pitch128 = Blocked128Tile + PanelPad;
    /// <summary>Each thread copies 4 elements of each panel per K-tile: 64·16 = 128·8 = 4·256.</summary>
    private const int PanelCopiesPerThread = 4;

    /// <summary>
    /// C tile 64×64 per block of 16×16 threads, 4×4 outputs per thread, K staged 16 at a time.
    /// Launch with <see cref="BlockedConfig"/>(s, 64): thread (x,y) of group (gx,gy) owns
    /// C[gy·64 + 4y + i, gx·64 + 4x + j] for i, j in 0..3.
    /// </summary>
    public static void Blocked64(
        ArrayView<float> a,     // op(A): (M,K) through strides
        ArrayView<float> b,     // op(B): (K,N) through strides
        ArrayView<float> bias,  // (N), read only when AddBias
        ArrayView<float> c,     // (M,N) row-major
        GemmShape s)
    {
        var aPanel = SharedMemory.Allocate<float>(Blocked64K * Pitch64); // (16 k, 64 rows of C + pad): A transposed
        var bPanel = SharedMemory.Allocate<float>(Blocked64K * Pitch64); // (16 k, 64 cols of C + pad)
        var aQuads = aPanel.Cast<Float4>(); // (16 k, 17 runs of 4 rows)
        var bQuads = bPanel.Cast<Float4>(); // (16 k, 17 runs of 4 cols)
        int tx = Group.IdxX, ty = Group.IdxY;
        int thread = ty * BlockedSide + tx;
        int row0 = Grid.IdxY * Blocked64Tile, col0 = Grid.IdxX * Blocked64Tile;
        var aCopy = PanelCopy.ForA(a, s, thread, Blocked64Tile, Blocked64K);
        var bCopy = PanelCopy.ForB(b, s, thread, Blocked64Tile, Blocked64K);
        var acc = default(Block4x4);
        const int quadPitch = Pitch64 / 4;
        for (int k0 = 0; k0 < s.K; k0 += Blocked64K)
        {
            CopyPanel(a, aPanel, aCopy, row0, k0, Pitch64);
            CopyPanel(b, bPanel, bCopy, col0, k0, Pitch64);
            Group.Barrier();
            // Four k per iteration, unrolled by hand (ILGPU 1.5.3's LoopUnrolling pass is disabled). Not all 16:
            // ILGPU's code placement treats shared loads as movable and sinks a loop-free block of them, with its
            // multiply-adds, below the next Group.Barrier, where other threads already overwrite the panels.
            // Inside a loop they stay between the barriers.
            for (int kk = 0; kk < Blocked64K; kk += 4)
            {
                acc = Block4x4.MultiplyAdd(acc, aQuads[kk * quadPitch + ty], bQuads[kk * quadPitch + tx]);
                acc = Block4x4.MultiplyAdd(acc, aQuads[(kk + 1) * quadPitch + ty], bQuads[(kk + 1) * quadPitch + tx]);
                acc = Block4x4.MultiplyAdd(acc, aQuads[(kk + 2) * quadPitch + ty], bQuads[(kk + 2) * quadPitch + tx]);
                acc = Block4x4.MultiplyAdd(acc, aQuads[(kk + 3) * quadPitch + ty], bQuads[(kk + 3) * quadPitch + tx]);
            }
            Group.Barrier();
        }
        Block4x4.Store(acc, c, bias, s, row0 + 4 * ty, col0 + 4 * tx);
    }

    /// <summary>
    /// C tile 128×128 per block of 16×16 threads, 8×8 outputs per thread, K staged 8 at a time.
    /// Launch with <see cref="BlockedConfig"/>(s, 128). Thread (x,y) of group (gx,gy) owns rows
    /// gy·128 + {4y + i, 64 + 4y + i} and columns gx·128 + {4x + j, 64 + 4x + j}, i, j in 0..3: four 4×4
    /// blocks half a tile apart, so the 16 threads of a row read 16 adjacent float4s of a panel
    /// (conflict-free) instead of 16 pairs 32 bytes apart, and store 256 contiguous bytes of C.
    /// </summary>
    public static void Blocked128(
        ArrayView<float> a,     // op(A): (M,K) through strides
        ArrayView<float> b,     // op(B): (K,N) through strides
        ArrayView<float> bias,  // (N), read only when AddBias
        ArrayView<float> c,     // (M,N) row-major
        GemmShape s)
    {
        var aPanel = SharedMemory.Allocate<float>(Blocked128K * Pitch128); // (8 k, 128 rows of C + pad): A transposed
        var bPanel = SharedMemory.Allocate<float>(Blocked128K * Pitch128); // (8 k, 128 cols of C + pad)
        var aQuads = aPanel.Cast<Float4>(); // (8 k, 33 runs of 4 rows)
        var bQuads = bPanel.Cast<Float4>(); // (8 k, 33 runs of 4 cols)
        int tx = Group.IdxX, ty = Group.IdxY;
        int thread = ty * BlockedSide + tx;
        int row0 = Grid.IdxY * Blocked128Tile, col0 = Grid.IdxX * Blocked128Tile;
        var aCopy = PanelCopy.ForA(a, s, thread, Blocked128Tile, Blocked128K);
        var bCopy = PanelCopy.ForB(b, s, thread, Blocked128Tile, Blocked128K);
        // acc{r}{c}: r, c = 0 for the first half of the tile's rows / columns, 1 for the second.
        var acc00 = default(Block4x4);
        var acc01 = default(Block4x4);
        var acc10 = default(Block4x4);
        var acc11 = default(Block4x4);
        for (int k0 = 0; k0 < s.K; k0 += Blocked128K)
        {
            CopyPanel(a, aPanel, aCopy, row0, k0, Pitch128);
            CopyPanel(b, bPanel, bCopy, col0, k0, Pitch128);
            Group.Barrier();
            // One k (64 multiply-adds) per iteration, and a loop, not a straight run, for the reason given in
            // Blocked64. ptxas and LLVM unroll the constant trip count themselves; with two k per iteration in the
            // source, clang's gfx90a schedule took 130 VGPRs, one wave per SIMD fewer.
            for (int kk = 0; kk < Blocked128K; kk++)
                MultiplyAdd8x8(aQuads, bQuads, kk, tx, ty, ref acc00, ref acc01, ref acc10, ref acc11);
            Group.Barrier();
        }
        const int half = Blocked128Tile / 2;
        int row = row0 + 4 * ty, col = col0 + 4 * tx;
        Block4x4.Store(acc00, c, bias, s, row, col);
        Block4x4.Store(acc01, c, bias, s, row, col + half);
        Block4x4.Store(acc10, c, bias, s, row + half, col);
        Block4x4.Store(acc11, c, bias, s, row + half, col + half);
    }

    /// <summary>One k of <see cref="Blocked128"/>: 4 ld.shared.v4 (2 of A, 2 of B), 64 multiply-adds.</summary>
    private static void MultiplyAdd8x8(ArrayView<Float4> aQuads, ArrayView<Float4> bQuads, int k, int tx, int ty,
        ref Block4x4 acc00, ref Block4x4 acc01, ref Block4x4 acc10, ref Block4x4 acc11)
    {
        const int quadPitch = Pitch128 / 4, halfQuads = Blocked128Tile / 2 / 4;
        var a0 = aQuads[k * quadPitch + ty];
        var a1 = aQuads[k * quadPitch + halfQuads + ty];
        var b0 = bQuads[k * quadPitch + tx];
        var b1 = bQuads[k * quadPitch + halfQuads + tx];
        acc00 = Block4x4.MultiplyAdd(acc00, a0, b0);
        acc01 = Block4x4.MultiplyAdd(acc01, a0, b1);
        acc10 = Block4x4.MultiplyAdd(acc10, a1, b0);
        acc11 = Block4x4.MultiplyAdd(acc11, a1, b1);
    }

    /// <summary>
    /// How one thread copies its part of an operand's panel from global to shared memory, fixed for the launch.
    /// Element (outer, k) of the operand, outer being a row of op(A) or a column of op(B), lies at
    /// view[outer·OuterStride + k·KStride]. Adjacent threads take adjacent elements along the operand's
    /// unit-stride dimension, so a warp's loads are coalesced for NN, NT and TN alike. When that dimension's
    /// extent and the other stride are multiples of 4 and the view is 16-byte aligned, the thread loads one
    /// float4 (ld.global.v4: one instruction instead of four); otherwise four floats, PanelCopiesPerThread
    /// apart. The mapping is worked out once, so the k loop keeps two per-thread registers per operand live.
    /// </summary>
    private readonly struct PanelCopy
    {
        public const int Scalar = 0, VectorAlongK = 1, VectorAlongOuter = 2;

        public readonly int OuterStride, KStride, OuterExtent, KExtent;
        /// <summary><see cref="Scalar"/>, <see cref="VectorAlongK"/> or <see cref="VectorAlongOuter"/> (uniform).</summary>
        public readonly int Mode;
        /// <summary>This thread's first element within the tile: (outer, k); a float4's first for the vector modes.</summary>
        public readonly int Outer, K;
        /// <summary>How far Outer and K advance from one scalar copy to the next (uniform).</summary>
        public readonly int OuterStep, KStep;

        private PanelCopy(int outerStride, int kStride, int outerExtent, int kExtent, bool alongK, bool aligned,
            int thread, int tile, int tileK)
        {
            OuterStride = outerStride; KStride = kStride; OuterExtent = outerExtent; KExtent = kExtent;
            // A float4 runs along a unit stride and never straddles the edge (extent % 4) nor two rows of the
            // layout (other stride % 4).
            Mode = !aligned ? Scalar
                : alongK ? (kStride == 1 && outerStride % 4 == 0 && kExtent % 4 == 0 ? VectorAlongK : Scalar)
                : outerStride == 1 && kStride % 4 == 0 && outerExtent % 4 == 0 ? VectorAlongOuter : Scalar;
            OuterStep = KStep = 0;
            if (Mode == VectorAlongK)
            {
                // tileK/4 threads cover one outer's k run, a float4 each; 256 threads cover the tile's outers.
                Outer = thread / (tileK / 4); K = thread % (tileK / 4) * 4;
            }
            else if (Mode == VectorAlongOuter)
            {
                // tile/4 threads cover one k's outers, a float4 each; 256 threads cover the K-tile.
                K = thread / (tile / 4); Outer = thread % (tile / 4) * 4;
            }
            else if (alongK)
            {
                // tileK threads walk one outer's k; the next tileK threads the next outer.
                Outer = thread / tileK; K = thread % tileK; OuterStep = BlockedThreads / tileK;
            }
            else
            {
                // tile threads walk one k's outers; the next tile threads the next k.
                Outer = thread % tile; K = thread / tile; KStep = BlockedThreads / tile;
            }
        }

        /// <summary>op(A): outer = m. Walks k when AColStride is 1, else m.</summary>
        public static PanelCopy ForA(ArrayView<float> a, GemmShape s, int thread, int tile, int tileK) =>
            new(s.ARowStride, s.AColStride, s.M, s.K, s.AColStride == 1, IsAligned16(a), thread, tile, tileK);

        /// <summary>op(B): outer = n. Walks n when BColStride is 1, else k.</summary>
        public static PanelCopy ForB(ArrayView<float> b, GemmShape s, int thread, int tile, int tileK) =>
            new(s.BColStride, s.BRowStride, s.N, s.K, s.BColStride != 1, IsAligned16(b), thread, tile, tileK);

        /// <summary>The view starts on a 16-byte boundary: ILGPU's AlignTo tests its address at run time.</summary>
        private static bool IsAligned16(ArrayView<float> view) => view.AlignTo(16).Prefix.Length == 0;
    }

    /// <summary>
    /// Copies this thread's part of the operand's (tile outers × tileK k) block at (outer0, k0) into the
    /// k-major panel (panel[k·pitch + outer]), zeros past the operand's edges.
    /// </summary>
    private static void CopyPanel(ArrayView<float> view, ArrayView<float> panel, PanelCopy copy,
        int outer0, int k0, int pitch)
    {
        if (copy.Mode == PanelCopy.Scalar)
        {
            for (int i = 0; i < PanelCopiesPerThread; i++)
            {
                int outer = copy.Outer + i * copy.OuterStep, k = copy.K + i * copy.KStep;
                int go = outer0 + outer, gk = k0 + k;
                panel[k * pitch + outer] =
                    go < copy.OuterExtent && gk < copy.KExtent ? view[go * copy.OuterStride + gk * copy.KStride] : 0f;
            }
            return;
        }
        int gOuter = outer0 + copy.Outer, gK = k0 + copy.K;
        // One of the two strides is 1 and the other a multiple of 4, so the float4's index is exact.
        var v = gOuter < copy.OuterExtent && gK < copy.KExtent
            ? view.Cast<Float4>().AsAligned(16)[(gOuter * copy.OuterStride + gK * copy.KStride) / 4]
            : default;
        if (copy.Mode == PanelCopy.VectorAlongOuter)
        {
            panel.Cast<Float4>()[(copy.K * pitch + copy.Outer) / 4] = v; // 4 outers of one k: one float4 of the panel
        }
        else
        {
            panel[copy.K * pitch + copy.Outer] = v.X; // 4 k of one outer: a column of the k-major panel
            panel[(copy.K + 1) * pitch + copy.Outer] = v.Y;
            panel[(copy.K + 2) * pitch + copy.Outer] = v.Z;
            panel[(copy.K + 3) * pitch + copy.Outer] = v.W;
        }
    }

    /// <summary>
    /// A 4×4 block of C in registers. Scalar fields, not an array: ILGPU puts C# arrays in .local memory,
    /// while struct fields are split into registers.
    /// </summary>
    private struct Block4x4
    {
        public float C00, C01, C02, C03, C10, C11, C12, C13, C20, C21, C22, C23, C30, C31, C32, C33;

        /// <summary>c += a ⊗ b: rows a.X..a.W, columns b.X..b.W.</summary>
        public static Block4x4 MultiplyAdd(Block4x4 c, Float4 a, Float4 b)
        {
            c.C00 += a.X * b.X; c.C01 += a.X * b.Y; c.C02 += a.X * b.Z; c.C03 += a.X * b.W;
            c.C10 += a.Y * b.X; c.C11 += a.Y * b.Y; c.C12 += a.Y * b.Z; c.C13 += a.Y * b.W;
            c.C20 += a.Z * b.X; c.C21 += a.Z * b.Y; c.C22 += a.Z * b.Z; c.C23 += a.Z * b.W;
            c.C30 += a.W * b.X; c.C31 += a.W * b.Y; c.C32 += a.W * b.Z; c.C33 += a.W * b.W;
            return c;
        }

        /// <summary>Writes the block at C[row.., col..], adding bias and the old C as the shape asks; skips what lies past M or N.</summary>
        public static void Store(Block4x4 v, ArrayView<float> c, ArrayView<float> bias, GemmShape s, int row, int col)
        {
            StoreRow(c, bias, s, row, col, v.C00, v.C01, v.C02, v.C03);
            StoreRow(c, bias, s, row + 1, col, v.C10, v.C11, v.C12, v.C13);
            StoreRow(c, bias, s, row + 2, col, v.C20, v.C21, v.C22, v.C23);
            StoreRow(c, bias, s, row + 3, col, v.C30, v.C31, v.C32, v.C33);
        }

        private static void StoreRow(ArrayView<float> c, ArrayView<float> bias, GemmShape s, int row, int col,
            float v0, float v1, float v2, float v3)
        {
            if (row >= s.M) return;
            StoreOne(c, bias, s, row, col, v0);
            StoreOne(c, bias, s, row, col + 1, v1);
            StoreOne(c, bias, s, row, col + 2, v2);
            StoreOne(c, bias, s, row, col + 3, v3);
        }

        private static void StoreOne(ArrayView<float> c, ArrayView<float> bias, GemmShape s, int row, int col, float v)
        {
            if (col >= s.N) return;
            int index = row * s.N + col;
            if (s.AddBias != 0) v += bias[col];
            if (s.Accumulate != 0) v += c[index];
            c[index] = v;
        }
    }

    /// <summary>
    /// The kernel for one GEMM on a GPU with <paramref name="multiprocessors"/> SMs (CUDA) or compute units (OpenCL):
    /// <list type="bullet">
    /// <item><see cref="GemmTile.Blocked128"/> when M and N are both at least 128 (no tile is mostly padding) and
    /// the 128×128 tiles give every multiprocessor at least one block (a full wave): the most reuse per global
    /// load, for the big shapes (6400×2048×512: 800 blocks; on 108 SMs ≥ 108).</item>
    /// <item><see cref="GemmTile.Blocked64"/> when M and N are both at least 32 (half of each 64-wide tile does
    /// useful work) and the 64×64 tiles occupy at least a quarter of the multiprocessors. Tiled16 issues two
    /// shared loads per multiply-add and so runs at about a quarter of a multiprocessor's FMA rate; Blocked64
    /// issues one 16-byte shared load per 8 and runs near all of it. A quarter of the machine running
    /// Blocked64 keeps up with all of it running Tiled16, with a quarter of the global traffic.
    /// The recurrent per-step 64×2048×512 (32 blocks; 32 ≥ 108/4) and 512×2048×6400 (64 tiles of 128, too few
    /// for a wave; 256 of 64) land here.</item>
    /// <item><see cref="GemmTile.Tiled16"/> otherwise: tiny or thin shapes (64×512×2048: 8 blocks of 64, 128 of
    /// 16; batch 16), where only many small blocks spread the work over the machine.</item>
    /// </list>
    /// </summary>
    public static GemmTile Choose(in GemmShape s, int multiprocessors)
    {
        if (multiprocessors <= 0) throw new ArgumentOutOfRangeException(nameof(multiprocessors), $"need at least one multiprocessor, got {multiprocessors}");
        if (s.M >= Blocked128Tile && s.N >= Blocked128Tile && Blocks(s, Blocked128Tile) >= multiprocessors)
            return GemmTile.Blocked128;
        if (s.M >= Blocked64Tile / 2 && s.N >= Blocked64Tile / 2 && 4 * Blocks(s, Blocked64Tile) >= multiprocessors)
            return GemmTile.Blocked64;
        return GemmTile.Tiled16;
    }

    /// <summary>Blocks of tile×tile needed to cover C.</summary>
    private static long Blocks(in GemmShape s, int tile) => (long)((s.M + tile - 1) / tile) * ((s.N + tile - 1) / tile);

    /// <summary>The launch shape of <see cref="Blocked64"/> (blockTile 64) or <see cref="Blocked128"/> (128): one 16×16 group per tile of C.</summary>
    public static KernelConfig BlockedConfig(in GemmShape s, int blockTile)
    {
        if (blockTile is not (Blocked64Tile or Blocked128Tile))
            throw new ArgumentOutOfRangeException(nameof(blockTile), $"the blocked GEMMs have 64 or 128 tiles, not {blockTile}");
        return new(new Index2D((s.N + blockTile - 1) / blockTile, (s.M + blockTile - 1) / blockTile),
            new Index2D(BlockedSide, BlockedSide));
    }
}

/// <summary>The GEMM kernels a GPU without a vendor BLAS chooses between (<see cref="GemmKernels.Choose"/>).</summary>
internal enum GemmTile
{
    /// <summary><see cref="GemmKernels.Tiled"/>: 16×16 tiles, one output per thread.</summary>
    Tiled16,
    /// <summary><see cref="GemmKernels.Blocked64"/>: 64×64 tiles, 4×4 outputs per thread.</summary>
    Blocked64,
    /// <summary><see cref="GemmKernels.Blocked128"/>: 128×128 tiles, 8×8 outputs per thread.</summary>
    Blocked128,
}

/// <summary>Four floats read or written as one 16-byte access (ld.shared.v4.f32 when ILGPU can see the alignment).</summary>
internal struct Float4
{
    public float X, Y, Z, W;
}

