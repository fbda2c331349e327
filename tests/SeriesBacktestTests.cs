using System.Globalization;
using GpuLstm.Runtime.Series;
using Xunit;

namespace GpuLstm.Tests;

/// <summary>The backtest's metrics, its AR(p) baseline, its origins, and that no origin sees values after it.</summary>
public sealed class SeriesBacktestTests
{
    /// <summary>One origin, h = 2: actual (100, 200), forecast (110, 180), MASE scale 10.</summary>
    [Fact]
    public void MetricsMatchTheM4DefinitionsByHand()
    {
        var m = BacktestMetrics.Overall([100, 200], [110, 180], [10.0], horizon: 2);
        Assert.Equal(Math.Sqrt((100 + 400) / 2.0), m.Rmse, 12);
        Assert.Equal(15, m.Mae, 12);
        // sMAPE = 200/h Σ |y − ŷ| / (|y| + |ŷ|) = 100 · (10/210 + 20/380)
        Assert.Equal(100 * (10.0 / 210 + 20.0 / 380), m.Smape, 10);
        Assert.Equal((10.0 / 10 + 20.0 / 10) / 2, m.Mase, 12);
    }

    /// <summary>Per step, over two origins with different scales: step 1 has errors 10 (scale 10) and 3 (scale 1).</summary>
    [Fact]
    public void PerStepMetricsAverageOverOriginsWithEachOriginsScale()
    {
        double[] actual = [100, 200, 10, 20], predicted = [110, 180, 7, 20];
        var steps = BacktestMetrics.PerStep(actual, predicted, [10.0, 1.0], horizon: 2);
        Assert.Equal(6.5, steps[0].Mae, 12);
        Assert.Equal((10.0 / 10 + 3.0 / 1) / 2, steps[0].Mase, 12);
        Assert.Equal((200 * 10.0 / 210 + 200 * 3.0 / 17) / 2, steps[0].Smape, 10);
        Assert.Equal((20.0 / 10 + 0) / 2, steps[1].Mase, 12);
        var overall = BacktestMetrics.Overall(actual, predicted, [10.0, 1.0], horizon: 2);
        Assert.Equal((1.0 + 2.0 + 3.0 + 0) / 4, overall.Mase, 12);
    }

    [Fact]
    public void SmapeOfTwoZerosIsZeroAndAMissingScaleMakesMaseNaN()
    {
        Assert.Equal(0, BacktestMetrics.SmapeTerm(0, 0));
        Assert.Equal(200, BacktestMetrics.SmapeTerm(0, 5), 12);
        Assert.True(double.IsNaN(BacktestMetrics.Overall([1, 2], [1, 3], [null], 2).Mase));
    }

    /// <summary>
    /// Two origins, h = 2, levels 0.1, 0.5, 0.9. Pairs (y; q0.1, q0.5, q0.9) and their pinball sums Σ_τ ρ_τ(y − q):
    /// (10; 8, 10, 12) inside, 0.2 + 0 + 0.2 = 0.4; (20; 21, 22, 25) below, 0.9 + 1 + 0.5 = 2.4;
    /// (30; 25, 28, 30) inside on the upper end, 0.5 + 1 + 0 = 1.5; (40; 30, 35, 38) above, 1 + 2.5 + 1.8 = 5.3.
    /// </summary>
    [Fact]
    public void IntervalCoverageAndPinballLossMatchAHandComputation()
    {
        double[] actual = [10, 20, 30, 40];
        double[] quantiles = [8, 10, 12, 21, 22, 25, 25, 28, 30, 30, 35, 38];
        double[] levels = [0.1, 0.5, 0.9];
        var all = IntervalScore.Overall(actual, quantiles, levels, horizon: 2);
        Assert.Equal((0.1, 0.9, 2, 4), (all.Low, all.High, all.Inside, all.Count));
        Assert.Equal(0.5, all.Coverage, 12);
        Assert.Equal(0.8, all.Nominal, 12);
        Assert.Equal((0.4 + 2.4 + 1.5 + 5.3) / 12, all.MeanPinball, 12);
        var steps = IntervalScore.PerStep(actual, quantiles, levels, horizon: 2);
        Assert.Equal((2, 2), (steps[0].Inside, steps[0].Count));
        Assert.Equal((0.4 + 1.5) / 6, steps[0].MeanPinball, 12);
        Assert.Equal((0, 2), (steps[1].Inside, steps[1].Count));
        Assert.Equal((2.4 + 5.3) / 6, steps[1].MeanPinball, 12);
        Assert.Equal(0.9 * 2, IntervalScore.Pinball(actual: 12, forecast: 10, level: 0.9), 12);
        Assert.Equal(0.1 * 2, IntervalScore.Pinball(actual: 8, forecast: 10, level: 0.9), 12);
    }

    [Fact]
    public void IntervalScoreRefusesMismatchedShapesAndASingleLevel()
    {
        Assert.Throws<ArgumentException>(() => IntervalScore.Overall([1, 2], [0, 1, 2, 0, 1], [0.1, 0.5, 0.9], horizon: 2));
        Assert.Throws<ArgumentException>(() => IntervalScore.Overall([1, 2], [1, 2], [0.5], horizon: 2));
    }

    /// <summary>Scale = mean |y_t − y_{t−m}| over the history: (2 + 1 + 4)/3 for m = 1 (season 0 means 1), (1 + 3)/2 for m = 2.</summary>
    [Fact]
    public void MaseScaleIsTheInSampleSeasonalNaiveError()
    {
        double[] history = [1, 3, 2, 6];
        Assert.Equal(7.0 / 3, BacktestMetrics.MaseScale(history, season: 0)!.Value, 12);
        Assert.Equal(7.0 / 3, BacktestMetrics.MaseScale(history, season: 1)!.Value, 12);
        Assert.Equal(2.0, BacktestMetrics.MaseScale(history, season: 2)!.Value, 12);
        Assert.Null(BacktestMetrics.MaseScale(history, season: 4));
        Assert.Null(BacktestMetrics.MaseScale([5, 5, 5], season: 1));
    }

    /// <summary>A noise-free AR(2), y_t = 2 + 1.5 y_{t−1} − 0.8 y_{t−2}: least squares recovers it and forecasts its continuation.</summary>
    [Fact]
    public void AutoRegressionRecoversAnAr2ProcessAndForecastsIt()
    {
        var y = new double[80];
        y[0] = 10; y[1] = 4;
        for (int t = 2; t < y.Length; t++) y[t] = 2 + 1.5 * y[t - 1] - 0.8 * y[t - 2];
        var ar = AutoRegression.Fit(y.AsSpan(0, 60), order: 2);
        Assert.Equal(1.5, ar.Coefficients[0], 4);
        Assert.Equal(-0.8, ar.Coefficients[1], 4);
        Assert.Equal(2, ar.Intercept, 3);
        var forecast = ar.Forecast(y.AsSpan(0, 60), 20);
        for (int j = 0; j < 20; j++) Assert.Equal(y[60 + j], forecast[j], 3);
    }

    /// <summary>With noise (seeded), the estimates land near the true coefficients.</summary>
    [Fact]
    public void AutoRegressionEstimatesANoisyAr2()
    {
        var random = new Random(7);
        var y = new double[5000];
        for (int t = 2; t < y.Length; t++) y[t] = 1 + 0.6 * y[t - 1] - 0.3 * y[t - 2] + (random.NextDouble() - 0.5);
        var ar = AutoRegression.Fit(y, order: 2);
        Assert.InRange(ar.Coefficients[0], 0.55, 0.65);
        Assert.InRange(ar.Coefficients[1], -0.35, -0.25);
        Assert.InRange(ar.Intercept, 0.9, 1.1);
    }

    [Fact]
    public void AConstantHistoryStillFitsThanksToTheRidge()
    {
        var ar = AutoRegression.Fit([3, 3, 3, 3, 3, 3, 3], order: 2);
        foreach (double v in ar.Forecast([3, 3, 3], 4)) Assert.Equal(3, v, 6);
    }

    [Fact]
    public void AutoRegressionRefusesTooFewValues() =>
        Assert.Contains("needs at least 7 values", Assert.Throws<GpuLstmException>(() => AutoRegression.Fit([1, 2, 3, 4, 5, 6], order: 3)).Message);

    /// <summary>n = 20, K = 3, s = 2, h = 4: origins 12, 14, 16; the last forecast ends at the series' last value.</summary>
    [Fact]
    public void OriginsAreTheLastKEveryStrideEndingAtTheSeriesEnd()
    {
        Assert.Equal([12, 14, 16], new BacktestPlan(20, 3, 2, 4).OriginIndices());
        Assert.Equal([19], new BacktestPlan(20, 1, 5, 1).OriginIndices());
        Assert.Equal([1], new BacktestPlan(20, 1, 1, 19).OriginIndices());
    }

    [Theory]
    [InlineData(0, 1, 1, "--origins must be a positive integer, got 0")]
    [InlineData(1, 0, 1, "--stride must be a positive integer, got 0")]
    [InlineData(1, 1, 0, "--horizon must be a positive integer, got 0")]
    [InlineData(3, 8, 4, "need (origins − 1) × stride + horizon = 20 values after the first origin")]
    [InlineData(1, 1, 20, "need (origins − 1) × stride + horizon = 20 values")]
    public void BadPlansAreRefused(int origins, int stride, int horizon, string message) =>
        Assert.Contains(message, Assert.Throws<GpuLstmException>(() => new BacktestPlan(20, origins, stride, horizon).Check()).Message);

    private static SeriesData Series(double[] values) =>
        new("test", "value", null, values, values.Select((_, i) => (i + 1).ToString(CultureInfo.InvariantCulture)).ToArray(), null);

    private static double[] Seasonal(int n) =>
        Enumerable.Range(0, n).Select(i => 20 + 5 * Math.Sin(2 * Math.PI * i / 12) + 0.1 * i).ToArray();

    private static readonly SeriesTrainingSettings Tiny = new()
    {
        Csv = "test", Column = "value", Window = 4, Hidden = 4, Epochs = 3, Season = 12, Device = "cpu", Difference = true,
    };

    /// <summary>
    /// Values changed from the second origin on leave the first two origins' forecasts (model and every baseline)
    /// exactly as they were, trained once or refitted, while the third origin's, which sees changed values, move.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void NoOriginSeesValuesAfterIt(bool refit)
    {
        var training = refit ? BacktestTraining.Refit : BacktestTraining.Once;
        var y = Seasonal(60);
        var plan = new BacktestPlan(60, 3, 2, 3);
        // No validation part: every value before an origin trains the model and fits its scaler, so a value
        // after it that leaked into training would change the weights.
        var settings = Tiny with { ValFraction = 0 };
        var before = SeriesBacktest.Run(Series(y), settings, plan, training, arOrder: 4);
        Assert.Equal([53, 55, 57], before.Origins);
        var changed = (double[])y.Clone();
        for (int t = 55; t < 60; t++) changed[t] += 50;
        var after = SeriesBacktest.Run(Series(changed), settings, plan, training, arOrder: 4);
        Assert.Equal(["LSTM", "persistence", "seasonal naive (12)", "AR(4)"], before.Forecasts.Select(f => f.Name));
        for (int f = 0; f < before.Forecasts.Count; f++)
        {
            var (a, b) = (before.Forecasts[f].Values, after.Forecasts[f].Values);
            Assert.Equal(a[..6], b[..6]);           // origins 53 and 55: y[..53), y[..55) unchanged
            // Origin 57 sees y[55], y[56]; seasonal naive reads a season back (y[45..48)), which did not change.
            if (before.Forecasts[f].CsvColumn == "seasonal_naive") Assert.Equal(a[6..], b[6..]);
            else Assert.NotEqual(a[6..], b[6..]);
        }
    }

    [Fact]
    public void ActualsAndNaiveForecastsComeFromTheRightIndices()
    {
        var y = Seasonal(60);
        var r = SeriesBacktest.Run(Series(y), Tiny, new BacktestPlan(60, 2, 3, 2), BacktestTraining.Once, arOrder: 2);
        Assert.Equal([55, 58], r.Origins);
        Assert.Equal([y[55], y[56], y[58], y[59]], r.Actual);
        Assert.Equal([y[54], y[54], y[57], y[57]], r.Forecasts[1].Values);
        Assert.Equal([y[43], y[44], y[46], y[47]], r.Forecasts[2].Values);
        Assert.All(r.Forecasts[0].Values, v => Assert.True(double.IsFinite(v)));
        Assert.Equal(BacktestMetrics.MaseScale(y.AsSpan(0, 58), 12), r.MaseScales[1]);
    }
}
