using GpuLstm.Runtime;
using GpuLstm.Runtime.Series;
using Xunit;

namespace GpuLstm.Tests;

public sealed class SeriesSplitTests
{
    [Fact]
    public void FractionsCutInTimeOrder()
    {
        var split = SeriesSplit.ByFractions(144, 0.15, 0.15);   // 21.6 → 22 each
        Assert.Equal(new SeriesRange(0, 100), split.Train);
        Assert.Equal(new SeriesRange(100, 122), split.Validation);
        Assert.Equal(new SeriesRange(122, 144), split.Test);
        Assert.Equal(split.Test, split[SeriesPart.Test]);

        double[] values = Enumerable.Range(0, 144).Select(i => (double)i).ToArray();
        Assert.Equal(values[100..122], split.Slice(values, SeriesPart.Validation).ToArray());
    }

    [Fact]
    public void ZeroFractionGivesAnEmptyPartAndAPositiveOneAtLeastOneValue()
    {
        var split = SeriesSplit.ByFractions(10, 0, 0.2);
        Assert.True(split.Validation.IsEmpty);
        Assert.Equal(new SeriesRange(8, 10), split.Test);
        split = SeriesSplit.ByFractions(10, 0.01, 0.01);
        Assert.Equal(new SeriesRange(0, 8), split.Train);
        Assert.Equal(1, split.Validation.Length);
        Assert.Equal(1, split.Test.Length);
    }

    [Theory]
    [InlineData(-0.1, 0.1)]
    [InlineData(0.1, 1.0)]
    [InlineData(double.NaN, 0.1)]
    public void BadFractionsAreErrors(double validation, double test) =>
        Assert.Contains("fraction must be at least 0 and below 1", Assert.Throws<GpuLstmException>(() => SeriesSplit.ByFractions(100, validation, test)).Message);

    [Fact]
    public void NoTrainingValuesIsAnError()
    {
        var e = Assert.Throws<GpuLstmException>(() => SeriesSplit.ByFractions(10, 0.5, 0.5));
        Assert.Equal("a series of 10 values split with validation fraction 0.5 and test fraction 0.5 leaves no training values (5 validation, 5 test)", e.Message);
    }
}
