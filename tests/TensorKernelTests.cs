using Xunit;

namespace GpuLstm.Tests;

[Collection(DeviceCollection.Name)]
public sealed class TensorKernelTests(TestDevices devices)
{
    public static IEnumerable<object[]> ColumnSumCases => TestDevices.WithKernelSets([17, 31, false], [1, 5, true], [40, 3, true]);
    public static IEnumerable<object[]> SquareCases => TestDevices.WithKernelSets([1000, 256], [7, 256], [301, 3]);

    [Theory]
    [MemberData(nameof(ColumnSumCases))]
    public void ColumnSumMatchesReference(string set, int rows, int columns, bool accumulate)
    {
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        var acc = devices[set].Accelerator;
        var x = TestData.Uniform(rng, rows * columns);
        var start = TestData.Uniform(rng, columns);
        using var xBuf = TestData.Upload(acc, x);
        using var sum = accumulate ? TestData.Upload(acc, start) : TestData.Poisoned(acc, columns);
        devices[set].Kernels.ColumnSum(rows, columns, xBuf.View, sum.View, accumulate);
        devices[set].Kernels.Synchronize();
        var expected = new double[columns];
        for (int c = 0; c < columns; c++)
        {
            expected[c] = accumulate ? start[c] : 0;
            for (int r = 0; r < rows; r++) expected[c] += x[r * columns + c];
        }
        TestData.AssertClose(expected, sum.GetAsArray1D(), 1e-5, 1e-5, $"seed {seed}");
    }

    public static IEnumerable<object[]> RowCases => TestDevices.WithKernelSets([13, 11, 37], [1, 3, 8], [40, 5, 515]);

    public static IEnumerable<object[]> TransposeCases => TestDevices.WithKernelSets([1, 1], [7, 45], [33, 70], [128, 512]);

    [Theory]
    [MemberData(nameof(TransposeCases))]
    public void TransposeMatchesReference(string set, int rows, int columns)
    {
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        var acc = devices[set].Accelerator;
        var x = TestData.Uniform(rng, rows * columns);
        using var input = TestData.Upload(acc, x);
        using var output = TestData.Poisoned(acc, rows * columns);
        devices[set].Kernels.Transpose(input.View, output.View, rows, columns);
        devices[set].Kernels.Synchronize();
        var expected = new double[rows * columns];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < columns; c++) expected[c * rows + r] = x[r * columns + c];
        TestData.AssertClose(expected, output.GetAsArray1D(), 0, 0, $"seed {seed}");
    }

    /// <summary>Gathering rows of W for token ids is x·W + b for the one-hot rows x.</summary>
    [Theory]
    [MemberData(nameof(RowCases))]
    public void GatherRowsIsTheOneHotProduct(string set, int rows, int vocab, int columns)
    {
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        var acc = devices[set].Accelerator;
        var ids = Enumerable.Range(0, rows).Select(_ => rng.Next(vocab)).ToArray();
        var table = TestData.Uniform(rng, vocab * columns);
        var bias = TestData.Uniform(rng, columns);
        using var idsBuf = TestData.Upload(acc, ids);
        using var tableBuf = TestData.Upload(acc, table);
        using var biasBuf = TestData.Upload(acc, bias);
        using var output = TestData.Poisoned(acc, rows * columns);
        devices[set].Kernels.GatherRows(idsBuf.View, tableBuf.View, biasBuf.View, output.View, rows, columns);
        devices[set].Kernels.Synchronize();
        var oneHot = new float[rows * vocab];
        for (int r = 0; r < rows; r++) oneHot[r * vocab + ids[r]] = 1;
        var expected = Reference.Gemm(oneHot, table, bias, null, rows, columns, vocab, transA: false, transB: false);
        TestData.AssertClose(expected, output.GetAsArray1D(), 1e-6, 1e-6, $"seed {seed}");
    }

    /// <summary>Scatter-adding gradient rows by token id is xᵀ·G for the one-hot rows x; ids that never occur get zeros.</summary>
    [Theory]
    [MemberData(nameof(RowCases))]
    public void ScatterAddRowsIsTheOneHotWeightGradient(string set, int rows, int vocab, int columns)
    {
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        var acc = devices[set].Accelerator;
        // Leave the last id unused, so a row that receives nothing must still be written (with zeros).
        var ids = Enumerable.Range(0, rows).Select(_ => rng.Next(Math.Max(1, vocab - 1))).ToArray();
        var grads = TestData.Uniform(rng, rows * columns);
        using var idsBuf = TestData.Upload(acc, ids);
        using var gradBuf = TestData.Upload(acc, grads);
        using var tableGrad = TestData.Poisoned(acc, vocab * columns);
        devices[set].Kernels.ScatterAddRows(idsBuf.View, gradBuf.View, tableGrad.View, rows, vocab, columns);
        devices[set].Kernels.Synchronize();
        var oneHot = new float[rows * vocab];
        for (int r = 0; r < rows; r++) oneHot[r * vocab + ids[r]] = 1;
        var expected = Reference.Gemm(oneHot, grads, null, null, vocab, columns, rows, transA: true, transB: false);
        TestData.AssertClose(expected, tableGrad.GetAsArray1D(), 1e-5, 1e-6, $"seed {seed}");
    }

    [Theory]
    [MemberData(nameof(SquareCases))]
    public void SumOfSquaresPartialsAddUpToTheSquaredNorm(string set, int length, int partials)
    {
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        var acc = devices[set].Accelerator;
        var x = TestData.Uniform(rng, length);
        using var xBuf = TestData.Upload(acc, x);
        using var p = TestData.Poisoned(acc, partials);
        devices[set].Kernels.SumOfSquaresPartials(xBuf.View, p.View);
        devices[set].Kernels.Synchronize();
        double expected = x.Sum(v => (double)v * v);
        double actual = p.GetAsArray1D().Sum(v => (double)v);
        Assert.True(Math.Abs(expected - actual) <= 1e-5 * expected, $"seed {seed}: {expected} vs {actual}");
    }

    public static IEnumerable<object[]> CopyColumnsCases => TestDevices.WithKernelSets(
        // rows, columns, source stride, source offset, destination stride, destination offset
        [1, 1, 1, 0, 1, 0],
        [15, 4, 4, 0, 8, 0],     // forward half into the concatenation
        [15, 4, 4, 0, 8, 4],     // reverse half into the concatenation
        [15, 4, 8, 4, 4, 0],     // splitting the gradient back
        [7, 5, 13, 3, 11, 6],    // odd everything
        [33, 1, 3, 2, 2, 1]);

    [Theory]
    [MemberData(nameof(CopyColumnsCases))]
    public void CopyColumnsCopiesTheBlockAndLeavesTheOtherColumnsAlone(string set, int rows, int columns,
        int sourceStride, int sourceOffset, int destinationStride, int destinationOffset)
    {
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        var acc = devices[set].Accelerator;
        var source = TestData.Uniform(rng, rows * sourceStride);
        var before = TestData.Uniform(rng, rows * destinationStride);
        using var sourceBuf = TestData.Upload(acc, source);
        using var destination = TestData.Upload(acc, before);
        devices[set].Kernels.CopyColumns(rows, columns, sourceBuf.View, sourceStride, sourceOffset, destination.View, destinationStride, destinationOffset);
        devices[set].Kernels.Synchronize();
        var expected = before.Select(v => (double)v).ToArray();
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < columns; c++)
                expected[r * destinationStride + destinationOffset + c] = source[r * sourceStride + sourceOffset + c];
        TestData.AssertClose(expected, destination.GetAsArray1D(), 0, 0, $"seed {seed}");
    }

    /// <summary>Two halves copied into a NaN-poisoned buffer fill every element: the concatenation leaves nothing unwritten.</summary>
    [Theory]
    [MemberData(nameof(RowCases))]
    public void CopyColumnsConcatenatesAndSplitsBack(string set, int rows, int left, int right)
    {
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        var acc = devices[set].Accelerator;
        var k = devices[set].Kernels;
        int width = left + right;
        var a = TestData.Uniform(rng, rows * left);
        var b = TestData.Uniform(rng, rows * right);
        using var aBuf = TestData.Upload(acc, a);
        using var bBuf = TestData.Upload(acc, b);
        using var joined = TestData.Poisoned(acc, rows * width);
        using var aBack = TestData.Poisoned(acc, rows * left);
        using var bBack = TestData.Poisoned(acc, rows * right);
        k.CopyColumns(rows, left, aBuf.View, left, 0, joined.View, width, 0);
        k.CopyColumns(rows, right, bBuf.View, right, 0, joined.View, width, left);
        k.CopyColumns(rows, left, joined.View, width, 0, aBack.View, left, 0);
        k.CopyColumns(rows, right, joined.View, width, left, bBack.View, right, 0);
        k.Synchronize();
        var expected = new double[rows * width];
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < left; c++) expected[r * width + c] = a[r * left + c];
            for (int c = 0; c < right; c++) expected[r * width + left + c] = b[r * right + c];
        }
        TestData.AssertClose(expected, joined.GetAsArray1D(), 0, 0, $"joined seed {seed}");
        TestData.AssertClose(a.Select(v => (double)v).ToArray(), aBack.GetAsArray1D(), 0, 0, $"left seed {seed}");
        TestData.AssertClose(b.Select(v => (double)v).ToArray(), bBack.GetAsArray1D(), 0, 0, $"right seed {seed}");
    }

    public static IEnumerable<object[]> AccumulateCases => TestDevices.WithKernelSets([1], [7], [8], [61], [1000]);

    [Theory]
    [MemberData(nameof(AccumulateCases))]
    public void AccumulateAddsSourceIntoDestination(string set, int length)
    {
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        var acc = devices[set].Accelerator;
        var source = TestData.Uniform(rng, length);
        var destination = TestData.Uniform(rng, length);
        using var sourceBuf = TestData.Upload(acc, source);
        using var destinationBuf = TestData.Upload(acc, destination);
        devices[set].Kernels.Accumulate(sourceBuf.View, destinationBuf.View);
        devices[set].Kernels.Synchronize();
        // One float addition per element: exact against the float sum.
        var expected = Enumerable.Range(0, length).Select(i => (double)(destination[i] + source[i])).ToArray();
        TestData.AssertClose(expected, destinationBuf.GetAsArray1D(), 0, 0, $"seed {seed}");
        TestData.AssertClose(source.Select(v => (double)v).ToArray(), sourceBuf.GetAsArray1D(), 0, 0, $"source untouched, seed {seed}");
    }
}
