using Xunit;

namespace GpuLstm.Tests;

[Collection(DeviceCollection.Name)]
public sealed class TensorKernelTests(TestDevices devices)
{
    [Theory]
    [InlineData(17, 31, false)]
    [InlineData(1, 5, true)]
    [InlineData(40, 3, true)]
    public void ColumnSumMatchesReference(int rows, int columns, bool accumulate)
    {
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        var acc = devices.Cpu.Accelerator;
        var x = TestData.Uniform(rng, rows * columns);
        var start = TestData.Uniform(rng, columns);
        using var xBuf = TestData.Upload(acc, x);
        using var sum = accumulate ? TestData.Upload(acc, start) : TestData.Poisoned(acc, columns);
        devices.Cpu.Kernels.ColumnSum(rows, columns, xBuf.View, sum.View, accumulate);
        devices.Cpu.Kernels.Synchronize();
        var expected = new double[columns];
        for (int c = 0; c < columns; c++)
        {
            expected[c] = accumulate ? start[c] : 0;
            for (int r = 0; r < rows; r++) expected[c] += x[r * columns + c];
        }
        TestData.AssertClose(expected, sum.GetAsArray1D(), 1e-5, 1e-5, $"seed {seed}");
    }

    [Fact]
    public void OneHotWritesEveryElement()
    {
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        var acc = devices.Cpu.Accelerator;
        const int rows = 13, vocab = 11;
        var tokens = Enumerable.Range(0, rows).Select(_ => rng.Next(vocab)).ToArray();
        using var tokensBuf = TestData.Upload(acc, tokens);
        using var x = TestData.Poisoned(acc, rows * vocab);
        devices.Cpu.Kernels.OneHot(tokensBuf.View, x.View, rows, vocab);
        devices.Cpu.Kernels.Synchronize();
        var expected = new double[rows * vocab];
        for (int r = 0; r < rows; r++) expected[r * vocab + tokens[r]] = 1;
        TestData.AssertClose(expected, x.GetAsArray1D(), 0, 0, $"seed {seed}");
    }

    [Theory]
    [InlineData(1000, 256)]
    [InlineData(7, 256)]
    [InlineData(301, 3)]
    public void SumOfSquaresPartialsAddUpToTheSquaredNorm(int length, int partials)
    {
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        var acc = devices.Cpu.Accelerator;
        var x = TestData.Uniform(rng, length);
        using var xBuf = TestData.Upload(acc, x);
        using var p = TestData.Poisoned(acc, partials);
        devices.Cpu.Kernels.SumOfSquaresPartials(xBuf.View, p.View);
        devices.Cpu.Kernels.Synchronize();
        double expected = x.Sum(v => (double)v * v);
        double actual = p.GetAsArray1D().Sum(v => (double)v);
        Assert.True(Math.Abs(expected - actual) <= 1e-5 * expected, $"seed {seed}: {expected} vs {actual}");
    }
}
