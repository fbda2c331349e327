using System.Globalization;
using GpuLstm.Runtime;
using GpuLstm.Runtime.Checkpoints;
using GpuLstm.Runtime.Compute;
using GpuLstm.Runtime.Files;
using GpuLstm.Runtime.Models;
using GpuLstm.Runtime.Series;

namespace GpuLstm;

/// <summary>One forecast value: its step after the end of the series (1-based), its label (the date when the series has regular dates, else "+step"), and the value in the series' units.</summary>
public readonly record struct ForecastPoint(long Step, string Label, double Value);

/// <summary>
/// A recurrent forecaster of one numeric series, ready to forecast past the series' end and to save: trained
/// here, or loaded from a checkpoint written by <c>gpulstm forecast train</c> or this class. The checkpoint
/// holds the series, its scaler and its labels, so forecasting needs nothing else.
/// <code>
/// using var forecaster = Forecaster.Train(new SeriesTrainingSettings { Csv = "airline-passengers.csv", Column = "Passengers",
///     DateColumn = "Month", Season = 12, Difference = true });
/// foreach (var p in forecaster.Forecast(12)) Console.WriteLine($"{p.Label}: {p.Value:F1}");
/// </code>
/// </summary>
public sealed class Forecaster : IDisposable
{
    private readonly ComputeDevice _device;
    private readonly SeriesModel _model;
    private readonly SeriesModelInfo _info;
    private readonly IReadOnlyList<CovariateColumn> _covariateColumns;
    // A many-series forecaster's covariate cells per series (from --csv), in the model's series order; empty otherwise.
    private IReadOnlyList<CovariateColumn>[] _memberCovariates = [];
    // ... and its rows after the end with future covariates (null entries: none given).
    private SeriesFutureRows?[] _memberFutureRows = [];

    /// <summary>The test scores (the model, then naive persistence and seasonal naive) from training; empty when unknown.</summary>
    public IReadOnlyList<ForecastScore> TestScores { get; }

    /// <summary>The column the series came from.</summary>
    public string Column => _info.Column;

    /// <summary>The series the model forecasts from: its values in order, and their labels.</summary>
    public IReadOnlyList<double> Values => _info.Values;
    public IReadOnlyList<string> Labels => _info.Labels;

    public RecurrentCell Cell => _model.Config.Cell;
    /// <summary>Input steps per forecast (N) and values forecast per step of the recursion (k).</summary>
    public int Window => _model.Config.Window;
    public int Horizon => _model.Config.Horizon;
    public string Device => _device.Description;

    private Forecaster(ComputeDevice device, SeriesModel model, SeriesModelInfo info, IReadOnlyList<ForecastScore> scores,
        IReadOnlyList<CovariateColumn>? covariateColumns = null, SeriesFutureRows? futureRows = null)
    {
        _device = device; _model = model; _info = info; TestScores = scores; _covariateColumns = covariateColumns ?? []; _futureRows = futureRows;
    }

    /// <summary>
    /// The most steps a forecast can reach past the end: a model reading past covariates forecasts one block of
    /// its horizon (their future values are unknown); null when the recursion can go on (no past covariates).
    /// </summary>
    public int? MaxSteps => _info.Covariates.PastColumnCount > 0 ? Horizon : null;

    /// <summary>The rows after the end that a model with future covariates reads (from --csv); null when none were given.</summary>
    private readonly SeriesFutureRows? _futureRows;

    /// <summary>
    /// How many rows after the end a forecast of <paramref name="steps"/> reads future covariates from: every
    /// block's target rows (one block with past covariates; whole blocks of the horizon when recursing).
    /// </summary>
    private int FutureRowsNeeded(int steps) => _info.Covariates.PastColumnCount > 0 ? Horizon : (steps + Horizon - 1) / Horizon * Horizon;

    /// <summary>Loads a forecasting checkpoint (a file, or <c>-</c> for standard input) onto <paramref name="device"/>.</summary>
    public static Forecaster Load(string checkpoint, string device = "cpu") => Load(checkpoint, device, maxBatch: 1);

    /// <summary>Loads a checkpoint with a model that takes batches of up to <paramref name="maxBatch"/> windows (sample paths).</summary>
    internal static Forecaster Load(string checkpoint, string device, int maxBatch) => Load(SeriesCheckpoint.Load(checkpoint), device, maxBatch);

    /// <summary>
    /// A many-series checkpoint onto <paramref name="device"/>, forecasting from the newer histories in
    /// <paramref name="histories"/> (a long-format CSV's series, matched by name; series the file leaves out keep
    /// the checkpoint's history) or, when null, from the histories it keeps.
    /// </summary>
    /// <param name="forecast">the indices of the series that will be forecast (null: all); only their histories must be in <paramref name="histories"/> and valid.</param>
    internal static Forecaster LoadMany(LoadedSeriesCheckpoint loaded, string device, int maxBatch, SeriesData[]? histories, IReadOnlyCollection<int>? forecast = null)
    {
        var info = loaded.Info;
        if (info.Members.Count == 0) throw new ArgumentException("not a many-series checkpoint", nameof(loaded));
        // Each series' covariate cells (null: none given; a calendar-only model needs none).
        var memberCovariates = new IReadOnlyList<CovariateColumn>?[info.Members.Count];
        // Each series' rows after its end, with future covariates (null: none given).
        var memberFuture = new SeriesFutureRows?[info.Members.Count];
        if (histories is not null)
        {
            var members = info.Members.ToArray();
            foreach (var h in histories)
            {
                string name = h.Name ?? throw new ArgumentException("a many-series history needs series names", nameof(histories));
                int i = info.IndexOf(name);
                if (forecast is not null && !forecast.Contains(i)) continue;   // not forecast: its rows are not read
                int modeled = h.Count - (info.Difference ? 1 : 0);
                if (modeled < loaded.Config.Window)
                    throw new GpuLstmException($"series file '{h.Source}' has {h.Count} rows in series '{name}', too few for the model's window of {loaded.Config.Window}{(info.Difference ? " differences" : "")}");
                members[i] = members[i] with { Values = h.Values, Labels = h.Labels, Dates = h.Dates };
                // Build the features now, so a bad covariate cell is refused before any forecast row is printed.
                if (!info.Covariates.IsEmpty) info.Covariates.Transform(h.Covariates, h.Dates, h.Labels);
                memberCovariates[i] = h.Covariates;
                if (info.Covariates.FutureWidth > 0 && h.Future is { } rows)
                {
                    info.Covariates.TransformFuture(rows.Covariates, rows.Labels);
                    memberFuture[i] = rows;
                }
            }
            info = info with { Members = members };
        }
        else if (info.Covariates.PastColumnCount > 0)
            throw new GpuLstmException($"the model reads covariates ({string.Join(", ", info.Covariates.Columns.Select(c => c.Name))}), which the checkpoint does not keep: give the histories with --csv FILE");
        var lacking = Enumerable.Range(0, info.Members.Count).Where(i => (forecast is null || forecast.Contains(i)) && memberCovariates[i] is null).ToArray();
        if (info.Covariates.PastColumnCount > 0 && lacking.Length > 0)
            throw new GpuLstmException($"the model reads covariates, and --csv has no rows of series {string.Join(", ", lacking.Select(i => $"'{info.Members[i].Name}'"))}; give the history of every series forecast");
        var dev = ComputeDevice.Open(device);
        try
        {
            return new Forecaster(dev, loaded.CreateModel(dev, maxBatch), info, SeriesCheckpoint.ReadScores(loaded.Metadata, loaded.Config, loaded.Info))
            {
                _memberCovariates = memberCovariates.Select(c => c ?? []).ToArray(),
                _memberFutureRows = memberFuture,
            };
        }
        catch
        {
            dev.Dispose();
            throw;
        }
    }

    /// <summary>The covariate cells of series <paramref name="series"/> (−1: the single series).</summary>
    private IReadOnlyList<CovariateColumn> CovariatesOf(int series) => series < 0 || _memberCovariates.Length == 0 ? _covariateColumns : _memberCovariates[series];

    /// <summary>The rows after the end of series <paramref name="series"/> with future covariates (−1: the single series); null when none were given.</summary>
    private SeriesFutureRows? FutureOf(int series) => series < 0 || _memberFutureRows.Length == 0 ? _futureRows : _memberFutureRows[series];

    /// <summary>The names of a many-series forecaster's series, in the model's order; empty for a forecaster of one series.</summary>
    public IReadOnlyList<string> Series => _info.Members.Select(m => m.Name).ToArray();

    /// <summary>The index of the series named <paramref name="name"/> among <see cref="Series"/>; a one-line error names the known ones.</summary>
    public int SeriesIndex(string name) => _info.IndexOf(name);

    /// <summary>Which history and identity a forecast of series <paramref name="series"/> uses (−1: the single series).</summary>
    private (SeriesModelInfo Info, SeriesIdentity Identity) Of(int series)
    {
        if (_info.Members.Count == 0)
        {
            if (series > 0) throw new ArgumentOutOfRangeException(nameof(series), series, "this forecaster has one series");
            return (_info, SeriesIdentity.None);
        }
        if (series < 0 || series >= _info.Members.Count)
            throw new SettingException("Series", $"this model forecasts {_info.Members.Count} series; name one of them ({string.Join(", ", Series)})", "the series");
        return _info.Member(series);
    }

    /// <summary><paramref name="steps"/> values past the end of series <paramref name="series"/> (by name) of a many-series model.</summary>
    public IReadOnlyList<ForecastPoint> Forecast(int steps, string series)
    {
        if (steps < 1) throw new SettingException("Steps", $"the number of steps must be at least 1, got {steps}", "the number of steps");
        return ForecastStream(SeriesIndex(series)).Take(steps).ToArray();
    }

    /// <summary>A checkpoint already read (so a front end can look at its head before sizing the batch) onto <paramref name="device"/>.</summary>
    internal static Forecaster Load(LoadedSeriesCheckpoint loaded, string device, int maxBatch, SeriesData? history = null)
    {
        var info = loaded.Info;
        if (history is not null)
        {
            int modeled = history.Count - (info.Difference ? 1 : 0);
            if (modeled < loaded.Config.Window)
                throw new GpuLstmException($"series file '{history.Source}' has {history.Count} rows, too few for the model's window of {loaded.Config.Window}{(info.Difference ? " differences" : "")}");
            info = info with { Values = history.Values, Labels = history.Labels, Dates = history.Dates };
            // Build the features now, so a bad covariate cell is refused before any forecast row is printed.
            if (!info.Covariates.IsEmpty) info.Covariates.Transform(history.Covariates, history.Dates, history.Labels);
            if (info.Covariates.FutureWidth > 0 && history.Future is { } rows) info.Covariates.TransformFuture(rows.Covariates, rows.Labels);
        }
        else if (info.Covariates.Columns.Count > 0)
            throw new GpuLstmException($"the model reads covariates ({string.Join(", ", info.Covariates.Columns.Select(c => c.Name))}), which the checkpoint does not keep: give the history with --csv FILE");
        var dev = ComputeDevice.Open(device);
        try
        {
            return new Forecaster(dev, loaded.CreateModel(dev, maxBatch), info, SeriesCheckpoint.ReadScores(loaded.Metadata, loaded.Config, loaded.Info), history?.Covariates, history?.Future);
        }
        catch
        {
            dev.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Trains a forecaster as <paramref name="settings"/> say (and saves its checkpoint where they say), reporting
    /// every step to <paramref name="progress"/>; cancelling stops at the next step and saves. A run that
    /// diverges throws a <see cref="GpuLstmException"/>.
    /// </summary>
    public static Forecaster Train(SeriesTrainingSettings settings, IProgress<TrainingProgress>? progress = null, CancellationToken cancel = default)
    {
        var run = new SeriesTraining(settings with { Plot = OutputFile.None });
        try
        {
            TextModel.Report(run, progress);
            var result = run.Run(cancel).Training;
            if (result.End == TrainEnd.Diverged)
                throw new GpuLstmException($"training diverged at {result.DivergedWhat}; try a smaller learning rate or clipping");
            var (device, model) = run.Detach();
            var info = run.ModelInfo;
            // A many-series forecaster reads each series' own covariate cells, not the first series'.
            return new Forecaster(device, model, info, run.Scores, run.CovariateColumns)
            {
                _memberCovariates = info.Members.Count > 0 ? run.MemberCovariateColumns : [],
            };
        }
        finally
        {
            run.Dispose();
        }
    }

    /// <summary><paramref name="steps"/> values past the end of the series, each predicted block fed back as input.</summary>
    public IReadOnlyList<ForecastPoint> Forecast(int steps)
    {
        if (steps < 1) throw new SettingException("Steps", $"the number of steps must be at least 1, got {steps}", "the number of steps");
        CheckSteps(steps);
        return ForecastStream().Take(steps).ToArray();
    }

    /// <summary>The same forecast as an endless stream, computed as it is read, in constant memory: take as many as needed.</summary>
    public IEnumerable<ForecastPoint> ForecastStream() => ForecastStream(-1);

    /// <summary>The forecast of series <paramref name="series"/> (its index in <see cref="Series"/>; −1 for a forecaster of one series) as an endless stream.</summary>
    internal IEnumerable<ForecastPoint> ForecastStream(int series)
    {
        var (info, identity) = Of(series);
        var label = SeriesForecast.FutureLabeler(info.Dates, info.Labels[^1]);
        long step = 0;
        var values = info.Covariates.IsEmpty
            ? SeriesForecast.ForecastStream(_model, info.Values, info.Difference, info.Scaler, identity, info.Base)
            : SeriesForecast.CovariateStream(_model, info.Values, info.Difference, info.Scaler, info.Covariates, CovariatesOf(series), info.Dates, info.Labels, FutureOf(series), identity, info.Base);
        foreach (double value in values)
        {
            step++;
            yield return new ForecastPoint(step, label(step), value);
        }
    }

    /// <summary>Refuses, in one line, more steps than <see cref="MaxSteps"/>, or than series <paramref name="series"/>'s future covariates reach (−1: the single series).</summary>
    internal void CheckSteps(int steps, int series = -1)
    {
        if (MaxSteps is int most && steps > most)
            throw new GpuLstmException($"the model reads past covariates ({string.Join(", ", _info.Covariates.Columns.Where(c => !c.Future).Select(c => c.Name))}), whose future values are unknown, so it forecasts at most its horizon ({most}) past the end; {steps} steps were asked for (train with --horizon {steps} to forecast them directly)");
        int given = FutureOf(series)?.Count ?? 0;
        if (_info.Covariates.FutureWidth > 0 && FutureRowsNeeded(steps) > given)
        {
            var info = Of(series).Info;
            string first = SeriesForecast.FutureLabeler(info.Dates, info.Labels[^1])(given + 1) + (series >= 0 ? $" of series '{Series[series]}'" : "");
            int needed = FutureRowsNeeded(steps);
            throw new GpuLstmException($"missing future covariates: the forecast reads {string.Join(", ", _info.Covariates.FutureNames)} in the {(needed == 1 ? "row" : $"{needed} rows")} after the last value, but --csv gives {given}; the first missing row is {first} (give it with the value cell empty)");
        }
    }

    /// <summary>What the model's head predicts per step (a point, a Gaussian, quantiles).</summary>
    internal SeriesHead Head => _model.Config.Head;

    /// <summary>
    /// A probabilistic head's forecast with intervals from <paramref name="samples"/> sampled paths (see
    /// <see cref="SeriesIntervals.SampledStream"/>); the forecaster must have been loaded with a batch that large.
    /// </summary>
    internal IEnumerable<IntervalPoint> IntervalStream(int samples, ulong seed, int series = -1)
    {
        var (info, identity) = Of(series);
        return SeriesIntervals.SampledStream(_model, info.Values, info.Difference, info.Scaler, samples, seed,
            info.Covariates.IsEmpty ? null : new CovariateHistory(info.Covariates, CovariatesOf(series), info.Dates, info.Labels) { Future = FutureOf(series) }, identity, info.Base);
    }

    /// <summary>The series and its next dates, for plots: the history's dates (null without a regular date column) and the forecast's.</summary>
    internal SeriesModelInfo Info => _info;

    /// <summary>Series <paramref name="series"/> of a many-series forecaster as one series (−1: the single series).</summary>
    internal SeriesModelInfo InfoOf(int series) => Of(series).Info;

    /// <summary>Saves the forecaster as a checkpoint that <see cref="Load(string, string)"/> and <c>gpulstm forecast predict</c> read.</summary>
    public void Save(string path)
    {
        new FilePlan().Output("the checkpoint", path).Check();
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        SeriesCheckpoint.WriteScores(TestScores, metadata);
        SeriesCheckpoint.Save(path, _model, _info, metadata);
    }

    public void Dispose()
    {
        _model.Dispose();
        _device.Dispose();
    }
}
