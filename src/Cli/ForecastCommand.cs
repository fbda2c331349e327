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
        return command;
    }

    private static readonly SeriesTrainingSettings Defaults = new() { Csv = "-", Column = "-" };

    private static Command CreateTrain()
    {
        var csv = new Option<string>("--csv") { Description = "CSV file with a header row ('-': standard input)", Required = true };
        var column = new Option<string>("--column") { Description = "the numeric column to forecast", Required = true };
        var dateColumn = new Option<string?>("--date-column") { Description = "a date column that orders the rows and labels the forecast" };
        var scale = new Option<string>("--scale") { Description = "scaling fitted on the train part: minmax or zscore", DefaultValueFactory = _ => "minmax" };
        scale.AcceptOnlyFromAmong("minmax", "zscore");
        var difference = new Option<bool>("--difference") { Description = "model first differences y[t+1] − y[t] (for trending series) and integrate them back" };
        var window = new Option<int>("--window") { Description = "input steps per sample (N)", DefaultValueFactory = _ => Defaults.Window };
        var horizon = new Option<int>("--horizon") { Description = "values forecast per sample (k)", DefaultValueFactory = _ => Defaults.Horizon };
        var valFraction = new Option<double>("--val-fraction") { Description = "the fraction before the test part held out for validation (early stopping)", DefaultValueFactory = _ => Defaults.ValFraction };
        var testFraction = new Option<double>("--test-fraction") { Description = "the last fraction of the series held out for the test metrics", DefaultValueFactory = _ => Defaults.TestFraction };
        var season = new Option<int>("--season") { Description = "season length for the seasonal-naive baseline (0: none; 12 for monthly data with a yearly cycle)", DefaultValueFactory = _ => Defaults.Season };
        var hidden = new Option<int>("--hidden") { Description = "hidden size", DefaultValueFactory = _ => Defaults.Hidden };
        var layers = new Option<int>("--layers") { Description = "stacked recurrent levels", DefaultValueFactory = _ => Defaults.Layers };
        var bidirectional = new Option<bool>("--bidirectional") { Description = "each level reads the window forwards and backwards" };
        var dropout = new Option<float>("--dropout") { Description = "dropout between stacked levels while training", DefaultValueFactory = _ => Defaults.Dropout };
        var cell = CliOptions.Cell();
        var likelihood = new Option<string>("--likelihood") { Description = "what the model predicts per step: point (one value, MSE loss), gaussian (mean and scale, negative log-likelihood) or quantile (one value per --quantiles level, pinball loss)", DefaultValueFactory = _ => "point" };
        likelihood.AcceptOnlyFromAmong("point", "gaussian", "quantile");
        var quantiles = new Option<string?>("--quantiles") { Description = "with --likelihood quantile: ascending levels in (0,1) that include 0.5, the point forecast (default 0.1,0.5,0.9)" };
        var epochs = new Option<int>("--epochs") { Description = "maximum number of epochs", DefaultValueFactory = _ => Defaults.Epochs };
        var maxSteps = new Option<long>("--max-steps") { Description = "stop after this many training steps in all (0: no limit)", DefaultValueFactory = _ => Defaults.MaxSteps };
        var batch = new Option<int>("--batch") { Description = "batch size", DefaultValueFactory = _ => Defaults.BatchSize };
        var lr = new Option<double>("--lr") { Description = "Adam learning rate", DefaultValueFactory = _ => Defaults.LearningRate };
        var clip = new Option<double>("--clip") { Description = "clip gradients to this global L2 norm (0: off)", DefaultValueFactory = _ => Defaults.ClipNorm };
        var patience = new Option<int>("--patience") { Description = "early stopping: epochs without a better validation loss before stopping", DefaultValueFactory = _ => Defaults.Patience };
        var restoreBest = CliOptions.RestoreBest(Defaults.RestoreBest);
        var seed = new Option<ulong>("--seed") { Description = "seed for initialization, shuffling and dropout", DefaultValueFactory = _ => Defaults.Seed };
        var device = CliOptions.Device(Defaults.Device);
        var checkpoint = new Option<string>("--checkpoint") { Description = "where to save the trained model (safetensors; its directory must exist)", DefaultValueFactory = _ => DefaultCheckpoint };
        var checkpointEvery = new Option<int>("--checkpoint-every") { Description = "also save a resumable checkpoint every N steps (0: only at the end)", DefaultValueFactory = _ => Defaults.CheckpointEvery };
        var resume = new Option<bool>("--resume") { Description = "continue the run saved at --checkpoint exactly where it stopped" };
        var metrics = new Option<string?>("--metrics") { Description = "metrics CSV of every step (default: none)" };
        var every = new Option<int>("--print-every") { Description = "print an epoch line every N epochs (and at every improvement)", DefaultValueFactory = _ => 10 };

        var command = new Command("train", "Train a recurrent forecaster on one CSV column; print test metrics beside naive baselines and save the model.")
        {
            csv, column, dateColumn, scale, difference, window, horizon, valFraction, testFraction, season, hidden, layers, bidirectional, dropout, cell,
            likelihood, quantiles, epochs, maxSteps, batch, lr, clip, patience, restoreBest, seed, device, checkpoint, checkpointEvery, resume, metrics, every,
        };
        command.SetAction(parse => CliRunner.Run(parse, () =>
        {
            int pe = parse.GetValue(every);
            CliRunner.RequirePositive(pe, "--print-every");
            string checkpointPath = parse.GetValue(checkpoint)!;
            bool resuming = parse.GetValue(resume);
            var given = new GivenOptions(parse);
            var basis = resuming ? SeriesTraining.SavedSettings(checkpointPath) : Defaults;
            var settings = basis with
            {
                Csv = parse.GetValue(csv)!,
                Column = given.Get(column, basis.Column),
                DateColumn = given.Get(dateColumn, basis.DateColumn),
                Scale = given.Get(scale, basis.Scale, v => v == "zscore" ? SeriesScalerKind.ZScore : SeriesScalerKind.MinMax),
                Difference = given.Get(difference, basis.Difference),
                Window = given.Get(window, basis.Window),
                Horizon = given.Get(horizon, basis.Horizon),
                ValFraction = given.Get(valFraction, basis.ValFraction),
                TestFraction = given.Get(testFraction, basis.TestFraction),
                Season = given.Get(season, basis.Season),
                Cell = given.Get(cell, basis.Cell, RecurrentCell.Parse),
                Likelihood = given.Get(likelihood, basis.Likelihood, SeriesHead.ParseName),
                // A resumed quantile run's levels do not carry over to another likelihood given now: the conflict
                // to report is the likelihood's, not levels without a quantile head.
                Quantiles = given.Has(quantiles) ? ParseLevels(parse.GetValue(quantiles))
                    : given.Has(likelihood) && parse.GetValue(likelihood) != "quantile" ? [] : basis.Quantiles,
                Hidden = given.Get(hidden, basis.Hidden),
                Layers = given.Get(layers, basis.Layers),
                Bidirectional = given.Get(bidirectional, basis.Bidirectional),
                Dropout = given.Get(dropout, basis.Dropout),
                Epochs = parse.GetValue(epochs),
                MaxSteps = parse.GetValue(maxSteps),
                BatchSize = given.Get(batch, basis.BatchSize),
                LearningRate = given.Get(lr, basis.LearningRate),
                ClipNorm = given.Get(clip, basis.ClipNorm),
                Patience = given.Get(patience, basis.Patience),
                RestoreBest = given.Get(restoreBest, basis.RestoreBest),
                Seed = given.Get(seed, basis.Seed),
                Device = parse.GetValue(device)!,
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
            Console.WriteLine(Inv($"{info.Column}: {info.Values} values{(s.Difference ? " (modeling first differences)" : "")}; train {info.TrainSamples}, validation {info.ValidationSamples}, test {info.TestSamples} samples (window {s.Window}, horizon {s.Horizon}); scaler {info.Scaler}"));
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
                int width = run.Scores.Max(r => r.Name.Length);
                Console.WriteLine(Inv($"{"".PadRight(width)}  {"RMSE",10}  {"MAE",10}  {"MAPE %",8}"));
                foreach (var (name, m) in run.Scores)
                    Console.WriteLine(Inv($"{name.PadRight(width)}  {m.Rmse,10:F3}  {m.Mae,10:F3}  {m.Mape,8:F2}"));
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

    private static Command CreatePredict()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "a checkpoint written by `gpulstm forecast train`", DefaultValueFactory = _ => DefaultCheckpoint };
        var steps = new Option<int>("--steps") { Description = "values to forecast past the end of the series", Required = true };
        var plot = new Option<string?>("--plot") { Description = "also draw the history and the forecast to this PNG" };
        var output = new Option<string?>("--output") { Description = "also write the forecast CSV to this file" };
        var device = new Option<string>("--device") { Description = "cpu, ilgpu-cpu, cuda, cuda:N, opencl, opencl:N, auto", DefaultValueFactory = _ => "cpu" };
        var samples = new Option<int>("--samples") { Description = "for a gaussian or quantile model: sample paths the intervals are taken over", DefaultValueFactory = _ => DefaultSamples };
        var seed = new Option<ulong>("--seed") { Description = "seed of the sample paths (the same seed gives the same forecast)", DefaultValueFactory = _ => 42 };
        var command = new Command("predict", "Forecast N values past the end of the training series, feeding each forecast back as input; print CSV (step,label,value, and a gaussian or quantile model's quantiles).")
        {
            checkpoint, steps, plot, output, device, samples, seed,
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
            new FilePlan().Input("--checkpoint", checkpointPath).Output("--output", outputPath).Output("--plot", plotPath).Check();
            var loaded = SeriesCheckpoint.Load(checkpointPath);
            var head = loaded.Config.Head;
            bool intervals = head.Likelihood != SeriesLikelihood.Point;
            if (!intervals && parse.GetResult(samples) is { Implicit: false })
                throw new GpuLstmException("--samples needs a checkpoint trained with --likelihood gaussian or quantile; this one forecasts points");
            using var forecaster = Forecaster.Load(loaded, parse.GetValue(device)!, intervals ? paths : 1);
            var info = forecaster.Info;
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
                string header = "step,label,value" + string.Concat(levels.Select(q => Inv($",q{q:0.###}")));
                Console.Out.Write(header + "\n");
                csvFile.Write(header + "\n");
                if (intervals)
                {
                    var label = SeriesForecast.FutureLabeler(info.Dates, info.Labels[^1]);
                    foreach (var point in forecaster.IntervalStream(paths, parse.GetValue(seed)))
                    {
                        if (cancel.IsCancellationRequested) break;
                        string row = Inv($"{point.Step},{CsvCell(label(point.Step))},{point.Value.ToString("R", CultureInfo.InvariantCulture)}")
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
                else foreach (var point in forecaster.ForecastStream())
                {
                    if (cancel.IsCancellationRequested) break;
                    string row = Inv($"{point.Step},{CsvCell(point.Label)},{point.Value.ToString("R", CultureInfo.InvariantCulture)}\n");
                    Console.Out.Write(row);
                    csvFile.Write(row);
                    if (kept is not null) kept[written] = point.Value;
                    if (++written == n) break;
                }
                StandardOutput.ThrowIfClosed();
                if (written < n) throw new OperationCanceledException(signals.Token);
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
