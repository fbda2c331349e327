using GpuLstm.Runtime;
using GpuLstm.Runtime.Series;
using Xunit;

namespace GpuLstm.Tests;

public sealed class SeriesBaselineTests
{
    /// <summary>Season 4: each year adds 10.</summary>
    private static readonly double[] Seasonal = { 1, 2, 3, 4, 11, 12, 13, 14, 21, 22, 23, 24 };

    [Fact]
    public void SeasonalNaiveTakesTheLatestKnownValueOfTheSameSeason()
    {
        // e = 5, k = 6: targets 5..10. j < 4 look back 4 (indices 1, 2, 3, 4); j = 4, 5 look back 8 (indices 1, 2).
        var p = SeriesBaselines.SeasonalNaive(Seasonal, new[] { 5 }, horizon: 6, season: 4);
        Assert.Equal(new[] { 2.0, 3, 4, 11, 2, 3 }, p);
        // Two samples, k = 2: e = 4 → indices 0, 1; e = 9 → indices 5, 6.
        Assert.Equal(new[] { 1.0, 2, 12, 13 }, SeriesBaselines.SeasonalNaive(Seasonal, new[] { 4, 9 }, 2, 4));
        // Season 1 is persistence.
        Assert.Equal(SeriesBaselines.Persistence(Seasonal, new[] { 5, 7 }, 3), SeriesBaselines.SeasonalNaive(Seasonal, new[] { 5, 7 }, 3, 1));
    }

    [Fact]
    public void PersistenceRepeatsTheLastInput()
    {
        Assert.Equal(new[] { 11.0, 11, 11, 14, 14, 14 }, SeriesBaselines.Persistence(Seasonal, new[] { 5, 8 }, 3));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    [InlineData(6)]
    public void BaselinesNeverReadTheSampleEndOrLater(int horizon)
    {
        for (int e = 4; e + horizon <= Seasonal.Length; e++)
        {
            var hidden = Seasonal.ToArray();
            for (int i = e; i < hidden.Length; i++) hidden[i] = double.NaN;
            Assert.Equal(SeriesBaselines.SeasonalNaive(Seasonal, new[] { e }, horizon, 4), SeriesBaselines.SeasonalNaive(hidden, new[] { e }, horizon, 4));
            Assert.Equal(SeriesBaselines.Persistence(Seasonal, new[] { e }, horizon), SeriesBaselines.Persistence(hidden, new[] { e }, horizon));
            Assert.DoesNotContain(SeriesBaselines.SeasonalNaive(hidden, new[] { e }, horizon, 4), double.IsNaN);
        }
    }

    [Fact]
    public void EvaluatedOnTheTestSamplesAgainstHandComputedErrors()
    {
        // train [0, 8), test [8, 12); window 2, horizon 1 → test samples 8..11.
        var windows = new SeriesWindows(new SeriesSplit(12, 8, 8), window: 2, horizon: 1);
        var seasonal = SeriesBaselines.EvaluateSeasonalNaive(Seasonal, windows, season: 4);
        Assert.Equal(4, seasonal.Count);
        Assert.Equal(10.0, seasonal.Rmse, 14);          // every year adds exactly 10
        Assert.Equal(100 * (10 / 21.0 + 10 / 22.0 + 10 / 23.0 + 10 / 24.0) / 4, seasonal.Mape, 12);
        var persistence = SeriesBaselines.EvaluatePersistence(Seasonal, windows);
        // targets 21 22 23 24, predictions 14 21 22 23: errors 7 1 1 1
        Assert.Equal(Math.Sqrt(52 / 4.0), persistence.Rmse, 14);
        Assert.Equal(2.5, persistence.Mae, 14);
    }

    [Fact]
    public void SeasonalNaiveNeedsASeasonOfHistoryBeforeEverySample()
    {
        var e = Assert.Throws<GpuLstmException>(() => SeriesBaselines.SeasonalNaive(Seasonal, new[] { 8, 3 }, 1, 4));
        Assert.Equal("seasonal naive with season 4 needs 4 values before each forecast, but the sample at index 3 has only 3", e.Message);
        var windows = new SeriesWindows(new SeriesSplit(12, 8, 8), 2, 1);
        Assert.Throws<GpuLstmException>(() => SeriesBaselines.EvaluateSeasonalNaive(Seasonal, windows, season: 9));
        Assert.Throws<GpuLstmException>(() => SeriesBaselines.SeasonalNaive(Seasonal, new[] { 8 }, 1, 0));
        Assert.Throws<GpuLstmException>(() => SeriesBaselines.EvaluatePersistence(Seasonal, windows, SeriesPart.Validation));
    }
}
