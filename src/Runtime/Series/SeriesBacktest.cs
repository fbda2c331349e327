using System.Diagnostics;
using GpuLstm.Runtime.Models;
using GpuLstm.Runtime.Training;

namespace GpuLstm.Runtime.Series;

/// <summary>How a backtest trains its model.</summary>
internal enum BacktestTraining
{
    /// <summary>Train once on the values before the first origin; every origin then forecasts from its observed history.</summary>
    Once,
    /// <summary>Train again for every origin on all the values before it (an expanding window).</summary>
    Refit,
}

/// <summary>
/// Where a rolling-origin backtest forecasts, as Darts' historical_forecasts: the last <see cref="Origins"/>
/// origins, <see cref="Stride"/> steps apart, each forecasting <see cref="Horizon"/> values. Origin o
/// forecasts y[o..o+h) from y[0..o) only; the last origin's forecast ends at the series' last value.
/// </summary>
internal sealed record BacktestPlan(int SeriesLength, int Origins, int Stride, int Horizon)
{
    /// <summary>The origins (K) in increasing order: o_i = n − h − (K − 1 − i) · s.</summary>
    public int[] OriginIndices()
    {
        Check();
        var result = new int[Origins];
        for (int i = 0; i < Origins; i++) result[i] = SeriesLength - Horizon - (Origins - 1 - i) * Stride;
        return result;
    }

    /// <summary>Refuses a plan with a non-positive count, or one that needs more values than the series has.</summary>
    public void Check()
    {
        if (Origins < 1) throw new GpuLstmException($"--origins must be a positive integer, got {Origins}");
        if (Stride < 1) throw new GpuLstmException($"--stride must be a positive integer, got {Stride}");
        if (Horizon < 1) throw new GpuLstmException($"--horizon must be a positive integer, got {Horizon}");
        long after = (long)(Origins - 1) * Stride + Horizon;
        if (after >= SeriesLength)
            throw new GpuLstmException($"{Origins} origins every {Stride} steps with horizon {Horizon} need (origins − 1) × stride + horizon = {after} values after the first origin and some before it, but the series has only {SeriesLength}; give fewer --origins, a smaller --stride or --horizon");
    }
}

/// <summary>One forecaster's forecasts over a backtest: (origins, h) row-major, in original units; <paramref name="CsvColumn"/> heads its column in the forecasts CSV.</summary>
internal sealed record BacktestForecasts(string Name, string CsvColumn, double[] Values);

/// <summary>How a backtest of a probabilistic model samples its intervals: <see cref="Samples"/> paths from each origin, drawn with <see cref="Seed"/> (the same paths `forecast predict --samples --seed` draws from that history).</summary>
internal sealed record BacktestSampling(int Samples, ulong Seed);

/// <summary>
/// A probabilistic model's quantiles over a backtest: (origins, h, Q) row-major at the head's reported
/// <see cref="Levels"/>, in original units, the empirical quantiles of <see cref="Samples"/> sampled paths.
/// </summary>
internal sealed record BacktestQuantiles(IReadOnlyList<double> Levels, double[] Values, int Samples)
{
    public IntervalScore Overall(double[] actual, int horizon) => IntervalScore.Overall(actual, Values, Levels, horizon);

    public IntervalScore[] PerStep(double[] actual, int horizon) => IntervalScore.PerStep(actual, Values, Levels, horizon);
}

/// <summary>
/// What a backtest measured: the origins, the actual values (origins, h) and every forecaster's forecasts on
/// them (the model first, then persistence, seasonal naive when there is a season, and AR(p)), with each
/// origin's MASE scale.
/// </summary>
internal sealed record BacktestResult(BacktestPlan Plan, int[] Origins, double[] Actual, IReadOnlyList<BacktestForecasts> Forecasts,
    double?[] MaseScales, int ArOrder, TimeSpan Elapsed)
{
    /// <summary>A probabilistic model's quantiles at every origin and step; null for a point model.</summary>
    public BacktestQuantiles? Quantiles { get; init; }

    public BacktestMetrics Overall(BacktestForecasts f) => BacktestMetrics.Overall(Actual, f.Values, MaseScales, Plan.Horizon);

    public BacktestMetrics[] PerStep(BacktestForecasts f) => BacktestMetrics.PerStep(Actual, f.Values, MaseScales, Plan.Horizon);
}

/// <summary>
/// Runs a rolling-origin backtest of the single-series forecaster: trains the model (once before the first
/// origin, or at every origin), forecasts each origin h steps ahead recursively from the values before it, and
/// puts persistence, seasonal naive and a least-squares AR(p) on exactly the same origins.
/// </summary>
internal static class SeriesBacktest
{
    /// <param name="data">the whole series (n values).</param>
    /// <param name="settings">the model and training settings (as for `forecast train`); its test fraction is
    /// ignored (the origins are the test) and its checkpoint is replaced by a temporary file.</param>
    /// <param name="arOrder">p of the AR(p) baseline, fitted on the modeled values (differences with
    /// <see cref="SeriesTrainingSettings.Difference"/>) of the same training part as the model.</param>
    /// <param name="trained">told, after each training, how many values it used and its result.</param>
    /// <param name="sampling">for a gaussian or quantile head: how its intervals are sampled (required then;
    /// the point column stays the model's own recursive mean or median forecast).</param>
    public static BacktestResult Run(SeriesData data, SeriesTrainingSettings settings, BacktestPlan plan, BacktestTraining training, int arOrder,
        Action<int, TrainResult>? trained = null, CancellationToken cancel = default, BacktestSampling? sampling = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (plan.SeriesLength != data.Count) throw new ArgumentException($"the plan is for {plan.SeriesLength} values, the series has {data.Count}");
        return RunMany([data], settings, plan.Origins, plan.Stride, plan.Horizon, training, arOrder, trained, cancel, sampling)[0];
    }

    /// <summary>
    /// The backtest of one global model over several series (a long-format file's, in panel order): each series
    /// is backtested at its own last <paramref name="origins"/> origins (series may differ in length and end), and
    /// the i-th training of the model sees every series cut at its own i-th origin (with <see cref="BacktestTraining.Once"/>,
    /// only the first). Baselines and AR(p) are per series. One result per series.
    /// </summary>
    public static BacktestResult[] RunMany(SeriesData[] members, SeriesTrainingSettings settings, int origins, int stride, int horizon, BacktestTraining training,
        int arOrder, Action<int, TrainResult>? trained = null, CancellationToken cancel = default, BacktestSampling? sampling = null)
    {
        ArgumentNullException.ThrowIfNull(members);
        ArgumentNullException.ThrowIfNull(settings);
        if (arOrder < 1) throw new GpuLstmException($"--ar-order must be a positive integer, got {arOrder}");
        int s = members.Length, k = origins, h = horizon;
        var plans = new BacktestPlan[s];
        var originIndices = new int[s][];
        for (int m = 0; m < s; m++)
        {
            plans[m] = new BacktestPlan(members[m].Count, origins, stride, horizon);
            try { originIndices[m] = plans[m].OriginIndices(); }
            catch (GpuLstmException x) when (members[m].Name is not null) { throw new GpuLstmException($"series '{members[m].Name}': {x.Message}"); }
        }
        var head = settings.Head;
        bool probabilistic = head.Likelihood != SeriesLikelihood.Point;
        if (probabilistic && sampling is null) throw new ArgumentException("a probabilistic head's backtest needs its sampling", nameof(sampling));
        var levels = head.ReportedLevels;
        bool covariates = settings.Covariates.Length > 0 || settings.Calendar || settings.FutureCovariates.Length > 0;
        // Future covariates are known ahead, so an origin reads them for its own forecast rows o..o+h−1, and a
        // recursion reads whole blocks of k: the last origin, h rows before the end, has no rows past h.
        if (settings.FutureCovariates.Length > 0 && settings.Covariates.Length == 0 && h % settings.Horizon != 0)
            throw new GpuLstmException($"a backtest with --future-covariates needs --horizon ({h}) to be a multiple of --model-horizon ({settings.Horizon}): each block reads the future covariates of its k target rows, and the last origin has only h rows after it");
        // Past covariates after an origin are unknown, so the model cannot feed its forecasts back: it forecasts
        // all h steps in one direct block. Calendar features are known ahead, so a calendar-only model may recurse.
        if (settings.Covariates.Length > 0 && settings.Horizon != h)
            throw new GpuLstmException($"a backtest with --covariates needs --model-horizon equal to --horizon ({h}), got {settings.Horizon}: past covariates after an origin are unknown, so the model must forecast all h steps directly");
        var clock = Stopwatch.StartNew();

        var actual = new double[s][];
        var scales = new double?[s][];
        var model = new double[s][];
        var ar = new double[s][];
        var quantiles = new double[s][];
        for (int m = 0; m < s; m++)
        {
            var y = members[m].Values;
            actual[m] = new double[k * h];
            scales[m] = new double?[k];
            for (int i = 0; i < k; i++)
            {
                Array.Copy(y, originIndices[m][i], actual[m], i * h, h);
                scales[m][i] = BacktestMetrics.MaseScale(y.AsSpan(0, originIndices[m][i]), settings.Season);
            }
            model[m] = new double[k * h];
            ar[m] = new double[k * h];
            quantiles[m] = probabilistic ? new double[k * h * levels.Count] : [];
        }
        var work = Directory.CreateTempSubdirectory("gpulstm-backtest-");
        try
        {
            var runSettings = settings with
            {
                TestFraction = 0,
                Checkpoint = Path.Combine(work.FullName, "backtest.safetensors"),
                CheckpointEvery = 0,
                Metrics = OutputFile.None,
                Plot = OutputFile.None,
                Resume = false,
            };
            SeriesTraining? run = null;
            SeriesModel? sampler = null;
            var autoRegressions = new SeriesAutoRegression[s];
            // Per series, the covariate features of every row an origin may read (before its last origin), encoded as the trained model encodes them.
            var features = new double[s][];
            int width = 0, futureWidth = 0, shift = settings.Difference ? 1 : 0;
            try
            {
                for (int i = 0; i < k; i++)
                {
                    if (run is null || training == BacktestTraining.Refit)
                    {
                        sampler?.Dispose();
                        sampler = null;
                        run?.Dispose();
                        run = null;
                        run = Train(members, runSettings, originIndices.Select(o => o[i]).ToArray(), trained, cancel);
                        if (probabilistic) sampler = SamplingCopy(run, sampling!.Samples);
                        for (int m = 0; m < s; m++)
                        {
                            var data = members[m];
                            features[m] = [];
                            if (covariates)
                            {
                                var spec = run.ModelInfo.Covariates;
                                width = spec.Width;
                                futureWidth = spec.FutureWidth;
                                int rows = originIndices[m][^1];
                                features[m] = spec.Transform(Slice(data.Covariates, rows), data.Dates?[..rows], data.Labels[..rows]);
                            }
                            try { autoRegressions[m] = FitAutoRegression(data.Values.AsSpan(0, originIndices[m][i]), settings.Difference, arOrder, features[m].AsSpan(shift * width), width, h, futureWidth); }
                            catch (GpuLstmException x) when (data.Name is not null) { throw new GpuLstmException($"series '{data.Name}': {x.Message}"); }
                        }
                    }
                    for (int m = 0; m < s; m++)
                    {
                        var data = members[m];
                        int o = originIndices[m][i];
                        var history = data.Values[..o];
                        var (info, identity) = s == 1 && data.Name is null ? (run.ModelInfo, SeriesIdentity.None) : run.ModelInfo.Member(m);
                        SeriesFutureRows? ahead = null;
                        if (covariates)
                        {
                            // Rows o..o+h−1 carry the future covariates (known ahead); their other cells are not read.
                            ahead = new SeriesFutureRows(data.Labels[o..(o + h)], data.Dates?[o..(o + h)], data.Covariates.Select(c => c with { Cells = c.Cells[o..(o + h)] }).ToArray());
                            var stream = SeriesForecast.CovariateStream(run.Model, history, settings.Difference, info.Scaler, info.Covariates,
                                Slice(data.Covariates, o), data.Dates?[..o], data.Labels[..o], ahead, identity, info.Base);
                            int j = 0;
                            foreach (double v in stream)
                            {
                                model[m][i * h + j] = v;
                                if (++j == h) break;
                            }
                            if (j < h) throw new InvalidOperationException($"the covariate forecast from origin {o} ended after {j} of {h} steps");
                        }
                        else SeriesForecast.ForecastAhead(run.Model, history, settings.Difference, info.Scaler, h, identity, info.Base).CopyTo(model[m], i * h);
                        var modeledHistory = settings.Difference ? SeriesProblem.Differences(history) : history;
                        // AR reads the future covariates of the origin's target rows, as the model does.
                        var targetFuture = futureWidth > 0 ? info.Covariates.TransformFuture(ahead!.Covariates, ahead.Labels) : [];
                        autoRegressions[m].Forecast(modeledHistory, features[m].AsSpan((o - 1) * width, width), data.Values[o - 1], ar[m].AsSpan(i * h, h), targetFuture);
                        if (sampler is not null)
                        {
                            int j = 0;
                            var covariateHistory = covariates ? new CovariateHistory(info.Covariates, Slice(data.Covariates, o), data.Dates?[..o], data.Labels[..o]) { Future = ahead } : null;
                            foreach (var point in SeriesIntervals.SampledStream(sampler, history, settings.Difference, info.Scaler, sampling!.Samples, sampling.Seed,
                                         covariateHistory, identity, info.Base))
                            {
                                point.Quantiles.CopyTo(quantiles[m], (i * h + j) * levels.Count);
                                if (++j == h) break;
                            }
                            if (j < h) throw new InvalidOperationException($"the sampled forecast from origin {o} ended after {j} of {h} steps");
                        }
                    }
                }
            }
            finally
            {
                sampler?.Dispose();
                run?.Dispose();
            }
        }
        finally
        {
            try { work.Delete(recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }

        string name = (settings.Bidirectional ? "bidirectional " : "") + settings.Cell.Name.ToUpperInvariant();
        var elapsed = clock.Elapsed;
        var results = new BacktestResult[s];
        for (int m = 0; m < s; m++)
        {
            var y = members[m].Values;
            var forecasts = new List<BacktestForecasts>
            {
                new(name, "model", model[m]),
                new("persistence", "persistence", SeriesBaselines.Persistence(y, originIndices[m], h)),
            };
            if (settings.Season > 0)
                forecasts.Add(new($"seasonal naive ({settings.Season})", "seasonal_naive", SeriesBaselines.SeasonalNaive(y, originIndices[m], h, settings.Season)));
            forecasts.Add(new(covariates ? $"AR({arOrder}) with covariates" : $"AR({arOrder})", "ar", ar[m]));
            results[m] = new BacktestResult(plans[m], originIndices[m], actual[m], forecasts, scales[m], arOrder, elapsed)
            {
                Quantiles = probabilistic ? new BacktestQuantiles(levels, quantiles[m], sampling!.Samples) : null,
            };
        }
        return results;
    }

    /// <summary>The trained model's weights in a model that takes one batch of <paramref name="samples"/> paths (training's batch size may be smaller).</summary>
    private static SeriesModel SamplingCopy(SeriesTraining run, int samples)
    {
        var copy = new SeriesModel(run.Device, run.Model.Config, samples);
        try
        {
            copy.Parameters.SetValues(run.Model.Parameters.GetValues());
            return copy;
        }
        catch
        {
            copy.Dispose();
            throw;
        }
    }

    /// <summary>Trains on every series cut before its own origin in <paramref name="cuts"/> (one series: the values before its origin).</summary>
    private static SeriesTraining Train(SeriesData[] members, SeriesTrainingSettings settings, int[] cuts, Action<int, TrainResult>? trained, CancellationToken cancel)
    {
        var before = members.Select((data, m) => data with
        {
            Values = data.Values[..cuts[m]],
            Labels = data.Labels[..cuts[m]],
            Dates = data.Dates?[..cuts[m]],
            Covariates = Slice(data.Covariates, cuts[m]),
        }).ToArray();
        string what = members.Length == 1 ? $"the {cuts[0]} values before origin {cuts[0]}" : $"the {cuts.Sum()} values before each series' origin";
        SeriesTraining run;
        try { run = members.Length == 1 && members[0].Name is null ? new SeriesTraining(settings, before[0]) : new SeriesTraining(settings, before); }
        catch (GpuLstmException x) { throw new GpuLstmException($"training on {what}: {x.Message}"); }
        try
        {
            var result = run.Run(cancel).Training;
            if (result.End == TrainEnd.Interrupted) throw new OperationCanceledException(cancel);
            if (result.End == TrainEnd.Diverged)
                throw new GpuLstmException($"training on {what} diverged at {result.DivergedWhat} (try a smaller --lr, or --clip 1)");
            trained?.Invoke(cuts.Sum(), result);
            return run;
        }
        catch
        {
            run.Dispose();
            throw;
        }
    }

    /// <summary>The first <paramref name="rows"/> cells of every covariate column: what is observed before an origin at that index.</summary>
    private static CovariateColumn[] Slice(IReadOnlyList<CovariateColumn> columns, int rows) =>
        columns.Select(c => c with { Cells = c.Cells[..rows] }).ToArray();

    /// <summary>
    /// AR(p) on the modeled values of <paramref name="history"/> (the values, or their first differences), reading
    /// <paramref name="features"/> (row i describing modeled value i) when <paramref name="width"/> &gt; 0, then
    /// fitted directly for the <paramref name="horizon"/> steps.
    /// </summary>
    internal static SeriesAutoRegression FitAutoRegression(ReadOnlySpan<double> history, bool difference, int order, ReadOnlySpan<double> features, int width, int horizon,
        int futureWidth = 0)
    {
        var modeled = difference ? SeriesProblem.Differences(history) : history.ToArray();
        int minimum = width == 0 ? AutoRegression.MinimumValues(order) : DirectAutoRegression.MinimumValues(order, width, horizon, futureWidth);
        if (modeled.Length < minimum)
            throw new GpuLstmException($"the AR({order}) baseline{(width > 0 ? $" with {width + futureWidth} covariate inputs" : "")} needs at least {minimum} {(difference ? "differences" : "values")} before the first origin, and there are {modeled.Length}; give a smaller --ar-order or fewer --origins");
        return SeriesAutoRegression.Fit(modeled, features, width, order, horizon, difference, futureWidth);
    }
}
