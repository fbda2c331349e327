using GpuLstm.Kernels;
using ILGPU.Runtime.Cuda;

namespace GpuLstm.Runtime.Compute;

/// <summary>What a cuBLAS GEMM does about the bias of a <see cref="GemmShape"/>: cuBLAS itself has none.</summary>
internal enum CuBlasBiasStep
{
    /// <summary>No bias.</summary>
    None,
    /// <summary>Before the GEMM, every row of C is set to the bias; the GEMM then adds onto it (beta 1).</summary>
    BroadcastBefore,
    /// <summary>After the GEMM (which accumulated onto C), the bias is added to every row of C.</summary>
    AddAfter,
}

/// <summary>
/// The arguments of one column-major cublasSgemm call, named as cuBLAS names them:
/// C := Alpha·op(A)·op(B) + Beta·C with op(A) (M,K), op(B) (K,N), C (M,N), all column-major with leading
/// dimensions Lda, Ldb, Ldc. A of this call is the row-major B operand, and B of this call the row-major A
/// (see <see cref="CuBlasMapping.Invoke"/>, which passes them in that order).
/// </summary>
internal readonly record struct CuBlasGemmCall(
    CuBlasOperation TransA, CuBlasOperation TransB,
    int M, int N, int K,
    float Alpha, int Lda, int Ldb, float Beta, int Ldc,
    CuBlasBiasStep Bias);

/// <summary>cublasSgemm's signature over any matrix handle (an <c>ArrayView&lt;float&gt;</c> on a GPU, an array segment in the tests).</summary>
internal delegate void Sgemm<TMatrix>(CuBlasOperation transa, CuBlasOperation transb, int m, int n, int k,
    float alpha, TMatrix a, int lda, TMatrix b, int ldb, float beta, TMatrix c, int ldc);

/// <summary>
/// A row-major <see cref="GemmShape"/> as one column-major cublasSgemm call. A row-major (R,C) matrix with
/// row stride ld is, byte for byte, its transpose (C,R) column-major with leading dimension ld; so the
/// row-major product C (M,N) = op(A)·op(B) is the column-major product Cᵀ (N,M) = op(B)ᵀ·op(A)ᵀ, and the call
/// takes the two operands swapped: cuBLAS's A is our B, cuBLAS's B is our A, and m, n = N, M.
/// Pure and host-side, so every argument the GPU gets is derived here and tested without a GPU.
/// </summary>
internal static class CuBlasMapping
{
    public static CuBlasGemmCall Map(in GemmShape s)
    {
        // cuBLAS's A (N,K) after op: element (n,k) is op(B)(k,n) = b[k·BRowStride + n·BColStride].
        var (transA, lda) = Operand(s.N, s.K, s.BColStride, s.BRowStride, "B", s);
        // cuBLAS's B (K,M) after op: element (k,m) is op(A)(m,k) = a[m·ARowStride + k·AColStride].
        var (transB, ldb) = Operand(s.K, s.M, s.AColStride, s.ARowStride, "A", s);
        bool accumulate = s.Accumulate != 0, bias = s.AddBias != 0;
        var biasStep = !bias ? CuBlasBiasStep.None : accumulate ? CuBlasBiasStep.AddAfter : CuBlasBiasStep.BroadcastBefore;
        // Beta 1 adds onto C: onto the old C when accumulating, onto the broadcast bias when writing with one.
        float beta = accumulate || bias ? 1f : 0f;
        return new CuBlasGemmCall(transA, transB, s.N, s.M, s.K, 1f, lda, ldb, beta, s.N, biasStep);
    }

    /// <summary>Calls <paramref name="sgemm"/> with the mapped arguments and the operands swapped: (b, a, c) for row-major a, b, c.</summary>
    public static void Invoke<TMatrix>(in CuBlasGemmCall call, TMatrix a, TMatrix b, TMatrix c, Sgemm<TMatrix> sgemm) =>
        sgemm(call.TransA, call.TransB, call.M, call.N, call.K, call.Alpha, b, call.Lda, a, call.Ldb, call.Beta, c, call.Ldc);

    /// <summary>
    /// The elements each operand must hold: one past the largest index the shape reads (a, b) or writes (c, and
    /// bias when added). cuBLAS does not check views; a short one would be read past its end.
    /// </summary>
    public static (long A, long B, long C, long Bias) RequiredLengths(in GemmShape s) =>
        ((long)(s.M - 1) * s.ARowStride + (long)(s.K - 1) * s.AColStride + 1,
         (long)(s.K - 1) * s.BRowStride + (long)(s.N - 1) * s.BColStride + 1,
         (long)s.M * s.N,
         s.AddBias != 0 ? s.N : 0);

    /// <summary>
    /// One operand of the column-major call: the matrix X (rows, cols) whose element (i,j) is x[i·rowStep + j·colStep].
    /// NonTranspose stores X column-major, x[i + j·ld]: rowStep 1 and colStep = ld ≥ rows. Transpose stores Xᵀ
    /// column-major, x[j + i·ld]: colStep 1 and rowStep = ld ≥ cols. A stride along a dimension of extent 1 is
    /// never used, so it need not fit, and the leading dimension of a single column or row is only bound below.
    /// </summary>
    private static (CuBlasOperation Op, int Ld) Operand(int rows, int cols, int rowStep, int colStep, string name, in GemmShape s)
    {
        if ((rows == 1 || rowStep == 1) && (cols == 1 || colStep >= rows))
            return (CuBlasOperation.NonTranspose, cols == 1 ? rows : colStep);
        if ((cols == 1 || colStep == 1) && (rows == 1 || rowStep >= cols))
            return (CuBlasOperation.Transpose, rows == 1 ? cols : rowStep);
        throw new ArgumentException(
            $"GEMM operand {name} cannot be passed to cuBLAS: op({name}) of M={s.M} N={s.N} K={s.K} has strides (row {(name == "A" ? s.ARowStride : s.BRowStride)}, " +
            $"column {(name == "A" ? s.AColStride : s.BColStride)}); one of them must be 1 and the other at least the extent it strides over " +
            "(a dense or padded row-major matrix, or its transpose)");
    }

    /// <summary>"12.4.5" from cublasGetVersion's number (major·10000 + minor·100 + patch since cuBLAS 11; major·1000 + minor·100 + patch before).</summary>
    public static string FormatVersion(int version) =>
        version >= 100000
            ? $"{version / 10000}.{version / 100 % 100}.{version % 100}"
            : $"{version / 1000}.{version / 100 % 10}.{version % 100}";
}
