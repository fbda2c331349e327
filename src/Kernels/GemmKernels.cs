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
/// SGEMM kernels. Two variants of the same contract, checked against the same float64 reference:
/// <see cref="Naive"/> has no barriers (the right choice on ILGPU's CPU accelerator, whose barriers are
/// OS-thread barriers), <see cref="Tiled"/> stages 16×16 tiles of A and B in shared memory (the right
/// choice on a GPU, where it cuts global loads by the tile width).
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
}
