using System.Globalization;
using System.Text.Json;
using GpuLstm.Runtime.Checkpoints;
using GpuLstm.Runtime.Compute;
using GpuLstm.Runtime.Models;
using GpuLstm.Runtime.Models.Cells;
using GpuLstm.Runtime.Training;

namespace GpuLstm.Runtime.Series;

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

    private readonly SeriesProblem _problem;
    private readonly SeriesData _data;
    private readonly int[] _testEnds;
    private readonly int[] _originalTestEnds;
    private readonly SeriesAutoRegression? _autoRegression;

    public SeriesTrainingSettings Settings { get; }
    internal SeriesModel Model { get; }
    public SeriesRunInfo Info { get; }

    /// <summary>The test scores (the model first, then the baselines), once <see cref="TrainingRun.Run"/> has finished; empty without a test part.</summary>
    public IReadOnlyList<ForecastScore> Scores { get; private set; } = [];

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
    internal SeriesTraining(SeriesTrainingSettings settings, SeriesData data) : this(settings, new FileLabels("the CSV"), Open(settings), data) { }

    private static ComputeDevice Open(SeriesTrainingSettings settings)
    {
        settings.Validate();
        return ComputeDevice.Open(settings.Device);
    }

    private SeriesTraining(SeriesTrainingSettings s, FileLabels labels, ComputeDevice device, SeriesData? preloaded)
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
            _data = preloaded ?? SeriesCsv.Load(s.Csv, s.Column, s.DateColumn, [.. s.Covariates, .. s.FutureCovariates]);
            // The past columns, then the future ones: which is which is known only by position.
            if (_data.Covariates.Count != s.Covariates.Length + s.FutureCovariates.Length)
                throw new ArgumentException($"the series holds {_data.Covariates.Count} covariate columns; the settings name {s.Covariates.Length} past and {s.FutureCovariates.Length} future ones");
            try
            {
                _problem = new SeriesProblem(_data.Values, s.Difference, s.Scale, s.Window, s.Horizon, s.ValFraction, s.TestFraction,
                    new SeriesCovariateSource(_data.Covariates, _data.Dates, s.Calendar, _data.Labels) { FutureCount = s.FutureCovariates.Length });
            }
            catch (GpuLstmException x)
            {
                throw new GpuLstmException($"series file '{s.Csv}' has {_data.Count} rows in column '{_data.Column}'{(s.Difference ? $" ({_data.Count - 1} differences)" : "")}: {x.Message}");
            }
            var windows = _problem.Windows;
            _testEnds = windows.Samples(SeriesPart.Test);
            _originalTestEnds = _problem.OriginalEnds(_testEnds);
            if (s.Season > 0 && _originalTestEnds.Length > 0 && _originalTestEnds[0] < s.Season)
                throw new SettingException(nameof(s.Season), $"a season of {s.Season} needs {s.Season} values before the first test forecast, which has only {_originalTestEnds[0]}; use a smaller season, a smaller test fraction, or no season");

            if (_testEnds.Length > 0)
            {
                // Fitted now, before training, so an order the training part cannot carry fails in one line at once.
                var train = _problem.Split.Train;
                try
                {
                    _autoRegression = SeriesAutoRegression.Fit(_problem.Modeled.AsSpan(0, train.End), _problem.CovariateFeatures, _problem.Covariates.Width,
                        s.ArOrder ?? s.Window, s.Horizon, s.Difference, _problem.Covariates.FutureWidth);
                }
                catch (GpuLstmException x) when (s.ArOrder is null)
                {
                    AutoRegressionSkipped = x.Message;
                }
            }

            var config = new SeriesModelConfig(s.Hidden, s.Window, s.Horizon, _problem.InputWidth, s.Layers, s.Bidirectional, s.Dropout) { Cell = s.Cell, Head = s.Head };
            if (saved is not null && saved.Config != config)
                throw new GpuLstmException($"cannot resume: checkpoint '{CheckpointPath}' holds a different model than its training state describes");
            Model = new SeriesModel(device, config, s.BatchSize);
            Model.InitializeKerasDefaults(s.Seed);
            if (saved is not null) SeriesCheckpoint.CopyInto(saved, Model);
            bool hasValidation = windows.SampleCount(SeriesPart.Validation) > 0;
            Func<double>? validate = hasValidation ? () => SeriesForecast.Evaluate(Model, _problem, SeriesPart.Validation) : null;
            Start(new SeriesTask(Model, _problem, s.BatchSize, s.Seed), s.AdamOptions, s.StoppingOptions(hasValidation), s.TrainOptions, validate,
                saved?.Metadata.GetValueOrDefault("step"), s.Resume);
            string cell = s.Cell.Name.ToUpperInvariant();
            Info = new SeriesRunInfo(_data.Column, _data.Count, s.Difference, windows.SampleCount(SeriesPart.Train), windows.SampleCount(SeriesPart.Validation),
                windows.SampleCount(SeriesPart.Test), _problem.Scaler.ToString(),
                $"{s.Layers}×{(s.Bidirectional ? "bidirectional " : "")}{cell}({s.Hidden}){(s.Dropout > 0 ? string.Create(CultureInfo.InvariantCulture, $" with dropout {s.Dropout}") : "")} → {config.Head.Describe(s.Horizon)}",
                Model.Parameters.Count, device.Description);
        }
        catch
        {
            base.Dispose();
            throw;
        }
    }

    /// <summary>The monitored loss: the validation MSE when there is a validation part, else the training MSE.</summary>
    public MonitoredLoss Monitor => _problem.Windows.SampleCount(SeriesPart.Validation) > 0 ? MonitoredLoss.ValLoss : MonitoredLoss.Loss;

    private protected override string SetupJson => JsonSerializer.Serialize(SavedSeriesSetup.From(Settings));

    /// <summary>After training, the model (with its best weights when restored) and the baselines on the same test targets.</summary>
    private protected override void OnTrainingEnded(TrainResult result)
    {
        if (_testEnds.Length == 0) return;
        var s = Settings;
        var predicted = _problem.ToOriginal(_testEnds, SeriesForecast.Predict(Model, _problem, _testEnds));
        var actual = _problem.OriginalTargets(_testEnds);
        string name = (s.Bidirectional ? "bidirectional " : "") + s.Cell.Name.ToUpperInvariant();
        var scores = new List<ForecastScore>
        {
            new(name, ForecastMetrics.Compute(actual, predicted)),
            new("persistence", ForecastMetrics.Compute(actual, SeriesBaselines.Persistence(_data.Values, _originalTestEnds, s.Horizon))),
        };
        if (s.Season > 0)
            scores.Add(new($"seasonal naive ({s.Season})", ForecastMetrics.Compute(actual, SeriesBaselines.SeasonalNaive(_data.Values, _originalTestEnds, s.Horizon, s.Season))));
        if (_autoRegression is { } ar)
            scores.Add(new(ar.Name, ForecastMetrics.Compute(actual, AutoRegressionForecasts(ar))));
        Scores = scores;
        if (Model.Config.Head.Likelihood != SeriesLikelihood.Point)
            Coverage = SeriesIntervals.TestCoverage(Model, _problem, _testEnds);
    }

    /// <summary>AR(p)'s forecasts (B, k) in original units from every test window's origin: the values before it, and its last row's covariate features.</summary>
    private double[] AutoRegressionForecasts(SeriesAutoRegression ar)
    {
        int k = Settings.Horizon, w = _problem.Covariates.Width, fw = _problem.Covariates.FutureWidth;
        var result = new double[_testEnds.Length * k];
        var modeled = _problem.Modeled;
        var features = _problem.CovariateFeatures;
        var targetFuture = new double[k * fw];   // the future covariates of the k target rows (known ahead)
        for (int b = 0; b < _testEnds.Length; b++)
        {
            int e = _testEnds[b];
            for (int j = 0; j < k; j++) features.AsSpan((e + j) * w + w - fw, fw).CopyTo(targetFuture.AsSpan(j * fw, fw));
            ar.Forecast(modeled.AsSpan(0, e), features.AsSpan((e - 1) * w, w), _data.Values[_problem.OriginalEnd(e) - 1], result.AsSpan(b * k, k), targetFuture);
        }
        return result;
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
    internal SeriesModelInfo ModelInfo => new(_problem.Scaler, Settings.Difference, _data.Column, _data.DateColumn, Settings.Season, _data.Values, _data.Labels, _data.Dates)
    {
        Covariates = _problem.Covariates,
    };

    /// <summary>The covariate columns the run read (empty without --covariates), for forecasting right after training.</summary>
    internal IReadOnlyList<CovariateColumn> CovariateColumns => _data.Covariates;

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
    string? Covariates = null, bool Calendar = false, string? FutureCovariates = null)
{
    public static SavedSeriesSetup From(SeriesTrainingSettings s) => new(
        s.Csv == Files.InputSource.StandardInput ? s.Csv : Path.GetFullPath(s.Csv), s.Column, s.DateColumn, s.Scale.ToString(), s.Difference, s.Window,
        s.Horizon, s.ValFraction, s.TestFraction, s.Season, s.Cell.Name, s.Hidden, s.Layers, s.Bidirectional, s.Dropout, s.BatchSize, s.LearningRate,
        s.ClipNorm, s.Patience, s.RestoreBest, s.Seed, s.Head.Name, s.Head.QuantilesText, string.Join(",", s.Covariates), s.Calendar, string.Join(",", s.FutureCovariates));

    public SeriesTrainingSettings ToSettings() => new()
    {
        Csv = Csv, Column = Column, DateColumn = DateColumn, Scale = Enum.Parse<SeriesScalerKind>(Scale), Difference = Difference, Window = Window,
        Horizon = Horizon, ValFraction = ValFraction, TestFraction = TestFraction, Season = Season, Cell = RecurrentCell.Parse(Cell), Hidden = Hidden,
        Layers = Layers, Bidirectional = Bidirectional, Dropout = Dropout, BatchSize = Batch, LearningRate = Lr, ClipNorm = Clip, Patience = Patience,
        RestoreBest = RestoreBest, Seed = Seed,
        // State files from before covariates have none.
        Covariates = string.IsNullOrEmpty(Covariates) ? [] : Covariates.Split(','), Calendar = Calendar,
        FutureCovariates = string.IsNullOrEmpty(FutureCovariates) ? [] : FutureCovariates.Split(','),
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
