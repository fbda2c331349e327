using System.CommandLine;
using System.Globalization;
using System.Text;
using GpuLstm.Runtime;
using GpuLstm.Runtime.Checkpoints;
using GpuLstm.Runtime.Compute;
using GpuLstm.Runtime.Files;
using GpuLstm.Runtime.Models;
using GpuLstm.Runtime.Models.Cells;
using GpuLstm.Runtime.Series;
using GpuLstm.Runtime.Training;
using ScottPlot;

namespace GpuLstm.Cli;

/// <summary>`gpulstm forecast train` and `gpulstm forecast predict`: numeric series forecasting from a CSV column.</summary>
internal static class ForecastCommand
{
    public const string DefaultCheckpoint = "forecast-model.safetensors";

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    public static Command Create()
    {
        var command = new Command("forecast", "Forecast a numeric CSV column with a recurrent model (LSTM, GRU or RNN): train it, then predict past the end of the series.");
        command.Subcommands.Add(CreateTrain());
        command.Subcommands.Add(CreatePredict());
        command.Subcommands.Add(CreateBacktest());
        return command;
    }

    private static readonly SeriesTrainingSettings Defaults = new() { Csv = "-", Column = "-" };

    /// <summary>
    /// The options that say what a forecaster trains on and how, shared by `forecast train` and `forecast backtest`
    /// so both parse them the same way. The horizon and the test fraction are not here: they mean different
    /// things to the two commands.
    /// </summary>
    private sealed class TrainingOptions
    {
        public readonly Option<string> Csv = new("--csv") { Description = "CSV file with a header row ('-': standard input)", Required = true };
        public readonly Option<string> Column = new("--column") { Description = "the numeric column to forecast", Required = true };
        public readonly Option<string?> DateColumn = new("--date-column") { Description = "a date column that orders the rows and labels the forecast" };
        public readonly Option<string> Scale = new("--scale") { Description = "scaling fitted on the train part: minmax or zscore", DefaultValueFactory = _ => "minmax" };
        public readonly Option<bool> Difference = new("--difference") { Description = "model first differences y[t+1] − y[t] (for trending series) and integrate them back" };
        public readonly Option<int> Window = new("--window") { Description = "input steps per sample (N)", DefaultValueFactory = _ => Defaults.Window };
        public readonly Option<double> ValFraction = new("--val-fraction") { Description = "the fraction before the test part held out for validation (early stopping)", DefaultValueFactory = _ => Defaults.ValFraction };
        public readonly Option<int> Season = new("--season") { Description = "season length for the seasonal-naive baseline (0: none; 12 for monthly data with a yearly cycle)", DefaultValueFactory = _ => Defaults.Season };
        public readonly Option<int> Hidden = new("--hidden") { Description = "hidden size", DefaultValueFactory = _ => Defaults.Hidden };
        public readonly Option<int> Layers = new("--layers") { Description = "stacked recurrent levels", DefaultValueFactory = _ => Defaults.Layers };
        public readonly Option<bool> Bidirectional = new("--bidirectional") { Description = "each level reads the window forwards and backwards" };
        public readonly Option<float> Dropout = new("--dropout") { Description = "dropout between stacked levels while training", DefaultValueFactory = _ => Defaults.Dropout };
        public readonly Option<string> Cell = CliOptions.Cell();
        public readonly Option<string?> Covariates = new("--covariates") { Description = "past covariate columns, comma-separated (observed up to the forecast origin): numeric ones scaled, others one-hot; a model with them forecasts at most its --horizon steps ahead (predict needs --csv; a backtest needs --model-horizon = --horizon)" };
        public readonly Option<string?> FutureCovariates = new("--future-covariates") { Description = "future covariate columns, comma-separated (known ahead: a holiday flag, a forecast temperature); a window's step carries the row k later's, so the last k steps carry the targets' own; predict --csv reads them from rows after the last value whose value cell is empty" };
        public readonly Option<bool> Calendar = new("--calendar") { Description = "add hour of day, day of week and month as sine/cosine pairs from --date-column (known ahead)" };
        public readonly Option<int> Epochs = new("--epochs") { Description = "maximum number of epochs", DefaultValueFactory = _ => Defaults.Epochs };
        public readonly Option<long> MaxSteps = new("--max-steps") { Description = "stop after this many training steps in all (0: no limit)", DefaultValueFactory = _ => Defaults.MaxSteps };
        public readonly Option<int> Batch = new("--batch") { Description = "batch size", DefaultValueFactory = _ => Defaults.BatchSize };
        public readonly Option<double> Lr = new("--lr") { Description = "Adam learning rate", DefaultValueFactory = _ => Defaults.LearningRate };
        public readonly Option<double> Clip = new("--clip") { Description = "clip gradients to this global L2 norm (0: off)", DefaultValueFactory = _ => Defaults.ClipNorm };
        public readonly Option<int> Patience = new("--patience") { Description = "early stopping: epochs without a better validation loss before stopping", DefaultValueFactory = _ => Defaults.Patience };
        public readonly Option<bool> RestoreBest = CliOptions.RestoreBest(Defaults.RestoreBest);
        public readonly Option<ulong> Seed = new("--seed") { Description = "seed for initialization, shuffling and dropout", DefaultValueFactory = _ => Defaults.Seed };
        public readonly Option<string> Device = CliOptions.Device(Defaults.Device);
        public readonly Option<string?> SeriesColumn = new("--series-column") { Description = "a long-format CSV's column naming each row's series: one global model trains on all of them, each series scaled on its own training part" };
        public readonly Option<bool> ArBase = new("--ar-base") { Description = "a hybrid: the network forecasts the residual of a per-series AR(window) fitted by least squares on the values before the test part; the forecast is their sum" };
        public readonly Option<bool> SeriesEmbedding = new("--series-embedding") { Description = "with --series-column: the model also reads which series a window is from (a learned per-series embedding)" };

        public TrainingOptions() => Scale.AcceptOnlyFromAmong("minmax", "zscore");

        public Option[] All =>
        [
            Csv, Column, DateColumn, Scale, Difference, Covariates, FutureCovariates, Calendar, Window, ValFraction, Season, Hidden, Layers, Bidirectional, Dropout, Cell,
            Epochs, MaxSteps, Batch, Lr, Clip, Patience, RestoreBest, Seed, Device, SeriesColumn, SeriesEmbedding, ArBase,
        ];

        /// <summary><paramref name="basis"/> (the defaults, or a resumed run's saved settings) with the options given on the command line.</summary>
        public SeriesTrainingSettings Read(ParseResult parse, SeriesTrainingSettings basis)
        {
            var given = new GivenOptions(parse);
            return basis with
            {
                Csv = parse.GetValue(Csv)!,
                Column = given.Get(Column, basis.Column),
                DateColumn = given.Get(DateColumn, basis.DateColumn),
                Scale = given.Get(Scale, basis.Scale, v => v == "zscore" ? SeriesScalerKind.ZScore : SeriesScalerKind.MinMax),
                Difference = given.Get(Difference, basis.Difference),
                Covariates = given.Has(Covariates) ? ParseColumns(parse.GetValue(Covariates)) : basis.Covariates,
                FutureCovariates = given.Has(FutureCovariates) ? ParseColumns(parse.GetValue(FutureCovariates)) : basis.FutureCovariates,
                Calendar = given.Get(Calendar, basis.Calendar),
                Window = given.Get(Window, basis.Window),
                ValFraction = given.Get(ValFraction, basis.ValFraction),
                Season = given.Get(Season, basis.Season),
                Cell = given.Get(Cell, basis.Cell, RecurrentCell.Parse),
                Hidden = given.Get(Hidden, basis.Hidden),
                Layers = given.Get(Layers, basis.Layers),
                Bidirectional = given.Get(Bidirectional, basis.Bidirectional),
                Dropout = given.Get(Dropout, basis.Dropout),
                Epochs = parse.GetValue(Epochs),
                MaxSteps = parse.GetValue(MaxSteps),
                BatchSize = given.Get(Batch, basis.BatchSize),
                LearningRate = given.Get(Lr, basis.LearningRate),
                ClipNorm = given.Get(Clip, basis.ClipNorm),
                Patience = given.Get(Patience, basis.Patience),
                RestoreBest = given.Get(RestoreBest, basis.RestoreBest),
                Seed = given.Get(Seed, basis.Seed),
                Device = parse.GetValue(Device)!,
                SeriesColumn = given.Get(SeriesColumn, basis.SeriesColumn),
                SeriesEmbedding = given.Get(SeriesEmbedding, basis.SeriesEmbedding),
                ArBase = given.Get(ArBase, basis.ArBase),
            };
        }
    }

    private static Command CreateTrain()
    {
        var shared = new TrainingOptions();
        var horizon = new Option<int>("--horizon") { Description = "values forecast per sample (k)", DefaultValueFactory = _ => Defaults.Horizon };
        var testFraction = new Option<double>("--test-fraction") { Description = "the last fraction of the series held out for the test metrics", DefaultValueFactory = _ => Defaults.TestFraction };
        var likelihood = new Option<string>("--likelihood") { Description = "what the model predicts per step: point (one value, MSE loss), gaussian (mean and scale, negative log-likelihood) or quantile (one value per --quantiles level, pinball loss)", DefaultValueFactory = _ => "point" };
        likelihood.AcceptOnlyFromAmong("point", "gaussian", "quantile");
        var quantiles = new Option<string?>("--quantiles") { Description = "with --likelihood quantile: ascending levels in (0,1) that include 0.5, the point forecast (default 0.1,0.5,0.9)" };
        var checkpoint = new Option<string>("--checkpoint") { Description = "where to save the trained model (safetensors; its directory must exist)", DefaultValueFactory = _ => DefaultCheckpoint };
        var checkpointEvery = new Option<int>("--checkpoint-every") { Description = "also save a resumable checkpoint every N steps (0: only at the end)", DefaultValueFactory = _ => Defaults.CheckpointEvery };
        var resume = new Option<bool>("--resume") { Description = "continue the run saved at --checkpoint exactly where it stopped" };
        var metrics = new Option<string?>("--metrics") { Description = "metrics CSV of every step (default: none)" };
        var trainArOrder = new Option<int?>("--ar-order") { Description = "p of the AR(p) baseline in the test metrics, fitted by least squares on the values before the test part (default: --window); with covariates it reads them too, fitted directly per horizon step" };
        var every = new Option<int>("--print-every") { Description = "print an epoch line every N epochs (and at every improvement)", DefaultValueFactory = _ => 10 };

        var command = new Command("train", "Train a recurrent forecaster on one CSV column; print test metrics beside naive baselines and save the model.");
        foreach (var option in shared.All) command.Options.Add(option);
        foreach (var option in new Option[] { horizon, testFraction, likelihood, quantiles, trainArOrder, checkpoint, checkpointEvery, resume, metrics, every }) command.Options.Add(option);
        command.SetAction(parse => CliRunner.Run(parse, () =>
        {
            int pe = parse.GetValue(every);
            CliRunner.RequirePositive(pe, "--print-every");
            if (parse.GetValue(trainArOrder) is int order) CliRunner.RequirePositive(order, "--ar-order");
            string checkpointPath = parse.GetValue(checkpoint)!;
            bool resuming = parse.GetValue(resume);
            var given = new GivenOptions(parse);
            var basis = resuming ? SeriesTraining.SavedSettings(checkpointPath) : Defaults;
            var settings = shared.Read(parse, basis) with
            {
                Horizon = given.Get(horizon, basis.Horizon),
                TestFraction = given.Get(testFraction, basis.TestFraction),
                Likelihood = given.Get(likelihood, basis.Likelihood, SeriesHead.ParseName),
                // A resumed quantile run's levels do not carry over to another likelihood given now: the conflict
                // to report is the likelihood's, not levels without a quantile head.
                Quantiles = given.Has(quantiles) ? ParseLevels(parse.GetValue(quantiles))
                    : given.Has(likelihood) && parse.GetValue(likelihood) != "quantile" ? [] : basis.Quantiles,
                ArOrder = given.Has(trainArOrder) ? parse.GetValue(trainArOrder) : basis.ArOrder,
                Checkpoint = checkpointPath,
                CheckpointEvery = parse.GetValue(checkpointEvery),
                Metrics = parse.GetValue(metrics) is { } metricsPath ? CliOptions.OutputFile(metricsPath) : OutputFile.None,
                Resume = resuming,
            };
            using var run = CliRunner.ResumeErrors(() => new SeriesTraining(settings, new FileLabels("--csv", "--checkpoint",
                "the training state file (written beside --checkpoint)", "--metrics", "--plot")));
            var s = run.Settings;
            var info = run.Info;
            int e = s.Epochs;
            string series = run.SeriesNames.Count > 1 ? Inv($"{run.SeriesNames.Count} series, ") : "";
            Console.WriteLine(Inv($"{info.Column}: {series}{info.Values} values{(s.Difference ? " (modeling first differences)" : "")}; train {info.TrainSamples}, validation {info.ValidationSamples}, test {info.TestSamples} samples (window {s.Window}, horizon {s.Horizon}); scaler {info.Scaler}"));
            Console.WriteLine(Inv($"model: {info.ModelDescription}, {info.Parameters:N0} parameters on {info.DeviceDescription}"));
            if (run.ResumedFrom is { } from) Console.WriteLine($"resuming at step {from.Step} (epoch {from.Epoch + 1})");
            string monitorName = run.Monitor.KerasName();
            run.Evaluated += r =>
            {
                bool improved = r.Decision == StoppingDecision.Improved;
                if (improved || (r.Epoch + 1) % pe == 0 || r.Epoch == 0)
                    Console.WriteLine(Inv($"epoch {r.Epoch + 1,4}/{e}  loss {r.Loss:F6}") + (r.ValLoss is double v ? Inv($"  val_loss {v:F6}") : "") + (improved ? "  *" : ""));
            };
            using var signals = new CliRunner.StopSignals();
            var outcome = run.Run(signals.Token);
            var result = outcome.Training;
            if (result.End == TrainEnd.Diverged)
                throw new GpuLstmException($"training diverged at {result.DivergedWhat}; " +
                    (outcome.SavedStep is long kept ? $"the checkpoint saved at step {kept} is kept in '{run.CheckpointPath}'" : $"nothing was saved, and '{run.CheckpointPath}' is as it was") +
                    " (try a smaller --lr, or --clip 1)");
            Console.WriteLine(Inv($"trained {result.EpochsRun} epochs ({result.Steps} steps) in {result.Elapsed.TotalSeconds:F1}s") +
                (result.End == TrainEnd.EarlyStopped ? Inv($"; early stopping after epoch {result.EpochsRun}") : "") +
                (result.RestoredBestWeights ? Inv($"; restored the weights of epoch {result.BestEpoch + 1} ({monitorName} {result.BestLoss:F6})") : ""));
            if (run.Scores.Count > 0)
            {
                Console.WriteLine();
                Console.WriteLine(Inv($"test metrics in original units ({info.TestSamples} samples × horizon {s.Horizon}):"));
                // Many series: one block per series, then the mean over the series (each series weighs the same).
                string indent = run.SeriesScores.Count > 0 ? "  " : "";
                int width = run.Scores.Max(r => r.Name.Length) + indent.Length;
                string Row(string name, ForecastMetrics m) => Inv($"{(indent + name).PadRight(width)}  {m.Rmse,10:F3}  {m.Mae,10:F3}  {m.Mape,8:F2}");
                Console.WriteLine(Inv($"{"".PadRight(width)}  {"RMSE",10}  {"MAE",10}  {"MAPE %",8}"));
                foreach (var (seriesName, scores) in run.SeriesScores)
                {
                    Console.WriteLine(seriesName);
                    foreach (var (name, m) in scores) Console.WriteLine(Row(name, m));
                }
                if (run.SeriesScores.Count > 0) Console.WriteLine(Inv($"mean over the {run.SeriesScores.Count} series"));
                foreach (var (name, m) in run.Scores) Console.WriteLine(Row(name, m));
                if (run.AutoRegressionSkipped is { } why) Console.WriteLine($"no AR baseline: {why}");
                if (run.Coverage is { } coverage) Console.WriteLine($"test {coverage.Describe()}");
            }
            else if (result.End != TrainEnd.Interrupted) Console.WriteLine("no test part (--test-fraction 0): no test metrics");
            Console.WriteLine($"saved checkpoint: {run.CheckpointPath}");
            if (result.End == TrainEnd.Interrupted)
            {
                Console.Out.Flush();
                Console.Error.WriteLine($"gpulstm: interrupted by {signals.SignalName} after {result.Steps} steps; saved the model to '{run.CheckpointPath}' (continue with --resume)");
                return signals.ExitCode;
            }
            return 0;
        }));
        return command;
    }

    /// <summary>"A,B , C" → [A, B, C]; an empty name is left for the settings to refuse.</summary>
    private static string[] ParseColumns(string? text) => (text ?? "").Split(',').Select(c => c.Trim()).ToArray();

    private static Command CreatePredict()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "a checkpoint written by `gpulstm forecast train`", DefaultValueFactory = _ => DefaultCheckpoint };
        var steps = new Option<int>("--steps") { Description = "values to forecast past the end of the series", Required = true };
        var plot = new Option<string?>("--plot") { Description = "also draw the history and the forecast to this PNG" };
        var output = new Option<string?>("--output") { Description = "also write the forecast CSV to this file" };
        var device = new Option<string>("--device") { Description = "cpu, ilgpu-cpu, cuda, cuda:N, opencl, opencl:N, auto", DefaultValueFactory = _ => "cpu" };
        var samples = new Option<int>("--samples") { Description = "for a gaussian or quantile model: sample paths the intervals are taken over", DefaultValueFactory = _ => DefaultSamples };
        var seed = new Option<ulong>("--seed") { Description = "seed of the sample paths (the same seed gives the same forecast)", DefaultValueFactory = _ => 42 };
        var csv = new Option<string?>("--csv") { Description = "forecast past the end of this CSV's series (same columns as in training) instead of the series the checkpoint keeps; needed by a model with --covariates" };
        var seriesOption = new Option<string?>("--series") { Description = "for a model trained with --series-column: the series to forecast, comma-separated (default: all of them)" };
        var command = new Command("predict", "Forecast N values past the end of the training series, feeding each forecast back as input; print CSV (step,label,value, and a gaussian or quantile model's quantiles; a many-series model's rows start with the series).")
        {
            checkpoint, steps, plot, output, device, samples, seed, csv, seriesOption,
        };
        command.SetAction(parse => CliRunner.Run(parse, () =>
        {
            int n = parse.GetValue(steps);
            if (n < 1) throw new GpuLstmException($"--steps must be a positive integer, got {n}");
            string checkpointPath = parse.GetValue(checkpoint)!;
            string? plotPath = parse.GetValue(plot), outputPath = parse.GetValue(output);
            // The rows stream out as they are computed, in constant memory; only a plot keeps every value.
            if (plotPath is not null && n > MaxPlotSteps)
                throw new GpuLstmException(Inv($"--plot draws at most {MaxPlotSteps:N0} forecast steps, and --steps is {n:N0}; give a smaller --steps, or leave out --plot"));
            int paths = parse.GetValue(samples);
            if (paths < 1 || paths > SeriesIntervals.MaxSamples)
                throw new GpuLstmException(Inv($"--samples must be a positive integer up to {SeriesIntervals.MaxSamples:N0}, got {paths}"));
            string? historyPath = parse.GetValue(csv);
            var plan = new FilePlan().Input("--checkpoint", checkpointPath);
            if (historyPath is not null && historyPath != InputSource.StandardInput) plan.Input("--csv", historyPath);
            plan.Output("--output", outputPath).Output("--plot", plotPath).Check();
            var loaded = SeriesCheckpoint.Load(checkpointPath);
            bool many = loaded.Info.Members.Count > 0;
            string? seriesText = parse.GetValue(seriesOption);
            if (seriesText is not null && !many)
                throw new GpuLstmException("--series needs a checkpoint trained with --series-column; this one forecasts a single series");
            var head = loaded.Config.Head;
            bool intervals = head.Likelihood != SeriesLikelihood.Point;
            if (!intervals && parse.GetResult(samples) is { Implicit: false })
                throw new GpuLstmException("--samples needs a checkpoint trained with --likelihood gaussian or quantile; this one forecasts points");
            // Which series to forecast: −1 is the single series of a one-series model.
            int[] targets = [-1];
            if (many)
            {
                targets = seriesText is null ? Enumerable.Range(0, loaded.Info.Members.Count).ToArray()
                    : ParseColumns(seriesText).Select(name => name.Length == 0 ? throw new GpuLstmException("--series has an empty series name") : loaded.Info.IndexOf(name)).Distinct().ToArray();
                if (plotPath is not null && targets.Length != 1)
                    throw new GpuLstmException(Inv($"--plot draws one series, and {targets.Length} would be forecast; name one with --series"));
            }
            using var forecaster = many
                ? Forecaster.LoadMany(loaded, parse.GetValue(device)!, intervals ? paths : 1,
                    historyPath is null ? null : SeriesCsv.LoadPanel(historyPath, loaded.Info.Column, loaded.Info.DateColumn, loaded.Info.SeriesColumn!,
                        loaded.Info.Covariates.Columns.Select(c => c.Name).ToArray(), futureRows: loaded.Info.Covariates.FutureWidth > 0), targets)
                : Forecaster.Load(loaded, parse.GetValue(device)!, intervals ? paths : 1,
                    historyPath is null ? null : SeriesCsv.Load(historyPath, loaded.Info.Column, loaded.Info.DateColumn, loaded.Info.Covariates.Columns.Select(c => c.Name).ToArray(),
                        futureRows: loaded.Info.Covariates.FutureWidth > 0));
            foreach (int target in targets) forecaster.CheckSteps(n, target);
            var info = forecaster.InfoOf(targets[0]);
            var levels = head.ReportedLevels;
            var kept = plotPath is null ? null : new double[n];
            // The outermost interval, for the plot's band.
            var keptLow = plotPath is null || !intervals ? null : new double[n];
            var keptHigh = keptLow is null ? null : new double[n];
            using var signals = new CliRunner.StopSignals();
            using var cancel = CancellationTokenSource.CreateLinkedTokenSource(signals.Token, StandardOutput.Closed);
            using var files = new FileTransaction();
            long written = 0;
            void Forecast(Stream file)
            {
                using var csvFile = new StreamWriter(file, new UTF8Encoding(false), 1 << 16, leaveOpen: true);
                string header = (many ? "series," : "") + "step,label,value" + string.Concat(levels.Select(q => Inv($",q{q:0.###}")));
                Console.Out.Write(header + "\n");
                csvFile.Write(header + "\n");
                foreach (int target in targets)
                {
                    written = 0;
                    ForecastSeries(csvFile, target, many ? CsvCell(forecaster.Series[target]) + "," : "");
                    if (written < n) break;
                }
                StandardOutput.ThrowIfClosed();
                if (written < n) throw new OperationCanceledException(signals.Token);
            }
            void ForecastSeries(StreamWriter csvFile, int target, string prefix)
            {
                if (intervals)
                {
                    var history = forecaster.InfoOf(target);
                    var label = SeriesForecast.FutureLabeler(history.Dates, history.Labels[^1]);
                    foreach (var point in forecaster.IntervalStream(paths, parse.GetValue(seed), target))
                    {
                        if (cancel.IsCancellationRequested) break;
                        string row = prefix + Inv($"{point.Step},{CsvCell(label(point.Step))},{point.Value.ToString("R", CultureInfo.InvariantCulture)}")
                            + string.Concat(point.Quantiles.Select(q => "," + q.ToString("R", CultureInfo.InvariantCulture))) + "\n";
                        Console.Out.Write(row);
                        csvFile.Write(row);
                        if (kept is not null)
                        {
                            kept[written] = point.Value;
                            keptLow![written] = point.Quantiles[0];
                            keptHigh![written] = point.Quantiles[^1];
                        }
                        if (++written == n) break;
                    }
                }
                else foreach (var point in forecaster.ForecastStream(target))
                {
                    if (cancel.IsCancellationRequested) break;
                    string row = prefix + Inv($"{point.Step},{CsvCell(point.Label)},{point.Value.ToString("R", CultureInfo.InvariantCulture)}\n");
                    Console.Out.Write(row);
                    csvFile.Write(row);
                    if (kept is not null) kept[written] = point.Value;
                    if (++written == n) break;
                }
            }
            try
            {
                if (outputPath is not null) files.Stage(outputPath, "forecast CSV", Forecast);
                else Forecast(Stream.Null);
                string band = levels.Count >= 2 ? Inv($"{(levels[^1] - levels[0]) * 100:0.##}% interval, {paths} paths") : "";
                if (plotPath is not null) files.Stage(plotPath, "plot", s => s.Write(RenderPlot(info, kept!, keptLow, keptHigh, band)));
                files.Commit();
            }
            catch (OperationCanceledException) when (signals.Token.IsCancellationRequested)
            {
                Console.Out.Flush();
                Console.Error.WriteLine(Inv($"gpulstm: interrupted by {signals.SignalName} after {written:N0} of {n:N0} steps") +
                    (outputPath is not null || plotPath is not null ? "; nothing was written to --output or --plot" : ""));
                return signals.ExitCode;
            }
            return 0;
        }));
        return command;
    }

    private static Command CreateBacktest()
    {
        var shared = new TrainingOptions();
        var origins = new Option<int>("--origins") { Description = "forecast from each of the last K origins (K)", DefaultValueFactory = _ => 12 };
        var stride = new Option<int>("--stride") { Description = "steps between consecutive origins (s)", DefaultValueFactory = _ => 1 };
        var horizon = new Option<int>("--horizon") { Description = "values forecast from each origin (h), recursively past the model's own horizon", DefaultValueFactory = _ => 6 };
        var modelHorizon = new Option<int>("--model-horizon") { Description = "values the model outputs per sample (k, as `forecast train --horizon`); each block is fed back until h values are forecast", DefaultValueFactory = _ => Defaults.Horizon };
        var refit = new Option<bool>("--refit") { Description = "train again at every origin on all values before it (expanding window); default: train once on the values before the first origin" };
        var arOrder = new Option<int?>("--ar-order") { Description = "p of the AR(p) baseline, fitted by least squares on the same training values (default: the model's --window)" };
        var output = new Option<string?>("--output") { Description = "also write every origin's forecasts to this CSV (origin,step,[date,]actual,model,[q<level>...,]persistence,[seasonal_naive,]ar)" };
        var likelihood = new Option<string>("--likelihood") { Description = "what the model predicts per step, as `forecast train --likelihood`: point, gaussian or quantile; gaussian and quantile also score the intervals (coverage, pinball loss)", DefaultValueFactory = _ => "point" };
        likelihood.AcceptOnlyFromAmong("point", "gaussian", "quantile");
        var quantiles = new Option<string?>("--quantiles") { Description = "with --likelihood quantile: ascending levels in (0,1) that include 0.5, the point forecast (default 0.1,0.5,0.9)" };
        var samples = new Option<int>("--samples") { Description = "for a gaussian or quantile model: sample paths each origin's intervals are taken over (drawn with --seed, as `forecast predict` draws them)", DefaultValueFactory = _ => DefaultSamples };
        var command = new Command("backtest", "Rolling-origin evaluation: forecast h steps from each of the last K origins with the model and with persistence, seasonal naive and AR(p); print RMSE, MAE, sMAPE and MASE per step and overall, and a gaussian or quantile model's interval coverage and pinball loss.");
        foreach (var option in shared.All) command.Options.Add(option);
        foreach (var option in new Option[] { origins, stride, horizon, modelHorizon, refit, arOrder, likelihood, quantiles, samples, output }) command.Options.Add(option);
        command.SetAction(parse => CliRunner.Run(parse, () =>
        {
            int k = parse.GetValue(origins), s = parse.GetValue(stride), h = parse.GetValue(horizon);
            CliRunner.RequirePositive(k, "--origins");
            CliRunner.RequirePositive(s, "--stride");
            CliRunner.RequirePositive(h, "--horizon");
            // Checked here so the message names --model-horizon, not the settings' Horizon (which train calls --horizon).
            CliRunner.RequirePositive(parse.GetValue(modelHorizon), "--model-horizon");
            var settings = shared.Read(parse, Defaults) with
            {
                Horizon = parse.GetValue(modelHorizon),
                Likelihood = SeriesHead.ParseName(parse.GetValue(likelihood)!),
                Quantiles = ParseLevels(parse.GetValue(quantiles)),
            };
            int paths = parse.GetValue(samples);
            if (paths < 1 || paths > SeriesIntervals.MaxSamples)
                throw new GpuLstmException(Inv($"--samples must be a positive integer up to {SeriesIntervals.MaxSamples:N0}, got {paths}"));
            bool intervals = settings.Likelihood != SeriesLikelihood.Point;
            if (!intervals && parse.GetResult(samples) is { Implicit: false })
                throw new GpuLstmException("--samples needs --likelihood gaussian or quantile; a point model has no intervals to sample");
            // Checked here so the message names --model-horizon: the backtest's --horizon (h) is not the model's.
            if (intervals && settings.Difference && settings.Horizon != 1)
                throw new GpuLstmException(Inv($"--likelihood {parse.GetValue(likelihood)} with --difference needs --model-horizon 1 (quantiles of differences do not add up to quantiles of their sum), got {settings.Horizon}; --horizon h may be anything"));
            // Checked before anything is read or printed; SeriesBacktest.Run says the same to a library caller.
            if (settings.Covariates.Length > 0 && settings.Horizon != h)
                throw new GpuLstmException(Inv($"a backtest with --covariates needs --model-horizon equal to --horizon ({h}), got {settings.Horizon}: past covariates after an origin are unknown, so the model must forecast all h steps directly"));
            if (settings.FutureCovariates.Length > 0 && settings.Covariates.Length == 0 && h % settings.Horizon != 0)
                throw new GpuLstmException(Inv($"a backtest with --future-covariates needs --horizon ({h}) to be a multiple of --model-horizon ({settings.Horizon}): each block reads the future covariates of its k target rows, and the last origin has only h rows after it"));
            int p = parse.GetValue(arOrder) ?? settings.Window;
            CliRunner.RequirePositive(p, "--ar-order");
            string? outputPath = parse.GetValue(output);
            new FilePlan().Input("--csv", settings.Csv == InputSource.StandardInput ? null : settings.Csv).Output("--output", outputPath).Check();
            settings.Validate();
            var training = parse.GetValue(refit) ? BacktestTraining.Refit : BacktestTraining.Once;
            if (settings.SeriesColumn is not null) return BacktestMany(settings, k, s, h, training, p, intervals ? new BacktestSampling(paths, settings.Seed) : null, outputPath);
            var data = SeriesCsv.Load(settings.Csv, settings.Column, settings.DateColumn, [.. settings.Covariates, .. settings.FutureCovariates],
                futureRows: settings.FutureCovariates.Length > 0);
            var plan = new BacktestPlan(data.Count, k, s, h);
            plan.Check();
            Console.WriteLine(Inv($"{data.Column}: {data.Count} values; {k} origins every {s} steps from index {data.Count - h - (k - 1) * s}, horizon {h}; ") +
                (training == BacktestTraining.Refit ? "the model is trained again at every origin on all values before it" : "the model is trained once on the values before the first origin"));
            using var signals = new CliRunner.StopSignals();
            BacktestResult result;
            try
            {
                result = SeriesBacktest.Run(data, settings, plan, training, p,
                    (origin, r) => Console.WriteLine(Inv($"trained on the {origin} values before origin {origin}: {r.EpochsRun} epochs in {r.Elapsed.TotalSeconds:F1}s")),
                    signals.Token, intervals ? new BacktestSampling(paths, settings.Seed) : null);
            }
            catch (OperationCanceledException) when (signals.Token.IsCancellationRequested)
            {
                Console.Out.Flush();
                Console.Error.WriteLine($"gpulstm: interrupted by {signals.SignalName}; the backtest did not finish{(outputPath is null ? "" : " and nothing was written to --output")}");
                return signals.ExitCode;
            }
            PrintBacktest(result);
            if (outputPath is not null) AtomicFile.Write(outputPath, "backtest CSV", file => WriteBacktestCsv(file, result, data));
            return 0;
        }));
        return command;
    }

    /// <summary>`forecast backtest --series-column`: one global model backtested on every series of a long-format file, each at its own last K origins.</summary>
    private static int BacktestMany(SeriesTrainingSettings settings, int k, int stride, int h, BacktestTraining training, int arOrder, BacktestSampling? sampling, string? outputPath)
    {
        var members = SeriesCsv.LoadPanel(settings.Csv, settings.Column, settings.DateColumn, settings.SeriesColumn!, [.. settings.Covariates, .. settings.FutureCovariates],
            futureRows: settings.FutureCovariates.Length > 0);
        // Every series must hold its origins: refused before anything is printed or trained.
        foreach (var m in members)
        {
            try { new BacktestPlan(m.Count, k, stride, h).Check(); }
            catch (GpuLstmException x) { throw new GpuLstmException($"series '{m.Name}': {x.Message}"); }
        }
        Console.WriteLine(Inv($"{members[0].Column}: {members.Length} series ({string.Join(", ", members.Select(m => Inv($"{m.Name} {m.Count}")))} values); ") +
            Inv($"each series' last {k} origins every {stride} steps, horizon {h}; ") +
            (training == BacktestTraining.Refit ? "one model is trained again at every origin on all series before it" : "one model is trained once on every series before its first origin"));
        using var signals = new CliRunner.StopSignals();
        BacktestResult[] results;
        try
        {
            results = SeriesBacktest.RunMany(members, settings, k, stride, h, training, arOrder,
                (values, r) => Console.WriteLine(Inv($"trained on {values} values: {r.EpochsRun} epochs in {r.Elapsed.TotalSeconds:F1}s")), signals.Token, sampling);
        }
        catch (OperationCanceledException) when (signals.Token.IsCancellationRequested)
        {
            Console.Out.Flush();
            Console.Error.WriteLine($"gpulstm: interrupted by {signals.SignalName}; the backtest did not finish{(outputPath is null ? "" : " and nothing was written to --output")}");
            return signals.ExitCode;
        }
        PrintBacktestMany(members, results);
        if (outputPath is not null)
            AtomicFile.Write(outputPath, "backtest CSV", file =>
            {
                for (int m = 0; m < members.Length; m++) WriteBacktestCsv(file, results[m], members[m], seriesName: members[m].Name, header: m == 0);
            });
        return 0;
    }

    /// <summary>Each series' overall metrics, then the mean over the series per step and overall, and which of the model and AR(p) wins on mean MASE.</summary>
    private static void PrintBacktestMany(SeriesData[] members, BacktestResult[] results)
    {
        int h = results[0].Plan.Horizon, f = results[0].Forecasts.Count;
        var names = results[0].Forecasts.Select(x => x.Name).ToArray();
        int width = Math.Max(6, Math.Max(names.Max(n => n.Length) + 2, members.Max(m => m.Name!.Length)));
        string Row(string name, string step, BacktestMetrics x) => BacktestRow(width, name, step, x);
        Console.WriteLine();
        Console.WriteLine(Inv($"backtest per series over {results[0].Origins.Length} origins × horizon {h}, in original units (sMAPE in %; MASE scaled by each origin's in-sample naive error):"));
        Console.WriteLine(BacktestRow(width, "", "step", "RMSE", "MAE", "sMAPE", "MASE"));
        for (int m = 0; m < members.Length; m++)
        {
            Console.WriteLine(members[m].Name);
            foreach (var x in results[m].Forecasts) Console.WriteLine(Row("  " + x.Name, "all", results[m].Overall(x)));
        }
        // Means over the series: RMSE and MAE in mixed units (reported, but scale-dependent), sMAPE and MASE scale-free.
        Console.WriteLine(Inv($"mean over the {members.Length} series (sMAPE and MASE compare across series; RMSE and MAE mix their units)"));
        var overall = new BacktestMetrics[f];
        for (int i = 0; i < f; i++)
        {
            for (int j = 0; j < h; j++)
                Console.WriteLine(Row(j == 0 ? "  " + names[i] : "", (j + 1).ToString(CultureInfo.InvariantCulture), BacktestMetrics.Mean(results.Select(r => r.PerStep(r.Forecasts[i])[j]))));
            overall[i] = BacktestMetrics.Mean(results.Select(r => r.Overall(r.Forecasts[i])));
            Console.WriteLine(Row("", "all", overall[i]));
        }
        Console.WriteLine();
        var (model, ar) = (overall[0], overall[^1]);
        bool byMase = double.IsFinite(model.Mase) && double.IsFinite(ar.Mase);
        double mScore = byMase ? model.Mase : model.Smape, aScore = byMase ? ar.Mase : ar.Smape;
        string metric = byMase ? "mean MASE" : "mean sMAPE";
        Console.WriteLine(mScore > aScore
            ? Inv($"the global {names[0]} loses to the per-series linear {names[^1]} ({metric} {mScore:F3} vs {aScore:F3})")
            : Inv($"the global {names[0]} beats the per-series linear {names[^1]} ({metric} {mScore:F3} vs {aScore:F3})"));
        if (results[0].Quantiles is { } q0)
        {
            var scores = results.Select(r => r.Quantiles!.Overall(r.Actual, h)).ToArray();
            int inside = scores.Sum(x => x.Inside), count = scores.Sum(x => x.Count);
            Console.WriteLine(Inv($"{names[0]} intervals from {q0.Samples} sample paths per origin: the {scores[0].Nominal * 100:0.##}% interval covers {100.0 * inside / count:F1}% ({inside}/{count}) over all series; mean pinball loss per series {string.Join(", ", scores.Select(x => Inv($"{x.MeanPinball:F4}")))}"));
        }
        Console.WriteLine(Inv($"backtest took {results[0].Elapsed.TotalSeconds:F1}s"));
    }

    /// <summary>One row of a backtest table: name, step (or "all"), RMSE, MAE, sMAPE and MASE (n/a when undefined).</summary>
    private static string BacktestRow(int width, string name, string step, BacktestMetrics x) =>
        BacktestRow(width, name, step, x.Rmse.ToString("F3", CultureInfo.InvariantCulture), x.Mae.ToString("F3", CultureInfo.InvariantCulture),
            x.Smape.ToString("F2", CultureInfo.InvariantCulture), double.IsFinite(x.Mase) ? x.Mase.ToString("F3", CultureInfo.InvariantCulture) : "n/a");

    /// <summary>The same columns from text: the header, or a row's formatted numbers.</summary>
    private static string BacktestRow(int width, string name, string step, string rmse, string mae, string smape, string mase) =>
        $"{name.PadRight(width)}  {step,4}  {rmse,10}  {mae,10}  {smape,7}  {mase,7}";

    private static void PrintBacktest(BacktestResult result)
    {
        int h = result.Plan.Horizon;
        Console.WriteLine();
        Console.WriteLine(Inv($"backtest over {result.Origins.Length} origins × horizon {h}, in original units (sMAPE in %; MASE scaled by each origin's in-sample ") +
            (result.MaseScales.Any(x => x is null) ? "naive error; n/a where a history never changes or is shorter than the season):" : "naive error):"));
        int width = Math.Max(6, result.Forecasts.Max(f => f.Name.Length));
        Console.WriteLine(BacktestRow(width, "", "step", "RMSE", "MAE", "sMAPE", "MASE"));
        foreach (var f in result.Forecasts)
        {
            var perStep = result.PerStep(f);
            for (int j = 0; j < h; j++) Console.WriteLine(Row(j == 0 ? f.Name : "", (j + 1).ToString(CultureInfo.InvariantCulture), perStep[j]));
            Console.WriteLine(Row("", "all", result.Overall(f)));
        }
        var model = result.Forecasts[0];
        var ar = result.Forecasts[^1];
        var (m, a) = (result.Overall(model), result.Overall(ar));
        bool byMase = double.IsFinite(m.Mase) && double.IsFinite(a.Mase);
        double mScore = byMase ? m.Mase : m.Rmse, aScore = byMase ? a.Mase : a.Rmse;
        string metric = byMase ? "MASE" : "RMSE";
        Console.WriteLine();
        if (mScore > aScore)
            Console.WriteLine(Inv($"the {model.Name} loses to the linear {ar.Name} ({metric} {mScore:F3} vs {aScore:F3}): a least-squares autoregression forecasts this series better than the neural model"));
        else
            Console.WriteLine(Inv($"the {model.Name} beats the linear {ar.Name} ({metric} {mScore:F3} vs {aScore:F3})"));
        if (result.Quantiles is { } q)
        {
            var all = q.Overall(result.Actual, h);
            Console.WriteLine();
            Console.WriteLine(Inv($"{model.Name} intervals from {q.Samples} sample paths per origin: the {all.Nominal * 100:0.##}% interval [q{all.Low:0.###}, q{all.High:0.###}], and the pinball loss averaged over the levels {string.Join(", ", q.Levels.Select(l => Inv($"{l:0.###}")))}:"));
            Console.WriteLine(Inv($"{"step",4}  {"coverage %",10}  {"inside",11}  {"pinball",10}"));
            var perStep = q.PerStep(result.Actual, h);
            for (int j = 0; j < h; j++) Console.WriteLine(IntervalRow((j + 1).ToString(CultureInfo.InvariantCulture), perStep[j]));
            Console.WriteLine(IntervalRow("all", all));
        }
        Console.WriteLine(Inv($"backtest took {result.Elapsed.TotalSeconds:F1}s"));

        static string IntervalRow(string step, IntervalScore x) =>
            Inv($"{step,4}  {x.Coverage * 100,10:F1}  {Inv($"{x.Inside}/{x.Count}"),11}  {x.MeanPinball,10:F4}");

        string Row(string name, string step, BacktestMetrics x) => BacktestRow(width, name, step, x);
    }

    /// <summary>One row per origin and step: the origin (the 0-based index of its first forecast value, i.e. the number of values before it), the step (1..h), the target's date when the series has dates, the actual value and every forecast, a probabilistic model's quantiles right after its point forecast.</summary>
    private static void WriteBacktestCsv(Stream file, BacktestResult result, SeriesData data, string? seriesName = null, bool header = true)
    {
        using var csv = new StreamWriter(file, new UTF8Encoding(false), 1 << 16, leaveOpen: true);
        bool dated = data.DateColumn is not null;
        var q = result.Quantiles;
        int levels = q?.Levels.Count ?? 0;
        // The quantile columns follow the model's point column, which they belong to.
        var columns = result.Forecasts.Select(f => f.CsvColumn).ToList();
        if (q is not null) columns.InsertRange(1, q.Levels.Select(l => Inv($"q{l:0.###}")));
        string prefix = seriesName is null ? "" : CsvCell(seriesName) + ",";
        if (header) csv.Write((seriesName is null ? "" : "series,") + "origin,step" + (dated ? ",date" : "") + ",actual," + string.Join(',', columns) + "\n");
        int h = result.Plan.Horizon;
        for (int i = 0; i < result.Origins.Length; i++)
        {
            int o = result.Origins[i];
            for (int j = 0; j < h; j++)
            {
                var row = new StringBuilder();
                row.Append(prefix).Append(Inv($"{o},{j + 1}"));
                if (dated) row.Append(',').Append(CsvCell(data.Labels[o + j]));
                row.Append(',').Append(result.Actual[i * h + j].ToString("R", CultureInfo.InvariantCulture));
                for (int f = 0; f < result.Forecasts.Count; f++)
                {
                    row.Append(',').Append(result.Forecasts[f].Values[i * h + j].ToString("R", CultureInfo.InvariantCulture));
                    if (f == 0 && q is not null)
                        for (int l = 0; l < levels; l++) row.Append(',').Append(q.Values[(i * h + j) * levels + l].ToString("R", CultureInfo.InvariantCulture));
                }
                csv.Write(row.Append('\n').ToString());
            }
        }
    }

    /// <summary>"0.1,0.5,0.9" → levels; whether they make a head is the settings' check (SeriesHead.Quantile).</summary>
    private static double[] ParseLevels(string? text)
    {
        if (text is null) return [];
        return text.Split(',').Select(t => double.TryParse(t.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out double q) ? q
            : throw new GpuLstmException($"--quantiles must be comma-separated numbers such as 0.1,0.5,0.9; '{t.Trim()}' is not a number")).ToArray();
    }

    /// <summary>The most forecast steps a plot draws (a plot keeps every value in memory, and more points than pixels show nothing).</summary>
    public const int MaxPlotSteps = 1_000_000;

    /// <summary>Sample paths of a gaussian or quantile model's forecast when --samples is not given.</summary>
    public const int DefaultSamples = 200;

    private static string CsvCell(string s) =>
        s.IndexOfAny(new[] { ',', '"', '\n', '\r' }) >= 0 ? "\"" + s.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : s;

    /// <summary>History and forecast against the step index (dates when the series has them).</summary>
    private static byte[] RenderPlot(SeriesModelInfo info, double[] forecast, double[]? lower = null, double[]? upper = null, string band = "")
    {
        var plot = new Plot();
        int count = info.Count;
        double[] xs = Enumerable.Range(0, count).Select(i => (double)i).ToArray();
        double[] future = Enumerable.Range(count - 1, forecast.Length + 1).Select(i => (double)i).ToArray();
        var futureDates = SeriesForecast.FutureDates(info.Dates, forecast.Length);
        bool dated = futureDates is not null;
        if (dated)
        {
            var dates = info.Dates!;
            xs = dates.Select(d => d.ToOADate()).ToArray();
            future = new[] { dates[^1] }.Concat(futureDates!).Select(d => d.ToOADate()).ToArray();
            plot.Axes.DateTimeTicksBottom();
        }
        var history = plot.Add.Scatter(xs, info.Values);
        history.LegendText = info.Column;
        history.MarkerSize = 0;
        history.LineWidth = 1.5f;
        history.Color = Colors.Blue;
        if (lower is not null && upper is not null && lower.Length > 0)
        {
            // Shaded first, so the forecast line draws over it; it starts at the forecast's first step.
            var fill = plot.Add.FillY(future[1..], lower, upper);
            fill.FillColor = Colors.OrangeRed.WithAlpha(0.25);
            fill.LineWidth = 0;
            fill.LegendText = band;
        }
        var ahead = plot.Add.Scatter(future, new[] { info.Values[^1] }.Concat(forecast).ToArray());
        ahead.LegendText = $"forecast ({forecast.Length} steps)";
        ahead.MarkerSize = forecast.Length <= 60 ? 3 : 0;
        ahead.LineWidth = 2;
        ahead.Color = Colors.OrangeRed;
        plot.Title($"{info.Column}: history and forecast");
        plot.XLabel(dated ? info.DateColumn ?? "date" : "step");
        plot.YLabel(info.Column);
        plot.ShowLegend();
        return plot.GetImageBytes(1000, 500, ImageFormat.Png);
    }
}
