using GpuLstm.Kernels;
using GpuLstm.Runtime.Compute;
using ILGPU.Runtime.Cuda;
using Xunit;

namespace GpuLstm.Tests;

/// <summary>
/// The row-major → column-major mapping of <see cref="CuBlasGemm"/>, run on the host: every <see cref="GemmShape"/>
/// goes through <see cref="CuBlasMapping"/> exactly as the GPU path does (the same <see cref="CuBlasMapping.Invoke"/>,
/// the same bias steps) into <see cref="HostSgemm"/>, a float64 cublasSgemm written from cuBLAS's documentation,
/// and must give the row-major float64 <see cref="Reference.Gemm"/>.
/// </summary>
public sealed class CuBlasMappingTests
{
    /// <summary>
    /// cublasSgemm as documented: C := alpha·op(A)·op(B) + beta·C, column-major, op(A) (m,k), op(B) (k,n), C (m,n);
    /// element (i,j) of a matrix with leading dimension ld is x[i + j·ld]; op(A) = A for NonTranspose (A stored m×k,
    /// lda ≥ max(1,m)) and Aᵀ for Transpose (A stored k×m, lda ≥ max(1,k)); likewise B with ldb ≥ max(1,k) or max(1,n);
    /// ldc ≥ max(1,m). With beta 0, C need not hold valid values on input (it is not read). Sums in float64.
    /// Reads through array segments, so an index outside the operand's segment throws.
    /// </summary>
    internal static void HostSgemm(CuBlasOperation transa, CuBlasOperation transb, int m, int n, int k,
        float alpha, ArraySegment<float> a, int lda, ArraySegment<float> b, int ldb, float beta, ArraySegment<float> c, int ldc)
    {
        // The argument checks that return CUBLAS_STATUS_INVALID_VALUE.
        if (m < 0 || n < 0 || k < 0) throw new ArgumentException("negative dimension");
        if (transa is not (CuBlasOperation.NonTranspose or CuBlasOperation.Transpose)) throw new ArgumentException("transa");
        if (transb is not (CuBlasOperation.NonTranspose or CuBlasOperation.Transpose)) throw new ArgumentException("transb");
        bool ta = transa == CuBlasOperation.Transpose, tb = transb == CuBlasOperation.Transpose;
        if (lda < Math.Max(1, ta ? k : m)) throw new ArgumentException($"lda {lda} too small");
        if (ldb < Math.Max(1, tb ? n : k)) throw new ArgumentException($"ldb {ldb} too small");
        if (ldc < Math.Max(1, m)) throw new ArgumentException($"ldc {ldc} too small");
        for (int j = 0; j < n; j++)
            for (int i = 0; i < m; i++)
            {
                double sum = 0;
                for (int p = 0; p < k; p++)
                {
                    double opA = ta ? a[p + i * lda] : a[i + p * lda];
                    double opB = tb ? b[j + p * ldb] : b[p + j * ldb];
                    sum += opA * opB;
                }
                double result = alpha * sum;
                if (beta != 0) result += beta * c[i + j * ldc];
                c[i + j * ldc] = (float)result;
            }
    }

    /// <summary>What <see cref="CuBlasGemm.Gemm"/> does, with the host SGEMM and a loop for the bias kernel.</summary>
    private static float[] RunMapped(in GemmShape shape, ArraySegment<float> a, ArraySegment<float> b, float[] bias, float[] cStart)
    {
        var call = CuBlasMapping.Map(shape);
        var need = CuBlasMapping.RequiredLengths(shape);
        Assert.True(a.Count >= need.A && b.Count >= need.B && cStart.Length >= need.C && bias.Length >= need.Bias, "operands shorter than the shape needs");
        var c = (float[])cStart.Clone();
        int elements = shape.M * shape.N, columns = shape.N;
        void BroadcastRows(bool accumulate)
        {
            for (int i = 0; i < elements; i++) c[i] = accumulate ? c[i] + bias[i % columns] : bias[i % columns];
        }
        if (call.Bias == CuBlasBiasStep.BroadcastBefore) BroadcastRows(false);
        CuBlasMapping.Invoke(call, a, b, new ArraySegment<float>(c), HostSgemm);
        if (call.Bias == CuBlasBiasStep.AddAfter) BroadcastRows(true);
        return c;
    }

    private static float[] Poisoned(int n)
    {
        var a = new float[n];
        Array.Fill(a, float.NaN);
        return a;
    }

    public enum Layout { NN, NNBias, NNAccumulate, NNBiasAccumulate, NT, NTAccumulate, TN, TNAccumulate }

    // Odd shapes, M = 1 (one batch row), N = 1, K = 1 (where one stride of an operand is never used), and 1×1×1.
    public static TheoryData<Layout, int, int, int> FactoryCases()
    {
        var data = new TheoryData<Layout, int, int, int>();
        foreach (var layout in Enum.GetValues<Layout>())
            foreach (var (m, n, k) in new[] { (19, 23, 21), (1, 37, 5), (33, 17, 1), (7, 1, 9), (1, 1, 1), (3, 70, 45) })
                data.Add(layout, m, n, k);
        return data;
    }

    /// <summary>The shapes the models use (the factories, dense operands) against the row-major reference.</summary>
    [Theory]
    [MemberData(nameof(FactoryCases))]
    public void FactoryShapesMatchTheRowMajorReference(Layout layout, int m, int n, int k)
    {
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        bool transA = layout is Layout.TN or Layout.TNAccumulate;
        bool transB = layout is Layout.NT or Layout.NTAccumulate;
        bool accumulate = layout.ToString().EndsWith("Accumulate", StringComparison.Ordinal);
        bool bias = layout is Layout.NNBias or Layout.NNBiasAccumulate;
        var shape = transA ? GemmShape.TN(m, n, k, accumulate) : transB ? GemmShape.NT(m, n, k, accumulate) : GemmShape.NN(m, n, k, accumulate, bias);
        var a = TestData.Uniform(rng, m * k);
        var b = TestData.Uniform(rng, k * n);
        var biasData = TestData.Uniform(rng, n);
        // Without accumulation C starts as NaN: beta 0 must not read it, and every element must be written.
        var cStart = accumulate ? TestData.Uniform(rng, m * n) : Poisoned(m * n);
        var actual = RunMapped(shape, a, b, bias ? biasData : [], cStart);
        var expected = Reference.Gemm(a, b, bias ? biasData : null, accumulate ? cStart : null, m, n, k, transA, transB);
        TestData.AssertClose(expected, actual, 1e-6, 1e-6, $"{layout} {m}x{n}x{k} seed {seed}");
    }

    public static TheoryData<bool, bool, bool, bool, int, int, int> PaddedCases() => new()
    {
        // transA, transB, accumulate, bias, M, N, K
        { false, false, false, false, 19, 23, 21 },
        { false, false, true, false, 5, 8, 13 },
        { false, false, false, true, 9, 27, 11 },
        { false, false, true, true, 4, 6, 3 },
        { true, false, false, false, 17, 9, 30 },
        { true, false, true, true, 6, 11, 7 },
        { false, true, false, false, 12, 31, 8 },
        { false, true, true, false, 1, 10, 17 },
        { true, true, false, false, 15, 14, 13 },
        { true, true, true, true, 3, 2, 1 },
    };

    /// <summary>
    /// Sub-matrices of wider row-major buffers, each starting past the buffer's first element: leading dimensions
    /// wider than the matrices (the row stride of A, of B, or the column stride of a transposed one), built with the
    /// <see cref="GemmShape"/> constructor. Everything outside the sub-matrices is NaN, so a stray read shows.
    /// </summary>
    [Theory]
    [MemberData(nameof(PaddedCases))]
    public void SubMatricesOfWiderBuffersMatchTheRowMajorReference(bool transA, bool transB, bool accumulate, bool bias, int m, int n, int k)
    {
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        // Stored as (rows, columns) inside rows of width ld: A is (M,K) or, transposed, (K,M); B is (K,N) or (N,K).
        var (aRows, aCols) = transA ? (k, m) : (m, k);
        var (bRows, bCols) = transB ? (n, k) : (k, n);
        int lda = aCols + 3, ldb = bCols + 5, aOffset = 7, bOffset = 2;
        var (aBuffer, aDense) = Padded(rng, aRows, aCols, lda, aOffset);
        var (bBuffer, bDense) = Padded(rng, bRows, bCols, ldb, bOffset);
        var shape = new GemmShape(m, n, k,
            aRowStride: transA ? 1 : lda, aColStride: transA ? lda : 1,
            bRowStride: transB ? 1 : ldb, bColStride: transB ? ldb : 1,
            accumulate, bias);
        var biasData = TestData.Uniform(rng, n);
        var cStart = accumulate ? TestData.Uniform(rng, m * n) : Poisoned(m * n);
        var actual = RunMapped(shape, new ArraySegment<float>(aBuffer, aOffset, aBuffer.Length - aOffset),
            new ArraySegment<float>(bBuffer, bOffset, bBuffer.Length - bOffset), bias ? biasData : [], cStart);
        var expected = Reference.Gemm(aDense, bDense, bias ? biasData : null, accumulate ? cStart : null, m, n, k, transA, transB);
        TestData.AssertClose(expected, actual, 1e-6, 1e-6, $"transA {transA} transB {transB} {m}x{n}x{k} seed {seed}");
    }

    /// <summary>A (rows, cols) matrix at offset inside rows of width ld, NaN elsewhere (one padded row more at the end), and the dense matrix.</summary>
    private static (float[] Buffer, float[] Dense) Padded(Random rng, int rows, int cols, int ld, int offset)
    {
        var buffer = Poisoned(offset + (rows + 1) * ld);
        var dense = TestData.Uniform(rng, rows * cols);
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) buffer[offset + r * ld + c] = dense[r * cols + c];
        return (buffer, dense);
    }

    /// <summary>
    /// A stride along an extent of 1 is never used, whatever it is (a single row of A, a single column of B, or
    /// K = 1): the mapping must not reject it nor pass it on as a leading dimension cuBLAS refuses.
    /// </summary>
    [Theory]
    [InlineData(1, 9, 6, 1000, 1, 9, 1)]   // M = 1: A's row stride unused
    [InlineData(1, 9, 6, -4, 1, 9, 1)]     // even a negative one
    [InlineData(7, 1, 5, 5, 1, 1, 0)]      // N = 1: B's column stride unused
    [InlineData(8, 6, 1, 1, 0, 0, 1)]      // K = 1: A's column stride and B's row stride unused
    [InlineData(8, 6, 1, 1, 1, 1, 1)]      // NT(8,6,1): every stride 1, and still lda ≥ N
    public void StridesAlongAnExtentOfOneAreIgnored(int m, int n, int k, int aRowStride, int aColStride, int bRowStride, int bColStride)
    {
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        var shape = new GemmShape(m, n, k, aRowStride, aColStride, bRowStride, bColStride, accumulate: false, addBias: false);
        var need = CuBlasMapping.RequiredLengths(shape);
        var a = TestData.Uniform(rng, (int)Math.Max(need.A, 1));
        var b = TestData.Uniform(rng, (int)Math.Max(need.B, 1));
        var actual = RunMapped(shape, a, b, [], Poisoned(m * n));
        // op(A) and op(B) read through the shape's own strides, as GemmShape defines them.
        var aDense = new float[m * k];
        var bDense = new float[k * n];
        for (int i = 0; i < m; i++) for (int p = 0; p < k; p++) aDense[i * k + p] = a[i * shape.ARowStride + p * shape.AColStride];
        for (int p = 0; p < k; p++) for (int j = 0; j < n; j++) bDense[p * n + j] = b[p * shape.BRowStride + j * shape.BColStride];
        var expected = Reference.Gemm(aDense, bDense, null, null, m, n, k, transA: false, transB: false);
        TestData.AssertClose(expected, actual, 1e-6, 1e-6, $"{m}x{n}x{k} seed {seed}");
    }

    /// <summary>The three factories give the textbook row-major-through-cuBLAS calls.</summary>
    [Fact]
    public void FactoriesMapToTheTextbookCalls()
    {
        const CuBlasOperation N = CuBlasOperation.NonTranspose, T = CuBlasOperation.Transpose;
        // C = A·B: Cᵀ = Bᵀ·Aᵀ, both read as stored.
        Assert.Equal(new CuBlasGemmCall(N, N, 23, 19, 21, 1f, 23, 21, 0f, 23, CuBlasBiasStep.None), CuBlasMapping.Map(GemmShape.NN(19, 23, 21)));
        // C = A·Bᵀ with B stored (N,K): cuBLAS transposes its A (our B), whose leading dimension is K.
        Assert.Equal(new CuBlasGemmCall(T, N, 23, 19, 21, 1f, 21, 21, 1f, 23, CuBlasBiasStep.None), CuBlasMapping.Map(GemmShape.NT(19, 23, 21, accumulate: true)));
        // C = Aᵀ·B with A stored (K,M): cuBLAS transposes its B (our A), whose leading dimension is M.
        Assert.Equal(new CuBlasGemmCall(N, T, 23, 19, 21, 1f, 23, 19, 0f, 23, CuBlasBiasStep.None), CuBlasMapping.Map(GemmShape.TN(19, 23, 21)));
        // Bias: broadcast first and add onto it (beta 1); with accumulation, added after.
        Assert.Equal(CuBlasBiasStep.BroadcastBefore, CuBlasMapping.Map(GemmShape.NN(4, 5, 6, addBias: true)).Bias);
        Assert.Equal(1f, CuBlasMapping.Map(GemmShape.NN(4, 5, 6, addBias: true)).Beta);
        Assert.Equal(CuBlasBiasStep.AddAfter, CuBlasMapping.Map(GemmShape.NN(4, 5, 6, accumulate: true, addBias: true)).Bias);
    }

    [Theory]
    [InlineData(4, 5, 6, 12, 2, 5, 1, "A")]   // A read with steps 12 and 2: no unit stride
    [InlineData(4, 5, 6, 6, 1, 10, 2, "B")]   // B likewise
    [InlineData(4, 5, 6, 3, 1, 5, 1, "A")]    // A's rows overlap: row stride 3 < K = 6
    [InlineData(4, 5, 6, 1, 2, 5, 1, "A")]    // transposed A's columns overlap: column stride 2 < M = 4
    [InlineData(4, 5, 6, 6, 1, 0, 1, "B")]    // B's row stride 0: one row broadcast over K
    [InlineData(4, 5, 6, -6, 1, 5, 1, "A")]   // a negative stride
    public void RejectsStridesCuBlasCannotExpress(int m, int n, int k, int aRowStride, int aColStride, int bRowStride, int bColStride, string operand)
    {
        var shape = new GemmShape(m, n, k, aRowStride, aColStride, bRowStride, bColStride, accumulate: false, addBias: false);
        var e = Assert.Throws<ArgumentException>(() => CuBlasMapping.Map(shape));
        Assert.Contains($"operand {operand} cannot be passed to cuBLAS", e.Message);
    }

    [Fact]
    public void RequiredLengthsAreOnePastTheLastElementRead()
    {
        Assert.Equal((19L * 21, 21L * 23, 19L * 23, 0L), CuBlasMapping.RequiredLengths(GemmShape.NN(19, 23, 21)));
        Assert.Equal((19L * 21, 21L * 23, 19L * 23, 23L), CuBlasMapping.RequiredLengths(GemmShape.NN(19, 23, 21, addBias: true)));
        Assert.Equal((19L * 21, 21L * 23, 19L * 23, 0L), CuBlasMapping.RequiredLengths(GemmShape.TN(19, 23, 21)));
        Assert.Equal((19L * 21, 21L * 23, 19L * 23, 0L), CuBlasMapping.RequiredLengths(GemmShape.NT(19, 23, 21)));
        // A padded sub-matrix ends at its last element, not at the end of its last padded row.
        Assert.Equal(3L * 10 + 4 + 1, CuBlasMapping.RequiredLengths(new GemmShape(4, 2, 5, 10, 1, 2, 1, false, false)).A);
    }

    [Theory]
    [InlineData(120405, "12.4.5")]
    [InlineData(110201, "11.2.1")]
    [InlineData(10202, "10.2.2")]
    public void VersionNumbersReadAsCuBlasWritesThem(int version, string expected) =>
        Assert.Equal(expected, CuBlasMapping.FormatVersion(version));
}

/// <summary>cuBLAS's host-side pieces that run without a GPU: the bias kernel, and declining a non-CUDA accelerator.</summary>
[Collection(DeviceCollection.Name)]
public sealed class CuBlasBiasKernelTests(TestDevices devices)
{
    [Theory]
    [InlineData(13, 11, false)]
    [InlineData(13, 11, true)]
    [InlineData(1, 37, false)]
    [InlineData(40, 1, true)]
    public void BroadcastRowsMatchesALoop(int rows, int columns, bool accumulate)
    {
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        var acc = devices.Cpu.Accelerator;
        var kernel = acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int>(TensorKernels.BroadcastRows);
        var bias = TestData.Uniform(rng, columns);
        var start = TestData.Uniform(rng, rows * columns);
        using var biasBuf = TestData.Upload(acc, bias);
        using var output = accumulate ? TestData.Upload(acc, start) : TestData.Poisoned(acc, rows * columns);
        kernel(rows * columns, biasBuf.View, output.View, columns, accumulate ? 1 : 0);
        acc.Synchronize();
        var expected = new double[rows * columns];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < columns; c++)
                expected[r * columns + c] = accumulate ? start[r * columns + c] + bias[c] : bias[c]; // the float sum, as the kernel forms it
        TestData.AssertClose(expected, output.GetAsArray1D(), 0, 0, $"{rows}x{columns} seed {seed}");
    }

    [Fact]
    public void TryCreateDeclinesAnAcceleratorThatIsNotCuda()
    {
        var acc = devices.Cpu.Accelerator;
        Assert.Null(CuBlasGemm.TryCreate(acc, acc.DefaultStream, out string description));
        Assert.Contains("not a CUDA accelerator", description);
    }
}
