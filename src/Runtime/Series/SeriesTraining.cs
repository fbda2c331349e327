using System.Globalization;
using System.Text.Json;
using GpuLstm.Runtime.Checkpoints;
using GpuLstm.Runtime.Compute;
using GpuLstm.Runtime.Models;
using GpuLstm.Runtime.Models.Cells;
using GpuLstm.Runtime.Training;

namespace GpuLstm.Runtime.Series;

/// <summary>One series' test scores in a many-series run: the model first, then the baselines.</summary>
internal sealed record SeriesScores(string Series, IReadOnlyList<ForecastScore> Scores);

/// <summary>What a forecasting run trains on and with, for a front end to show before training starts.</summary>
internal sealed record SeriesRunInfo(string Column, int Values, bool Difference, int TrainSamples, int ValidationSamples, int TestSamples,
    string Scaler, string ModelDescription, long Parameters, string DeviceDescription);

/// <summary>
/// A forecasting run from its settings to its saved checkpoint: reads the CSV column, splits it chronologically,
/// fits the scaler on the train part, builds the windows and the model, trains it with early stopping on the
/// validation MSE (through the same <see cref="TrainingRun"/> as text), scores the test part in original units
/// beside naive persistence and seasonal naive, and saves a checkpoint that holds the series and those scores.
/// </summary>
internal sealed class SeriesTraining : TrainingRun
{
    public const string DefaultCheckpoint = "forecast-model.safetensors";

    private readonly SeriesPanel _panel;
    private readonly SeriesData[] _members;
    // The first (for a file of one series, the only) series and its problem.
    private SeriesProblem FirstProblem => _panel.Members[0];
    private SeriesData FirstSeries => _members[0];
    private readonly int[][] _memberTestEnds;
    // Each series' AR(p) baseline for the test metrics (null where a series has no test part).
    private readonly SeriesAutoRegression?[] _autoRegressions = [];

    public SeriesTrainingSettings Settings { get; }
    internal SeriesModel Model { get; }
    public SeriesRunInfo Info { get; }

    /// <summary>
    /// The test scores (the model first, then the baselines), once <see cref="TrainingRun.Run"/> has finished; empty
    /// without a test part. For many series, each metric is the mean over the series of its per-series value (see <see cref="SeriesScores"/>).
    /// </summary>
    public IReadOnlyList<ForecastScore> Scores { get; private set; } = [];

    /// <summary>Many series: each series' test scores (the model, then the baselines), in panel order; empty for one series or without a test part.</summary>
    public IReadOnlyList<SeriesScores> SeriesScores { get; private set; } = [];

    /// <summary>The series' names (many series), or the single series' column.</summary>
    public IReadOnlyList<string> SeriesNames => _panel.Names;

    /// <summary>Why the test metrics have no AR(p) row when the default order cannot be fitted (too few training values); null otherwise.</summary>
    public string? AutoRegressionSkipped { get; }

    /// <summary>A probabilistic head's outermost interval on the test part, once trained; null for a point head or without a test part.</summary>
    public IntervalCoverage? Coverage { get; private set; }

    /// <summary>The saved settings of the run at <paramref name="checkpoint"/>, for a front end that resumes it.</summary>
    public static SeriesTrainingSettings SavedSettings(string checkpoint)
    {
        var (_, json) = ReadSaved(checkpoint);
        SavedSeriesSetup? setup;
        try { setup = JsonSerializer.Deserialize<SavedSeriesSetup>(json); }
        catch (JsonException) { setup = null; }
        return (setup ?? throw new GpuLstmException($"training state '{TrainingStateFile.PathFor(checkpoint)}' has no readable settings")).ToSettings()
            with { Checkpoint = checkpoint, Resume = true };
    }

    public SeriesTraining(SeriesTrainingSettings settings, FileLabels? labels = null) : this(settings, labels ?? new FileLabels("the CSV"), Open(settings), null) { }

    /// <summary>
    /// A run on a series already in memory (a backtest trains on the part before an origin): <paramref name="data"/>
    /// replaces reading <see cref="SeriesTrainingSettings.Csv"/>, which only names the source.
    /// </summary>
    internal SeriesTraining(SeriesTrainingSettings settings, SeriesData data) : this(settings, new FileLabels("the CSV"), Open(settings), [data]) { }

    /// <summary>A many-series run on series already in memory (a backtest's history before its origins), in panel order.</summary>
    internal SeriesTraining(SeriesTrainingSettings settings, SeriesData[] members) : this(settings, new FileLabels("the CSV"), Open(settings), members) { }

    private static ComputeDevice Open(SeriesTrainingSettings settings)
    {
        settings.Validate();
        return ComputeDevice.Open(settings.Device);
    }

    private SeriesTraining(SeriesTrainingSettings s, FileLabels labels, ComputeDevice device, SeriesData[]? preloaded)
        : base(device, s.Checkpoint, s.Metrics.Resolve(s.Checkpoint, ".metrics.csv"), s.Plot.Resolve(s.Checkpoint, ".loss.png"))
    {
        try
        {
            Settings = s;
            LoadedSeriesCheckpoint? saved = null;
            if (s.Resume)
            {
                var (position, json) = ReadSaved(s.Checkpoint);
                SavedSeriesSetup? setup;
                try { setup = JsonSerializer.Deserialize<SavedSeriesSetup>(json); }
                catch (JsonException) { setup = null; }
                if (setup is null) throw new GpuLstmException($"training state '{StatePath}' has no readable settings");
                setup.CheckSame(s);
                CheckResumable(position, s.TrainOptions);
                saved = SeriesCheckpoint.Load(s.Checkpoint);
            }
            CheckFiles(labels, s.Csv == Files.InputSource.StandardInput || preloaded is not null ? null : s.Csv, CheckpointPath, MetricsPath, PlotPath, s.Resume);
            _members = preloaded ?? (s.SeriesColumn is null
                ? [SeriesCsv.Load(s.Csv, s.Column, s.DateColumn, [.. s.Covariates, .. s.FutureCovariates], futureRows: s.FutureCovariates.Length > 0)]
                : SeriesCsv.LoadPanel(s.Csv, s.Column, s.DateColumn, s.SeriesColumn, [.. s.Covariates, .. s.FutureCovariates], futureRows: s.FutureCovariates.Length > 0));
            // With future covariates the file may also hold the rows after the end that predict reads (value cell empty): training has no targets there and leaves them out.
            // The past columns, then the future ones: which is which is known only by position.
            foreach (var member in _members)
                if (member.Covariates.Count != s.Covariates.Length + s.FutureCovariates.Length)
                    throw new ArgumentException($"the series holds {member.Covariates.Count} covariate columns; the settings name {s.Covariates.Length} past and {s.FutureCovariates.Length} future ones");
            _panel = BuildPanel(s, _members);
            _memberTestEnds = _panel.Members.Select(m => m.Windows.Samples(SeriesPart.Test)).ToArray();
            for (int i = 0; i < _members.Length; i++)
            {
                var ends = _memberTestEnds[i];
                int first = ends.Length > 0 ? _panel.Members[i].OriginalEnd(ends[0]) : int.MaxValue;
                if (s.Season > 0 && first < s.Season)
                    throw new SettingException(nameof(s.Season), $"a season of {s.Season} needs {s.Season} values before the first test forecast{Of(_members[i])}, which has only {first}; use a smaller season, a smaller test fraction, or no season");
            }

            _autoRegressions = new SeriesAutoRegression?[_members.Length];
            for (int i = 0; i < _members.Length && AutoRegressionSkipped is null; i++)
            {
                if (_memberTestEnds[i].Length == 0) continue;
                // Fitted now, before training, so an order the training part cannot carry fails in one line at once. It sees
                // every value before the test part, train and validation alike: a least-squares fit selects nothing on the
                // validation part, and the hybrid's AR base and the backtests' AR see the same values.
                var problem = _panel.Members[i];
                try
                {
                    _autoRegressions[i] = SeriesAutoRegression.Fit(problem.Modeled.AsSpan(0, problem.Split.Validation.End), problem.CovariateFeatures, problem.Covariates.Width,
                        s.ArOrder ?? s.Window, s.Horizon, s.Difference, problem.Covariates.FutureWidth);
                }
                catch (GpuLstmException x) when (s.ArOrder is null)
                {
                    // The default order is a convenience: without room for it the metrics go without an AR row (for every series, so their mean compares like with like).
                    AutoRegressionSkipped = _members[i].Name is null ? x.Message : $"series '{_members[i].Name}': {x.Message}";
                    Array.Clear(_autoRegressions);
                }
                catch (GpuLstmException x) when (_members[i].Name is not null)
                {
                    throw new GpuLstmException($"series '{_members[i].Name}': {x.Message}");
                }
            }

            var config = new SeriesModelConfig(s.Hidden, s.Window, s.Horizon, _panel.InputWidth, s.Layers, s.Bidirectional, s.Dropout) { Cell = s.Cell, Head = s.Head };
            if (saved is not null && saved.Config != config)
                throw new GpuLstmException($"cannot resume: checkpoint '{CheckpointPath}' holds a different model than its training state describes");
            Model = new SeriesModel(device, config, s.BatchSize);
            Model.InitializeKerasDefaults(s.Seed);
            if (saved is not null) SeriesCheckpoint.CopyInto(saved, Model);
            bool hasValidation = _panel.SampleCount(SeriesPart.Validation) > 0;
            Func<double>? validate = hasValidation ? () => SeriesForecast.Evaluate(Model, _panel, SeriesPart.Validation) : null;
            Start(new SeriesTask(Model, _panel, s.BatchSize, s.Seed), s.AdamOptions, s.StoppingOptions(hasValidation), s.TrainOptions, validate,
                saved?.Metadata.GetValueOrDefault("step"), s.Resume);
            string cell = s.Cell.Name.ToUpperInvariant();
            Info = new SeriesRunInfo(FirstSeries.Column, _members.Sum(m => m.Count), s.Difference, _panel.SampleCount(SeriesPart.Train), _panel.SampleCount(SeriesPart.Validation),
                _panel.SampleCount(SeriesPart.Test), _members.Length == 1 ? FirstProblem.Scaler.ToString() : $"{FirstProblem.Scaler.Kind.ToString().ToLowerInvariant()} per series",
                $"{s.Layers}×{(s.Bidirectional ? "bidirectional " : "")}{cell}({s.Hidden}){(s.Dropout > 0 ? string.Create(CultureInfo.InvariantCulture, $" with dropout {s.Dropout}") : "")} → {config.Head.Describe(s.Horizon)}" +
                    (s.ArBase ? $", on the residual of an AR({s.Window}) base{(_members.Length > 1 ? " per series" : "")}" : ""),
                Model.Parameters.Count, device.Description);
        }
        catch
        {
            base.Dispose();
            throw;
        }
    }

    /// <summary>The monitored loss: the validation MSE when there is a validation part, else the training MSE.</summary>
    public MonitoredLoss Monitor => _panel.SampleCount(SeriesPart.Validation) > 0 ? MonitoredLoss.ValLoss : MonitoredLoss.Loss;

    /// <summary>" in series 'name'" for a member of a many-series file; "" for a file of one series.</summary>
    private static string Of(SeriesData member) => member.Name is null ? "" : $" in series '{member.Name}'";

    /// <summary>
    /// One problem per series, each split by the same fractions and scaled on its own training part, with its
    /// identity when the model reads a series embedding. A series too short for its windows is one line naming it.
    /// </summary>
    private static SeriesPanel BuildPanel(SeriesTrainingSettings s, SeriesData[] members)
    {
        var shared = members.Length > 1 || members[0].Name is not null ? FitSharedCovariates(s, members) : null;
        var problems = new SeriesProblem[members.Length];
        for (int i = 0; i < members.Length; i++)
        {
            var data = members[i];
            try
            {
                problems[i] = new SeriesProblem(data.Values, s.Difference, s.Scale, s.Window, s.Horizon, s.ValFraction, s.TestFraction,
                    new SeriesCovariateSource(data.Covariates, data.Dates, s.Calendar, data.Labels) { FutureCount = s.FutureCovariates.Length },
                    s.SeriesEmbedding ? new SeriesIdentity(i, members.Length) : SeriesIdentity.None, s.ArBase ? s.Window : 0, shared);
            }
            catch (GpuLstmException x)
            {
                throw new GpuLstmException($"series file '{s.Csv}' has {data.Count} rows{Of(data)} in column '{data.Column}'{(s.Difference ? $" ({data.Count - 1} differences)" : "")}: {x.Message}");
            }
        }
        return new SeriesPanel(problems, members.Select(m => m.Name ?? m.Column).ToArray());
    }

    /// <summary>
    /// Many series: one covariate encoding for all of them, fitted on the union of their training parts (each
    /// series' own, by the same fractions as its target), as Darts' global fit: a numeric column's scaler sees every
    /// series' training cells, and a categorical column's categories are those seen in any series' training part.
    /// One input layout is what lets one model read every series. Null without covariates.
    /// </summary>
    private static SeriesCovariates? FitSharedCovariates(SeriesTrainingSettings s, SeriesData[] members)
    {
        if (members[0].Covariates.Count == 0 && !s.Calendar) return null;
        int shift = s.Difference ? 1 : 0;
        var trainRows = members.Select(m =>
        {
            try { return SeriesSplit.ByFractions(m.Count - shift, s.ValFraction, s.TestFraction).Train.End + shift; }
            catch (GpuLstmException x) { throw new GpuLstmException($"series file '{s.Csv}' has {m.Count} rows{Of(m)} in column '{m.Column}': {x.Message}"); }
        }).ToArray();
        var columns = members[0].Covariates.Select((column, c) => new CovariateColumn(column.Name,
            members.SelectMany((m, i) => m.Covariates[c].Cells.Take(trainRows[i])).ToArray())).ToArray();
        var dates = s.Calendar ? members.SelectMany((m, i) => m.Dates!.Take(trainRows[i])).ToArray() : null;
        return SeriesCovariates.Fit(columns, dates, s.Calendar, s.Scale, trainRows.Sum(), s.FutureCovariates.Length);
    }

    private protected override string SetupJson => JsonSerializer.Serialize(SavedSeriesSetup.From(Settings));

    /// <summary>After training, the model (with its best weights when restored) and the baselines on the same test targets, per series.</summary>
    private protected override void OnTrainingEnded(TrainResult result)
    {
        if (_memberTestEnds.All(e => e.Length == 0)) return;
        var perSeries = new List<SeriesScores>();
        for (int i = 0; i < _members.Length; i++)
            if (_memberTestEnds[i].Length > 0) perSeries.Add(new SeriesScores(_panel.Names[i], TestScores(_panel.Members[i], _members[i], _memberTestEnds[i], _autoRegressions[i])));
        Scores = perSeries.Count == 1 ? perSeries[0].Scores : Mean(perSeries);
        if (_members.Length > 1) SeriesScores = perSeries;
        if (Model.Config.Head.Likelihood != SeriesLikelihood.Point)
            Coverage = IntervalCoverage.Pool(_panel.Members.Select((m, i) => SeriesIntervals.TestCoverage(Model, m, _memberTestEnds[i])));
    }

    /// <summary>One series' test scores: the model, persistence, and seasonal naive when there is a season.</summary>
    private List<ForecastScore> TestScores(SeriesProblem problem, SeriesData data, int[] testEnds, SeriesAutoRegression? autoRegression)
    {
        var s = Settings;
        var originalEnds = problem.OriginalEnds(testEnds);
        var predicted = problem.ToOriginal(testEnds, SeriesForecast.Predict(Model, problem, testEnds));
        var actual = problem.OriginalTargets(testEnds);
        string name = (s.Bidirectional ? "bidirectional " : "") + s.Cell.Name.ToUpperInvariant();
        var scores = new List<ForecastScore>
        {
            new(name, ForecastMetrics.Compute(actual, predicted)),
            new("persistence", ForecastMetrics.Compute(actual, SeriesBaselines.Persistence(data.Values, originalEnds, s.Horizon))),
        };
        if (s.Season > 0)
            scores.Add(new($"seasonal naive ({s.Season})", ForecastMetrics.Compute(actual, SeriesBaselines.SeasonalNaive(data.Values, originalEnds, s.Horizon, s.Season))));
        if (autoRegression is { } ar)
            scores.Add(new(ar.Name, ForecastMetrics.Compute(actual, AutoRegressionForecasts(ar, problem, data, testEnds))));
        return scores;
    }

    /// <summary>AR(p)'s forecasts (B, k) in original units from every test window's origin: the values before it, and its last row's covariate features.</summary>
    private double[] AutoRegressionForecasts(SeriesAutoRegression ar, SeriesProblem problem, SeriesData data, int[] testEnds)
    {
        int k = Settings.Horizon, w = problem.Covariates.Width, fw = problem.Covariates.FutureWidth;
        var result = new double[testEnds.Length * k];
        var modeled = problem.Modeled;
        var features = problem.CovariateFeatures;
        var targetFuture = new double[k * fw];   // the future covariates of the k target rows (known ahead)
        for (int b = 0; b < testEnds.Length; b++)
        {
            int e = testEnds[b];
            for (int j = 0; j < k; j++) features.AsSpan((e + j) * w + w - fw, fw).CopyTo(targetFuture.AsSpan(j * fw, fw));
            ar.Forecast(modeled.AsSpan(0, e), features.AsSpan((e - 1) * w, w), data.Values[problem.OriginalEnd(e) - 1], result.AsSpan(b * k, k), targetFuture);
        }
        return result;
    }

    /// <summary>Each forecaster's metrics averaged over the series (every series weighs the same, as in a global model's per-series report).</summary>
    private static List<ForecastScore> Mean(IReadOnlyList<SeriesScores> perSeries)
    {
        var mean = new List<ForecastScore>();
        for (int f = 0; f < perSeries[0].Scores.Count; f++)
        {
            var all = perSeries.Select(p => p.Scores[f].Metrics).ToArray();
            mean.Add(new ForecastScore(perSeries[0].Scores[f].Name, new ForecastMetrics(all.Average(m => m.Rmse), all.Average(m => m.Mae), all.Average(m => m.Mape),
                all.Sum(m => m.Count), all.Sum(m => m.MapeSkipped))));
        }
        return mean;
    }

    private protected override Action<Stream> CheckpointWriter(long step, int epochs, double finalLoss)
    {
        var s = Settings;
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["seed"] = s.Seed.ToString(CultureInfo.InvariantCulture),
            ["epochs_trained"] = epochs.ToString(CultureInfo.InvariantCulture),
            ["source"] = s.Csv == Files.InputSource.StandardInput ? "<stdin>" : Path.GetFileName(s.Csv),
            ["step"] = step.ToString(CultureInfo.InvariantCulture),
            // The chronological split the stored scores were measured on: train | validation | test.
            ["val_fraction"] = s.ValFraction.ToString("R", CultureInfo.InvariantCulture),
            ["test_fraction"] = s.TestFraction.ToString("R", CultureInfo.InvariantCulture),
        };
        SeriesCheckpoint.WriteScores(Scores, metadata);
        if (Coverage is { } c)
        {
            metadata["test_interval"] = c.Describe();
            metadata["test_coverage"] = c.Fraction.ToString("R", CultureInfo.InvariantCulture);
        }
        return SeriesCheckpoint.Serializer(Model, ModelInfo, metadata);
    }

    private bool _modelDetached;

    /// <summary>The trained model and its device, for the caller to keep (and dispose) after the run is disposed.</summary>
    internal (ComputeDevice Device, SeriesModel Model) Detach()
    {
        _modelDetached = true;
        return (DetachDevice(), Model);
    }

    /// <summary>What the checkpoint stores besides the weights (the series, its scaler, its labels).</summary>
    internal SeriesModelInfo ModelInfo => new(FirstProblem.Scaler, Settings.Difference, FirstSeries.Column, FirstSeries.DateColumn, Settings.Season, FirstSeries.Values, FirstSeries.Labels, FirstSeries.Dates)
    {
        Covariates = FirstProblem.Covariates,
        Base = FirstProblem.Base,
        Members = Settings.SeriesColumn is null ? [] : _members.Select((m, i) => new SeriesMember(_panel.Names[i], _panel.Members[i].Scaler, m.Values, m.Labels, m.Dates)
        {
            Base = _panel.Members[i].Base,
        }).ToArray(),
        SeriesColumn = Settings.SeriesColumn,
        SeriesEmbedding = Settings.SeriesEmbedding,
    };

    /// <summary>The covariate columns the run read (empty without --covariates), for forecasting right after training.</summary>
    internal IReadOnlyList<CovariateColumn> CovariateColumns => FirstSeries.Covariates;

    /// <summary>Every series' covariate columns, in the model's series order (for a many-series forecaster made right after training).</summary>
    internal IReadOnlyList<CovariateColumn>[] MemberCovariateColumns => _members.Select(m => m.Covariates).ToArray();

    public override void Dispose()
    {
        if (!_modelDetached) Model?.Dispose();
        base.Dispose();
    }
}

/// <summary>The settings that decide a forecasting run's trajectory, as the state file keeps them; a resumed run must not change them.</summary>
internal sealed record SavedSeriesSetup(string Csv, string Column, string? DateColumn, string Scale, bool Difference, int Window, int Horizon,
    double ValFraction, double TestFraction, int Season, string Cell, int Hidden, int Layers, bool Bidirectional, float Dropout, int Batch,
    double Lr, double Clip, int Patience, bool RestoreBest, ulong Seed, string? Likelihood = null, string? Quantiles = null,
    string? Covariates = null, bool Calendar = false, string? SeriesColumn = null, bool SeriesEmbedding = false, bool ArBase = false,
    string? FutureCovariates = null, int? ArOrder = null)
{
    public static SavedSeriesSetup From(SeriesTrainingSettings s) => new(
        s.Csv == Files.InputSource.StandardInput ? s.Csv : Path.GetFullPath(s.Csv), s.Column, s.DateColumn, s.Scale.ToString(), s.Difference, s.Window,
        s.Horizon, s.ValFraction, s.TestFraction, s.Season, s.Cell.Name, s.Hidden, s.Layers, s.Bidirectional, s.Dropout, s.BatchSize, s.LearningRate,
        s.ClipNorm, s.Patience, s.RestoreBest, s.Seed, s.Head.Name, s.Head.QuantilesText, string.Join(",", s.Covariates), s.Calendar, s.SeriesColumn, s.SeriesEmbedding, s.ArBase,
        string.Join(",", s.FutureCovariates), s.ArOrder);

    public SeriesTrainingSettings ToSettings() => new()
    {
        Csv = Csv, Column = Column, DateColumn = DateColumn, Scale = Enum.Parse<SeriesScalerKind>(Scale), Difference = Difference, Window = Window,
        Horizon = Horizon, ValFraction = ValFraction, TestFraction = TestFraction, Season = Season, Cell = RecurrentCell.Parse(Cell), Hidden = Hidden,
        Layers = Layers, Bidirectional = Bidirectional, Dropout = Dropout, BatchSize = Batch, LearningRate = Lr, ClipNorm = Clip, Patience = Patience,
        RestoreBest = RestoreBest, Seed = Seed,
        // State files from before covariates have none.
        Covariates = string.IsNullOrEmpty(Covariates) ? [] : Covariates.Split(','), Calendar = Calendar,
        // State files from before many series have neither: one series.
        SeriesColumn = SeriesColumn, SeriesEmbedding = SeriesEmbedding, ArBase = ArBase,
        // State files from before future covariates have none.
        FutureCovariates = string.IsNullOrEmpty(FutureCovariates) ? [] : FutureCovariates.Split(','),
        // The AR baseline's order does not steer training; kept so a resumed run scores the same baseline.
        ArOrder = ArOrder,
        // State files from before the probabilistic heads have neither: a point head.
        Likelihood = Likelihood is null ? SeriesLikelihood.Point : SeriesHead.ParseName(Likelihood),
        Quantiles = string.IsNullOrEmpty(Quantiles) ? [] : Quantiles.Split(',').Select(q => double.Parse(q, CultureInfo.InvariantCulture)).ToArray(),
    };

    /// <summary>Every trajectory setting of <paramref name="given"/> equals the saved one; the first that differs is a <see cref="SettingException"/>.</summary>
    public void CheckSame(SeriesTrainingSettings given)
    {
        var now = From(given);
        foreach (var property in typeof(SavedSeriesSetup).GetProperties())
        {
            if (property.Name == nameof(Csv) && given.Csv == Files.InputSource.StandardInput) continue;
            // The AR baseline's order only changes which baseline the test metrics print: a resumed run may change it.
            if (property.Name == nameof(ArOrder)) continue;
            object? a = property.GetValue(now), b = property.GetValue(this);
            // State files from before the probabilistic heads saved neither; they trained a point head.
            if (property.Name == nameof(Likelihood)) b ??= "point";
            if (property.Name == nameof(Quantiles)) b ??= "";
            if (property.Name == nameof(Covariates) || property.Name == nameof(FutureCovariates)) b ??= "";
            if (!Equals(a, b))
                throw ResumeSettings.ResumeConflict(property.Name == "Batch" ? "BatchSize" : property.Name == "Lr" ? "LearningRate" : property.Name == "Clip" ? "ClipNorm" : property.Name,
                    Show(a), Show(b));
        }
        static string Show(object? v) => v switch
        {
            null => "none",
            double d => d.ToString("R", CultureInfo.InvariantCulture),
            float f => f.ToString("R", CultureInfo.InvariantCulture),
            bool x => x ? "true" : "false",
            _ => Convert.ToString(v, CultureInfo.InvariantCulture) ?? "none",
        };
    }
}
