using System.Globalization;
using GpuLstm.Runtime.Series;
using Xunit;

namespace GpuLstm.Tests;

/// <summary>`forecast backtest` with covariates: what an origin may read, the direct-horizon rule, and the AR row with covariates.</summary>
public sealed class SeriesCovariateBacktestTests
{
    /// <summary>Hourly rows from 2014-01-01 00:00: a load driven by a numeric temperature (lagged) and a two-valued wind direction.</summary>
    private static SeriesData Hourly(int n, Func<int, double>? temperature = null, Func<int, string>? direction = null)
    {
        temperature ??= i => 10 + 5 * Math.Sin(i / 5.0);
        direction ??= i => i % 3 == 0 ? "N" : "S";
        var values = new double[n];
        var dates = new DateTime[n];
        for (int i = 0; i < n; i++)
        {
            dates[i] = new DateTime(2014, 1, 1, 0, 0, 0, DateTimeKind.Utc).AddHours(i);
            values[i] = 50 + 10 * Math.Sin(i / 4.0) + (i > 0 ? 0.5 * temperature(i - 1) : 0);
        }
        var labels = dates.Select(d => d.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture)).ToArray();
        return new SeriesData("test", "load", "date", values, labels, dates)
        {
            Covariates =
            [
                new CovariateColumn("temp", Enumerable.Range(0, n).Select(i => temperature(i).ToString("R", CultureInfo.InvariantCulture)).ToArray()),
                new CovariateColumn("dir", Enumerable.Range(0, n).Select(direction).ToArray()),
            ],
        };
    }

    private static readonly SeriesTrainingSettings Tiny = new()
    {
        Csv = "test", Column = "load", DateColumn = "date", Covariates = ["temp", "dir"], Window = 4, Hidden = 4, Epochs = 3, Device = "cpu",
        ValFraction = 0, Horizon = 2,
    };

    /// <summary>
    /// n = 60, 3 origins every 2 steps, h = 2: origins 54, 56, 58. Covariate cells changed from row 56 on (a new
    /// temperature, and a wind direction the training part never saw) leave the forecasts of origins 54 and 56
    /// (model and AR with covariates: they read rows up to 55) exactly as they were, trained once or refitted;
    /// origin 58 reads rows 56 and 57, so its forecasts move. With no validation part every value before an
    /// origin trains the model and fits the covariate scalers, so any leak would move the weights.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void NoOriginSeesCovariatesAfterIt(bool refit)
    {
        var training = refit ? BacktestTraining.Refit : BacktestTraining.Once;
        var plan = new BacktestPlan(60, 3, 2, 2);
        var before = SeriesBacktest.Run(Hourly(60), Tiny, plan, training, arOrder: 3);
        Assert.Equal([54, 56, 58], before.Origins);
        Assert.Equal(["LSTM", "persistence", "AR(3) with covariates"], before.Forecasts.Select(f => f.Name));
        var changed = Hourly(60, i => i >= 56 ? 40 + i : 10 + 5 * Math.Sin(i / 5.0), i => i >= 56 ? "S" : i % 3 == 0 ? "N" : "S");
        // The load stays as it was: only the covariate cells change.
        var after = SeriesBacktest.Run(changed with { Values = Hourly(60).Values }, Tiny, plan, training, arOrder: 3);
        foreach (int f in new[] { 0, 2 })
        {
            var (a, b) = (before.Forecasts[f].Values, after.Forecasts[f].Values);
            Assert.Equal(a[..4], b[..4]);
            Assert.NotEqual(a[4..], b[4..]);
        }
    }

    /// <summary>
    /// Future covariates are known ahead: origin o reads them up to row o + h − 1 and no further. Flipping the
    /// wind direction (a future covariate here) from row 58 on leaves origins 54 and 56 (which read rows up to
    /// 55 and 57) exactly as they were and moves origin 58's model forecast, whose window carries rows 58 and 59.
    /// </summary>
    [Fact]
    public void AnOriginReadsFutureCovariatesUpToItsLastTargetRowOnly()
    {
        var settings = Tiny with { Covariates = ["temp"], FutureCovariates = ["dir"] };
        var plan = new BacktestPlan(60, 3, 2, 2);
        var before = SeriesBacktest.Run(Hourly(60), settings, plan, BacktestTraining.Once, arOrder: 3);
        var flipped = Hourly(60, direction: i => (i % 3 == 0) != (i >= 58) ? "N" : "S");
        var after = SeriesBacktest.Run(flipped, settings, plan, BacktestTraining.Once, arOrder: 3);
        var (a, b) = (before.Forecasts[0].Values, after.Forecasts[0].Values);
        Assert.Equal(a[..4], b[..4]);
        Assert.NotEqual(a[4..], b[4..]);
        // AR reads them at the target rows too: origin 58's moves, the others' stay.
        var (arBefore, arAfter) = (before.Forecasts[^1].Values, after.Forecasts[^1].Values);
        Assert.Equal(arBefore[..4], arAfter[..4]);
        Assert.NotEqual(arBefore[4..], arAfter[4..]);

        // Without past covariates the model recurses over whole blocks of k inside h; h not a multiple of k is one line.
        var futureOnly = settings with { Covariates = [], Horizon = 1 };
        var data = Hourly(60) with { Covariates = [Hourly(60).Covariates[1]] };
        var r = SeriesBacktest.Run(data, futureOnly, plan, BacktestTraining.Once, arOrder: 3);
        Assert.All(r.Forecasts[0].Values, v => Assert.True(double.IsFinite(v)));
        var message = Assert.Throws<GpuLstmException>(() => SeriesBacktest.Run(data, futureOnly with { Horizon = 2 }, new BacktestPlan(60, 2, 2, 3), BacktestTraining.Once, arOrder: 3)).Message;
        Assert.Contains("needs --horizon (3) to be a multiple of --model-horizon (2)", message);
    }

    /// <summary>A quantile model with a future covariate samples its intervals from the same rows as its point forecast: flipping them after origin 56's last target row moves only origin 58's quantiles.</summary>
    [Fact]
    public void SampledIntervalsReadFutureCovariatesUpToTheLastTargetRowOnly()
    {
        var settings = Tiny with { Covariates = [], FutureCovariates = ["dir"], Horizon = 1, Likelihood = SeriesLikelihood.Quantile, Quantiles = [0.1, 0.5, 0.9] };
        var plan = new BacktestPlan(60, 3, 2, 2);
        var sampling = new BacktestSampling(16, 7);
        SeriesData Data(Func<int, string>? direction = null) { var d = Hourly(60, direction: direction); return d with { Covariates = [d.Covariates[1]] }; }
        var before = SeriesBacktest.Run(Data(), settings, plan, BacktestTraining.Once, 3, sampling: sampling).Quantiles!;
        var after = SeriesBacktest.Run(Data(i => (i % 3 == 0) != (i >= 58) ? "N" : "S"), settings, plan, BacktestTraining.Once, 3, sampling: sampling).Quantiles!;
        Assert.All(before.Values, v => Assert.True(double.IsFinite(v)));
        Assert.Equal(before.Values[..12], after.Values[..12]);
        Assert.NotEqual(before.Values[12..], after.Values[12..]);
    }

    /// <summary>A quantile model's sampled intervals read covariates before the origin only, as its point forecasts do.</summary>
    [Fact]
    public void NoOriginsIntervalsSeeCovariatesAfterIt()
    {
        var plan = new BacktestPlan(60, 3, 2, 2);
        var settings = Tiny with { Likelihood = SeriesLikelihood.Quantile, Quantiles = [0.1, 0.5, 0.9] };
        var sampling = new BacktestSampling(20, 42);
        var before = SeriesBacktest.Run(Hourly(60), settings, plan, BacktestTraining.Once, 3, sampling: sampling).Quantiles!;
        var changed = Hourly(60, i => i >= 56 ? 40 + i : 10 + 5 * Math.Sin(i / 5.0)) with { Values = Hourly(60).Values };
        var after = SeriesBacktest.Run(changed, settings, plan, BacktestTraining.Once, 3, sampling: sampling).Quantiles!;
        Assert.Equal(3 * 2 * 3, before.Values.Length);
        Assert.Equal(before.Values[..12], after.Values[..12]);   // origins 54 and 56: 2 steps × 3 levels each
        Assert.NotEqual(before.Values[12..], after.Values[12..]);
    }

    /// <summary>
    /// Sampled paths of a past-covariate model end after one block of its horizon (nothing is fed back past
    /// the covariates' known range), while the same model without the history's covariates is a bug, not a
    /// silent forecast from zeros.
    /// </summary>
    [Fact]
    public void SampledPathsOfAPastCovariateModelEndAfterOneBlock()
    {
        var data = Hourly(60);
        var work = Directory.CreateTempSubdirectory("gpulstm-cov-sample-");
        try
        {
            var settings = Tiny with { Likelihood = SeriesLikelihood.Gaussian, TestFraction = 0, Checkpoint = Path.Combine(work.FullName, "m.safetensors") };
            using var run = new SeriesTraining(settings, data);
            run.Run();
            var history = new CovariateHistory(run.ModelInfo.Covariates, data.Covariates, data.Dates, data.Labels);
            var points = SeriesIntervals.SampledStream(run.Model, data.Values, false, run.ModelInfo.Scaler, 8, 42, history).ToList();
            Assert.Equal([1L, 2L], points.Select(p => p.Step));
            Assert.All(points, p => Assert.True(p.Quantiles[0] < p.Quantiles[1]));
            Assert.Throws<ArgumentException>(() => SeriesIntervals.SampledStream(run.Model, data.Values, false, run.ModelInfo.Scaler, 8, 42));
        }
        finally { work.Delete(recursive: true); }
    }

    /// <summary>A category first seen after the training part reaches no scaler: the backtest refuses it in one line, naming the column and row.</summary>
    [Fact]
    public void ACategoryUnseenBeforeTheFirstOriginIsOneLine()
    {
        var data = Hourly(60, direction: i => i >= 57 ? "E" : i % 3 == 0 ? "N" : "S");
        var message = Assert.Throws<GpuLstmException>(() => SeriesBacktest.Run(data, Tiny, new BacktestPlan(60, 3, 2, 2), BacktestTraining.Once, arOrder: 3)).Message;
        Assert.Contains("covariate 'dir' at row 2014-01-03 09:00: the category \"E\" was not seen in training", message);
    }

    /// <summary>Past covariates after an origin are unknown: a model horizon other than h is refused; a calendar-only model may recurse past its horizon.</summary>
    [Fact]
    public void PastCovariatesNeedTheModelHorizonToBeHButTheCalendarAloneMayRecurse()
    {
        var plan = new BacktestPlan(60, 2, 2, 3);
        var message = Assert.Throws<GpuLstmException>(() => SeriesBacktest.Run(Hourly(60), Tiny, plan, BacktestTraining.Once, arOrder: 3)).Message;
        Assert.Contains("needs --model-horizon equal to --horizon (3), got 2", message);

        var calendar = Tiny with { Covariates = [], Calendar = true, Horizon = 1 };
        var r = SeriesBacktest.Run(Hourly(60) with { Covariates = [] }, calendar, plan, BacktestTraining.Once, arOrder: 3);
        Assert.Equal("AR(3) with covariates", r.Forecasts[^1].Name);
        Assert.All(r.Forecasts[0].Values, v => Assert.True(double.IsFinite(v)));
        Assert.Equal(6, r.Forecasts[0].Values.Length);
    }
}
