using Xunit;

namespace GpuLstm.Tests;

[Collection(DeviceCollection.Name)]
public sealed class TensorKernelTests(TestDevices devices)
{
    public static IEnumerable<object[]> ColumnSumCases => TestDevices.WithKernelSets([17, 31, false], [1, 5, true], [40, 3, true]);
    public static IEnumerable<object[]> Sets => TestDevices.WithKernelSets(Array.Empty<object>());
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

    [Theory]
    [MemberData(nameof(Sets))]
    public void OneHotWritesEveryElement(string set)
    {
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        var acc = devices[set].Accelerator;
        const int rows = 13, vocab = 11;
        var tokens = Enumerable.Range(0, rows).Select(_ => rng.Next(vocab)).ToArray();
        using var tokensBuf = TestData.Upload(acc, tokens);
        using var x = TestData.Poisoned(acc, rows * vocab);
        devices[set].Kernels.OneHot(tokensBuf.View, x.View, rows, vocab);
        devices[set].Kernels.Synchronize();
        var expected = new double[rows * vocab];
        for (int r = 0; r < rows; r++) expected[r * vocab + tokens[r]] = 1;
        TestData.AssertClose(expected, x.GetAsArray1D(), 0, 0, $"seed {seed}");
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
}
