using GpuLstm.Runtime.Series;
using Xunit;

namespace GpuLstm.Tests;

/// <summary>The shared CSVs load as documented in shared/data/PROVENANCE.md, and the baselines behave on real data.</summary>
public sealed class SeriesRealDataTests
{
    private static SeriesData Load(string file, string column, string date) =>
        SeriesCsv.Load(Path.Combine(SharedData.Directory, file), column, date);

    [Fact]
    public void AirlinePassengersHas144MonthlyRows()
    {
        var data = Load("airline-passengers.csv", "Passengers", "Month");
        Assert.Equal(144, data.Count);
        Assert.Equal(("1949-01", 112.0), (data.Labels[0], data.Values[0]));
        Assert.Equal(("1960-12", 432.0), (data.Labels[^1], data.Values[^1]));
        Assert.Equal(104.0, data.Values.Min());
        Assert.Equal(622.0, data.Values.Max());
        Assert.Equal(280.30, data.Values.Average(), 2);
        var dates = data.Dates!;
        Assert.All(Enumerable.Range(1, 143), i => Assert.Equal(dates[i - 1].AddMonths(1), dates[i]));
    }

    [Fact]
    public void DailyMinTemperaturesHas3650RowsWithTwoMissingDays()
    {
        var data = Load("daily-min-temperatures.csv", "Temp", "Date");
        Assert.Equal(3650, data.Count);
        Assert.Equal("1981-01-01", data.Labels[0]);
        Assert.Equal("1990-12-31", data.Labels[^1]);
        Assert.Equal(0.0, data.Values.Min());
        Assert.Equal(26.3, data.Values.Max());
        var dates = data.Dates!;
        var gaps = Enumerable.Range(1, dates.Length - 1).Where(i => dates[i] - dates[i - 1] != TimeSpan.FromDays(1)).Select(i => data.Labels[i - 1]).ToArray();
        Assert.Equal(new[] { "1984-12-30", "1988-12-30" }, gaps);   // 1984-12-31 and 1988-12-31 are absent upstream
    }

    [Fact]
    public void MonthlySunspotsHas2820Rows()
    {
        var data = Load("monthly-sunspots.csv", "Sunspots", "Month");
        Assert.Equal(2820, data.Count);
        Assert.Equal(0.0, data.Values.Min());
        Assert.Equal(253.8, data.Values.Max());
        // Months with no sunspots: MAPE must skip them rather than divide by zero.
        var m = ForecastMetrics.Compute(data.Values, data.Values.Select(v => v + 1).ToArray());
        Assert.Equal(67, m.MapeSkipped);
        Assert.True(double.IsFinite(m.Mape));
    }

    [Theory]
    [InlineData(12, 1)]
    [InlineData(12, 12)]
    [InlineData(24, 3)]
    public void OnAirlinePassengersSeasonalNaiveBeatsPersistence(int window, int horizon)
    {
        var values = Load("airline-passengers.csv", "Passengers", "Month").Values;
        var split = SeriesSplit.ByFractions(values.Length, 0.15, 0.15);
        var windows = new SeriesWindows(split, window, horizon);
        Assert.Equal(22 - horizon + 1, windows.SampleCount(SeriesPart.Test));
        var persistence = SeriesBaselines.EvaluatePersistence(values, windows);
        var seasonal = SeriesBaselines.EvaluateSeasonalNaive(values, windows, season: 12);
        Assert.True(seasonal.Rmse < persistence.Rmse, $"seasonal naive RMSE {seasonal.Rmse:F2} should beat persistence {persistence.Rmse:F2}");
        if (horizon == 1)
        {
            // Checked against an independent Python computation over test months 1959-03..1960-12.
            Assert.Equal(53.7249, persistence.Rmse, 3);
            Assert.Equal(51.7828, seasonal.Rmse, 3);
        }
    }
}
