using GpuLstm.Runtime.Series;
using Xunit;

namespace GpuLstm.Tests;

public sealed class SeriesMetricsTests
{
    [Fact]
    public void MatchesHandComputedValues()
    {
        // errors 1, 0, −3, 0.5: squares 1 + 0 + 9 + 0.25; |e|/|a| = 1/1, 0, 3/4, 0.5/−5.
        var m = ForecastMetrics.Compute(new[] { 1.0, 2, 4, -5 }, new[] { 2.0, 2, 1, -4.5 });
        Assert.Equal(Math.Sqrt(10.25 / 4), m.Rmse, 14);
        Assert.Equal(4.5 / 4, m.Mae, 14);
        Assert.Equal(100 * (1 + 0 + 0.75 + 0.1) / 4, m.Mape, 12);
        Assert.Equal(4, m.Count);
        Assert.Equal(0, m.MapeSkipped);
    }

    [Fact]
    public void MapeSkipsZeroActualsAndSaysHowMany()
    {
        var m = ForecastMetrics.Compute(new[] { 0.0, 2, 1e-13 }, new[] { 1.0, 3, 1 });
        Assert.Equal(50.0, m.Mape, 12);   // only |3 − 2| / 2
        Assert.Equal(2, m.MapeSkipped);
        Assert.Equal(Math.Sqrt((1 + 1 + 1) / 3.0), m.Rmse, 6);   // RMSE and MAE still use every pair
        var none = ForecastMetrics.Compute(new[] { 0.0, 0 }, new[] { 1.0, -1 });
        Assert.True(double.IsNaN(none.Mape));
        Assert.Equal(2, none.MapeSkipped);
        Assert.Equal(1.0, none.Mae);
    }

    [Fact]
    public void HorizonMetricsCoverAllPairsAndPerStep()
    {
        // B = 2 samples, k = 3 steps, row-major (B, k).
        double[] actual = { 1, 2, 3, 4, 5, 6 };
        double[] predicted = { 1, 3, 6, 4, 4, 4 };   // errors 0 1 3 / 0 −1 −2
        var all = ForecastMetrics.Compute(actual, predicted);
        Assert.Equal(6, all.Count);
        Assert.Equal(Math.Sqrt(15 / 6.0), all.Rmse, 14);
        Assert.Equal(7 / 6.0, all.Mae, 14);
        var steps = ForecastMetrics.ComputePerStep(actual, predicted, 3);
        Assert.Equal(new[] { 0.0, 1.0, 2.5 }, steps.Select(s => s.Mae));
        Assert.Equal(Math.Sqrt(6.5), steps[2].Rmse, 14);
        Assert.Equal(100 * (3 / 3.0 + 2 / 6.0) / 2, steps[2].Mape, 12);
    }

    [Fact]
    public void MismatchedOrEmptyInputsThrow()
    {
        Assert.Throws<ArgumentException>(() => ForecastMetrics.Compute(new[] { 1.0 }, new[] { 1.0, 2 }));
        Assert.Throws<ArgumentException>(() => ForecastMetrics.Compute(Array.Empty<double>(), Array.Empty<double>()));
        Assert.Throws<ArgumentException>(() => ForecastMetrics.ComputePerStep(new double[5], new double[5], 2));
    }
}
