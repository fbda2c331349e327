using System.Globalization;
using GpuLstm.Runtime.Models;
using GpuLstm.Runtime.Series;
using GpuLstm.Runtime.Training;

namespace GpuLstm;

/// <summary>
/// Every setting of a forecasting run, checked in one place (<see cref="Validate"/>; errors name the setting by
/// its property name). Defaults: window 12, horizon 1, one LSTM(32), min-max scaling, 15% validation and 15%
/// test, early stopping on the validation MSE with patience 20 and the best weights restored.
/// </summary>
public sealed record SeriesTrainingSettings
{
    /// <summary>A CSV file with a header row, or <c>-</c> for standard input.</summary>
    public required string Csv { get; init; }
    public required string Column { get; init; }
    public string? DateColumn { get; init; }
    public SeriesScalerKind Scale { get; init; } = SeriesScalerKind.MinMax;
    /// <summary>Model first differences y[t+1] − y[t] and integrate the forecasts back (for trending series).</summary>
    public bool Difference { get; init; }
    /// <summary>Past covariate columns (observed up to the forecast origin), read beside the value column; numeric ones scaled, others one-hot.</summary>
    public string[] Covariates { get; init; } = [];
    /// <summary>Future covariate columns (known ahead, such as a holiday flag or a forecast temperature): a window's step carries the row k later's value, so the last k steps carry the targets' own.</summary>
    public string[] FutureCovariates { get; init; } = [];
    /// <summary>Add hour of day, day of week and month as sine/cosine pairs from the date column (needs <see cref="DateColumn"/>).</summary>
    public bool Calendar { get; init; }
    /// <summary>A long-format CSV's series column: one global model trains on every series in it, each scaled on its own training part (null: the file is one series).</summary>
    public string? SeriesColumn { get; init; }
    /// <summary>With <see cref="SeriesColumn"/>: the model also reads which series a window is from, as a learned per-series embedding (see README "Many series").</summary>
    public bool SeriesEmbedding { get; init; }
    /// <summary>
    /// A hybrid: the network forecasts the residual of a per-series AR(<see cref="Window"/>) fitted by least squares on
    /// the values before the test part (train and validation), and the forecast is their sum (as LSTNet's autoregressive highway; see README "Hybrid with an AR base").
    /// </summary>
    public bool ArBase { get; init; }
    public int Window { get; init; } = 12;
    public int Horizon { get; init; } = 1;
    public double ValFraction { get; init; } = 0.15;
    public double TestFraction { get; init; } = 0.15;
    /// <summary>The seasonal-naive baseline's season (0: none).</summary>
    public int Season { get; init; }
    /// <summary>p of the AR(p) baseline in the test metrics, fitted on the values before the test part (null: the window; with covariates it reads them too, fitted per horizon step).</summary>
    public int? ArOrder { get; init; }
    public RecurrentCell Cell { get; init; } = RecurrentCell.Lstm;
    /// <summary>What the head predicts per step: a point (MSE), a Gaussian (NLL) or quantiles (pinball loss).</summary>
    public SeriesLikelihood Likelihood { get; init; } = SeriesLikelihood.Point;
    /// <summary>The quantile head's levels: ascending, distinct, in (0,1), with 0.5; empty means 0.1, 0.5, 0.9. Only with <see cref="SeriesLikelihood.Quantile"/>.</summary>
    public double[] Quantiles { get; init; } = [];
    public int Hidden { get; init; } = 32;
    public int Layers { get; init; } = 1;
    public bool Bidirectional { get; init; }
    public float Dropout { get; init; }
    public int Epochs { get; init; } = 200;
    public long MaxSteps { get; init; }
    public int BatchSize { get; init; } = 16;
    public double LearningRate { get; init; } = 1e-3;
    public double ClipNorm { get; init; }
    public int Patience { get; init; } = 20;
    public bool RestoreBest { get; init; } = true;
    public ulong Seed { get; init; } = 42;
    public string Device { get; init; } = "auto";
    public string Checkpoint { get; init; } = SeriesTraining.DefaultCheckpoint;
    public int CheckpointEvery { get; init; }
    public OutputFile Metrics { get; init; } = OutputFile.None;
    public OutputFile Plot { get; init; } = OutputFile.None;
    /// <summary>Continue the run saved at <see cref="Checkpoint"/>; its saved settings must equal these.</summary>
    public bool Resume { get; init; }

    public void Validate()
    {
        static void Positive(int value, string setting, string what)
        {
            if (value < 1) throw new SettingException(setting, $"{what} must be a positive integer, got {value}", what);
        }
        if (string.IsNullOrWhiteSpace(Csv)) throw new SettingException(nameof(Csv), "the CSV path is empty");
        if (string.IsNullOrWhiteSpace(Column)) throw new SettingException(nameof(Column), "the column name is empty");
        if (string.IsNullOrWhiteSpace(Checkpoint)) throw new SettingException(nameof(Checkpoint), "the checkpoint path is empty");
        Positive(Window, nameof(Window), "the window");
        if (ArOrder is int p) Positive(p, nameof(ArOrder), "the AR order");
        if (Covariates.Any(string.IsNullOrWhiteSpace))
            throw new SettingException(nameof(Covariates), "--covariates has an empty column name", "the covariates");
        if (FutureCovariates.Any(string.IsNullOrWhiteSpace))
            throw new SettingException(nameof(FutureCovariates), "--future-covariates has an empty column name", "the future covariates");
        if (SeriesColumn is not null && string.IsNullOrWhiteSpace(SeriesColumn))
            throw new SettingException(nameof(SeriesColumn), "the series column name is empty", "the series column");
        if (SeriesEmbedding && SeriesColumn is null)
            throw new SettingException(nameof(SeriesEmbedding), "--series-embedding needs --series-column: a file of one series has no series to tell apart", "the series embedding");
        if (Calendar && DateColumn is null)
            throw new SettingException(nameof(Calendar), "--calendar needs dates: give the date column with --date-column", "the calendar features");
        Positive(Horizon, nameof(Horizon), "the horizon");
        Positive(Hidden, nameof(Hidden), "the hidden size");
        Positive(Layers, nameof(Layers), "the number of layers");
        Positive(Epochs, nameof(Epochs), "the number of epochs");
        Positive(BatchSize, nameof(BatchSize), "the batch size");
        if (Season < 0) throw new SettingException(nameof(Season), $"the season must be 0 (no seasonal baseline) or positive, got {Season}", "the season");
        Fraction(nameof(ValFraction), ValFraction, "the validation fraction");
        Fraction(nameof(TestFraction), TestFraction, "the test fraction");
        if (ValFraction + TestFraction >= 1)
            throw new SettingException(nameof(ValFraction), string.Create(CultureInfo.InvariantCulture,
                $"the validation fraction {ValFraction} and the test fraction {TestFraction} leave no train part (their sum must be below 1)"));
        new SeriesModelConfig(Hidden, Window, Horizon, 1, Layers, Bidirectional, Dropout) { Cell = Cell }.Stack.Validate();
        var head = Head;
        // A head predicts quantiles of the modeled differences; quantiles of a sum of several differences are
        // not the sums of their quantiles, so intervals over a multi-step block could not be integrated back.
        if (Difference && Horizon > 1 && head.Likelihood != SeriesLikelihood.Point)
            throw new SettingException(nameof(Likelihood), $"a {head.Name} head with differencing needs horizon 1 (quantiles of differences do not add up to quantiles of their sum); use a horizon of 1, or no differencing", "the likelihood");
        AdamOptions.Validate();
        DefaultStopping.Validate();
        TrainOptions.Validate();
    }

    private static void Fraction(string setting, double fraction, string what)
    {
        if (!double.IsFinite(fraction) || fraction < 0 || fraction >= 1)
            throw new SettingException(setting, string.Create(CultureInfo.InvariantCulture, $"{what} must be at least 0 and below 1, got {fraction}"), what);
    }

    /// <summary>The head these settings describe (validates the levels).</summary>
    internal Runtime.Models.SeriesHead Head => Runtime.Models.SeriesHead.For(Likelihood, Quantiles);

    internal AdamOptions AdamOptions => new(LearningRate, ClipNorm: ClipNorm);
    internal EarlyStoppingOptions StoppingOptions(bool hasValidation) => new(hasValidation ? MonitoredLoss.ValLoss : MonitoredLoss.Loss, Patience, 0, RestoreBest);
    private EarlyStoppingOptions DefaultStopping => StoppingOptions(true);
    internal TrainOptions TrainOptions => new(Epochs, Seed, MaxSteps, 0, CheckpointEvery);
}

/// <summary>One row of the test metrics: a model or baseline and its RMSE, MAE and MAPE on the test part, in original units.</summary>
public sealed record ForecastScore(string Name, ForecastMetrics Metrics);
