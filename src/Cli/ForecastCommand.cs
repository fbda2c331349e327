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
        var command = new Command("forecast", "Forecast a numeric CSV column with an LSTM: train a model, then predict past the end of the series.");
        command.Subcommands.Add(CreateTrain());
        command.Subcommands.Add(CreatePredict());
        return command;
    }

    private static Command CreateTrain()
    {
        var csv = new Option<string>("--csv") { Description = "CSV file with a header row", Required = true };
        var column = new Option<string>("--column") { Description = "the numeric column to forecast", Required = true };
        var dateColumn = new Option<string?>("--date-column") { Description = "a date column that orders the rows and labels the forecast" };
        var scale = new Option<string>("--scale") { Description = "scaling fitted on the train part: minmax or zscore", DefaultValueFactory = _ => "minmax" };
        scale.AcceptOnlyFromAmong("minmax", "zscore");
        var difference = new Option<bool>("--difference") { Description = "model first differences y[t+1] − y[t] (for trending series) and integrate them back" };
        var window = new Option<int>("--window") { Description = "input steps per sample (N)", DefaultValueFactory = _ => 12 };
        var horizon = new Option<int>("--horizon") { Description = "values forecast per sample (k)", DefaultValueFactory = _ => 1 };
        var valFraction = new Option<double>("--val-fraction") { Description = "the fraction before the test part held out for validation (early stopping)", DefaultValueFactory = _ => 0.15 };
        var testFraction = new Option<double>("--test-fraction") { Description = "the last fraction of the series held out for the test metrics", DefaultValueFactory = _ => 0.15 };
        var season = new Option<int>("--season") { Description = "season length for the seasonal-naive baseline (0: none; 12 for monthly data with a yearly cycle)", DefaultValueFactory = _ => 0 };
        var hidden = new Option<int>("--hidden") { Description = "hidden size", DefaultValueFactory = _ => 32 };
        var layers = new Option<int>("--layers") { Description = "stacked LSTM levels", DefaultValueFactory = _ => 1 };
        var bidirectional = new Option<bool>("--bidirectional") { Description = "each level reads the window forwards and backwards" };
        var cell = new Option<string>("--cell") { Description = "recurrent cell: lstm or gru", DefaultValueFactory = _ => "lstm" };
        cell.AcceptOnlyFromAmong(RecurrentCell.All.Select(c => c.Name).ToArray());
        var epochs = new Option<int>("--epochs") { Description = "maximum number of epochs", DefaultValueFactory = _ => 200 };
        var batch = new Option<int>("--batch") { Description = "batch size", DefaultValueFactory = _ => 16 };
        var lr = new Option<double>("--lr") { Description = "Adam learning rate", DefaultValueFactory = _ => 1e-3 };
        var clip = new Option<double>("--clip") { Description = "clip gradients to this global L2 norm (0: off)", DefaultValueFactory = _ => 0 };
        var patience = new Option<int>("--patience") { Description = "early stopping: epochs without a better validation loss before stopping", DefaultValueFactory = _ => 20 };
        var restoreBest = new Option<bool>("--restore-best") { Description = "[true|false] end with the weights of the epoch with the best validation loss (default true; --restore-best false keeps the last epoch's)", DefaultValueFactory = _ => true };
        var seed = new Option<ulong>("--seed") { Description = "seed for initialization and shuffling", DefaultValueFactory = _ => 42 };
        var device = new Option<string>("--device") { Description = "auto, cpu, ilgpu-cpu, cuda, cuda:N, opencl, opencl:N (see `gpulstm devices`)", DefaultValueFactory = _ => "auto" };
        var checkpoint = new Option<string>("--checkpoint") { Description = "where to save the trained model (safetensors)", DefaultValueFactory = _ => DefaultCheckpoint };
        var every = new Option<int>("--print-every") { Description = "print an epoch line every N epochs (and at every improvement)", DefaultValueFactory = _ => 10 };

        var command = new Command("train", "Train an LSTM forecaster on one CSV column; print test metrics beside naive baselines and save the model.")
        {
            csv, column, dateColumn, scale, difference, window, horizon, valFraction, testFraction, season, hidden, layers, bidirectional, cell,
            epochs, batch, lr, clip, patience, restoreBest, seed, device, checkpoint, every,
        };
        command.SetAction(parse => CliRunner.Run(parse, () =>
        {
            string checkpointPath = parse.GetValue(checkpoint)!;
            int n = parse.GetValue(window), k = parse.GetValue(horizon), h = parse.GetValue(hidden), l = parse.GetValue(layers);
            int e = parse.GetValue(epochs), b = parse.GetValue(batch), s = parse.GetValue(season), p = parse.GetValue(patience), pe = parse.GetValue(every);
            CliRunner.RequirePositive(n, "--window");
            CliRunner.RequirePositive(k, "--horizon");
            CliRunner.RequirePositive(h, "--hidden");
            CliRunner.RequirePositive(l, "--layers");
            CliRunner.RequirePositive(e, "--epochs");
            CliRunner.RequirePositive(b, "--batch");
            CliRunner.RequirePositive(pe, "--print-every");
            if (s < 0) throw new GpuLstmException($"--season must be 0 (no seasonal baseline) or positive, got {s}");
            if (p < 0) throw new GpuLstmException($"--patience must be 0 or more, got {p}");
            double rate = parse.GetValue(lr), clipNorm = parse.GetValue(clip);
            if (!(rate > 0) || double.IsInfinity(rate)) throw new GpuLstmException(Inv($"--lr must be a positive number, got {rate}"));
            if (!(clipNorm >= 0) || double.IsInfinity(clipNorm)) throw new GpuLstmException(Inv($"--clip must be 0 (off) or a positive number, got {clipNorm}"));
            double vf = parse.GetValue(valFraction), tf = parse.GetValue(testFraction);
            CheckFraction("--val-fraction", vf);
            CheckFraction("--test-fraction", tf);
            if (vf + tf >= 1) throw new GpuLstmException(Inv($"--val-fraction {vf} and --test-fraction {tf} leave no train part (their sum must be below 1)"));
            bool diff = parse.GetValue(difference);
            var kind = parse.GetValue(scale) == "zscore" ? SeriesScalerKind.ZScore : SeriesScalerKind.MinMax;
            ulong sd = parse.GetValue(seed);

            string csvPath = parse.GetValue(csv)!, columnName = parse.GetValue(column)!;
            new FilePlan().Input("--csv", csvPath).Output("--checkpoint", checkpointPath).Check();
            var data = SeriesCsv.Load(csvPath, columnName, parse.GetValue(dateColumn));
            SeriesProblem problem;
            try
            {
                problem = new SeriesProblem(data.Values, diff, kind, n, k, vf, tf);
            }
            catch (GpuLstmException x)
            {
                throw new GpuLstmException($"series file '{csvPath}' has {data.Count} rows in column '{data.Column}'{(diff ? $" ({data.Count - 1} differences)" : "")}: {x.Message}");
            }
            var windows = problem.Windows;
            var testEnds = windows.Samples(SeriesPart.Test);
            var originalTestEnds = problem.OriginalEnds(testEnds);
            if (s > 0 && originalTestEnds.Length > 0 && originalTestEnds[0] < s)
                throw new GpuLstmException($"--season {s} needs {s} values before the first test forecast, which has only {originalTestEnds[0]}; use a smaller --season, a smaller --test-fraction, or --season 0");

            var config = new SeriesModelConfig(h, n, k, 1, l, parse.GetValue(bidirectional)) { Cell = RecurrentCell.Parse(parse.GetValue(cell)) };
            using var dev = ComputeDevice.Open(parse.GetValue(device)!);
            using var model = new SeriesModel(dev, config, b);
            model.InitializeKerasDefaults(sd);
            Console.WriteLine(Inv($"{data.Column}: {data.Count} values{(diff ? " (modeling first differences)" : "")}; train {windows.SampleCount(SeriesPart.Train)}, validation {windows.SampleCount(SeriesPart.Validation)}, test {windows.SampleCount(SeriesPart.Test)} samples (window {n}, horizon {k}); scaler {problem.Scaler}"));
            Console.WriteLine(Inv($"model: {l}×{(config.Bidirectional ? "bidirectional " : "")}{config.Cell.Name.ToUpperInvariant()}({h}) → Dense({k}), {model.Parameters.Count:N0} parameters on {dev.Description}"));

            var options = new SeriesTrainingOptions(e, b, rate, p, parse.GetValue(restoreBest), sd, clipNorm);
            using var signals = new CliRunner.StopSignals();
            var result = SeriesTrainer.Train(model, problem, options, epoch =>
            {
                if (epoch.Improved || (epoch.Epoch + 1) % pe == 0 || epoch.Epoch == 0)
                    Console.WriteLine(Inv($"epoch {epoch.Epoch + 1,4}/{e}  loss {epoch.TrainLoss:F6}") +
                        (epoch.ValLoss is double v ? Inv($"  val_loss {v:F6}") : "") + (epoch.Improved ? "  *" : ""));
            }, signals.Token);
            Console.WriteLine(Inv($"trained {result.EpochsRun} epochs ({result.Steps} steps) in {result.Elapsed.TotalSeconds:F1}s") +
                (result.End == SeriesTrainingEnd.EarlyStopped ? Inv($"; early stopping after epoch {result.EpochsRun}") : "") +
                (result.RestoredBest ? Inv($"; restored the weights of epoch {result.BestEpoch + 1} ({result.Monitor} {result.BestLoss:F6})") : ""));

            var metadata = new Dictionary<string, string>(StringComparer.Ordinal)
            {
                ["seed"] = sd.ToString(CultureInfo.InvariantCulture),
                ["epochs_trained"] = result.EpochsRun.ToString(CultureInfo.InvariantCulture),
                ["source"] = Path.GetFileName(csvPath),
            };
            if (testEnds.Length > 0)
            {
                var predicted = problem.ToOriginal(testEnds, SeriesTrainer.Predict(model, problem, testEnds));
                var actual = problem.OriginalTargets(testEnds);
                string modelName = (config.Bidirectional ? "bidirectional " : "") + config.Cell.Name.ToUpperInvariant();
                var rows = new List<(string Name, ForecastMetrics M)> { (modelName, ForecastMetrics.Compute(actual, predicted)) };
                rows.Add(("persistence", ForecastMetrics.Compute(actual, SeriesBaselines.Persistence(data.Values, originalTestEnds, k))));
                if (s > 0) rows.Add(($"seasonal naive ({s})", ForecastMetrics.Compute(actual, SeriesBaselines.SeasonalNaive(data.Values, originalTestEnds, k, s))));
                Console.WriteLine();
                Console.WriteLine(Inv($"test metrics in original units ({testEnds.Length} samples × horizon {k}):"));
                int width = rows.Max(r => r.Name.Length);
                Console.WriteLine(Inv($"{"".PadRight(width)}  {"RMSE",10}  {"MAE",10}  {"MAPE %",8}"));
                foreach (var (name, m) in rows)
                {
                    Console.WriteLine(Inv($"{name.PadRight(width)}  {m.Rmse,10:F3}  {m.Mae,10:F3}  {m.Mape,8:F2}"));
                    string key = name == modelName ? "test" : name == "persistence" ? "persistence" : "seasonal_naive";
                    metadata[$"{key}_rmse"] = m.Rmse.ToString("R", CultureInfo.InvariantCulture);
                    metadata[$"{key}_mae"] = m.Mae.ToString("R", CultureInfo.InvariantCulture);
                    metadata[$"{key}_mape"] = m.Mape.ToString("R", CultureInfo.InvariantCulture);
                }
            }
            else Console.WriteLine("no test part (--test-fraction 0): no test metrics");

            var info = new SeriesModelInfo(problem.Scaler, diff, data.Column, data.DateColumn, s, data.Values, data.Labels, data.Dates);
            SeriesCheckpoint.Save(checkpointPath, model, info, metadata);
            Console.WriteLine($"saved checkpoint: {checkpointPath}");
            if (result.End == SeriesTrainingEnd.Interrupted)
            {
                Console.Out.Flush();
                Console.Error.WriteLine($"gpulstm: interrupted by {signals.SignalName} after {result.EpochsRun} full epochs; saved the model to '{checkpointPath}'");
                return signals.ExitCode;
            }
            return 0;
        }));
        return command;
    }

    private static void CheckFraction(string option, double fraction)
    {
        if (!double.IsFinite(fraction) || fraction < 0 || fraction >= 1)
            throw new GpuLstmException(Inv($"{option} must be at least 0 and below 1, got {fraction}"));
    }

    private static Command CreatePredict()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "a checkpoint written by `gpulstm forecast train`", DefaultValueFactory = _ => DefaultCheckpoint };
        var steps = new Option<int>("--steps") { Description = "values to forecast past the end of the series", Required = true };
        var plot = new Option<string?>("--plot") { Description = "also draw the history and the forecast to this PNG" };
        var output = new Option<string?>("--output") { Description = "also write the forecast CSV to this file" };
        var device = new Option<string>("--device") { Description = "cpu, ilgpu-cpu, cuda, cuda:N, opencl, opencl:N, auto", DefaultValueFactory = _ => "cpu" };
        var command = new Command("predict", "Forecast N values past the end of the training series, feeding each forecast back as input; print CSV (step,label,value).")
        {
            checkpoint, steps, plot, output, device,
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
            new FilePlan().Input("--checkpoint", checkpointPath).Output("--output", outputPath).Output("--plot", plotPath).Check();
            var loaded = SeriesCheckpoint.Load(checkpointPath);
            var info = loaded.Info;
            using var dev = ComputeDevice.Open(parse.GetValue(device)!);
            using var model = loaded.CreateModel(dev, maxBatch: 1);
            var label = SeriesForecast.FutureLabeler(info.Dates, info.Labels[^1]);
            var kept = plotPath is null ? null : new double[n];
            using var signals = new CliRunner.StopSignals();
            using var cancel = CancellationTokenSource.CreateLinkedTokenSource(signals.Token, StandardOutput.Closed);
            using var files = new FileTransaction();
            long written = 0;
            void Forecast(Stream file)
            {
                using var csvFile = new StreamWriter(file, new UTF8Encoding(false), 1 << 16, leaveOpen: true);
                const string header = "step,label,value";
                Console.Out.Write(header + "\n");
                csvFile.Write(header + "\n");
                foreach (double value in SeriesTrainer.ForecastStream(model, info.Values, info.Difference, info.Scaler))
                {
                    if (cancel.IsCancellationRequested) break;
                    long step = written + 1;
                    string row = Inv($"{step},{CsvCell(label(step))},{value.ToString("R", CultureInfo.InvariantCulture)}\n");
                    Console.Out.Write(row);
                    csvFile.Write(row);
                    if (kept is not null) kept[written] = value;
                    if (++written == n) break;
                }
                StandardOutput.ThrowIfClosed();
                if (written < n) throw new OperationCanceledException(signals.Token);
            }
            try
            {
                if (outputPath is not null) files.Stage(outputPath, "forecast CSV", Forecast);
                else Forecast(Stream.Null);
                if (plotPath is not null) files.Stage(plotPath, "plot", s => s.Write(RenderPlot(info, kept!)));
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

    /// <summary>The most forecast steps a plot draws (a plot keeps every value in memory, and more points than pixels show nothing).</summary>
    public const int MaxPlotSteps = 1_000_000;

    private static string CsvCell(string s) =>
        s.IndexOfAny(new[] { ',', '"', '\n', '\r' }) >= 0 ? "\"" + s.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : s;

    /// <summary>History and forecast against the step index (dates when the series has them).</summary>
    private static byte[] RenderPlot(SeriesModelInfo info, double[] forecast)
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
