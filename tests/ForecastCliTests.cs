using System.Globalization;
using System.Security.Cryptography;
using Xunit;

namespace GpuLstm.Tests;

/// <summary>`gpulstm forecast train` and `gpulstm forecast predict` as the real executable in a child process.</summary>
public sealed class ForecastCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gpulstm-forecast-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, string text)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    /// <summary>Monthly rows from 2000-01: a yearly sine on a slow trend, with a second, unused column.</summary>
    private string SeasonalCsv(int rows = 96, string name = "seasonal.csv")
    {
        var lines = new List<string> { "Month,Other,Value" };
        for (int i = 0; i < rows; i++)
        {
            double v = 20 + 5 * Math.Sin(2 * Math.PI * i / 12) + 0.1 * i;
            lines.Add(string.Create(CultureInfo.InvariantCulture, $"{2000 + i / 12}-{i % 12 + 1:00},x,{v:F3}"));
        }
        return Write(name, string.Join("\n", lines) + "\n");
    }

    private static readonly string[] Fast = { "--hidden", "4", "--epochs", "3", "--window", "6", "--device", "cpu" };

    private static void AssertOneLineError(CliTests.Result r, string expectedFragment, int exitCode = 1)
    {
        Assert.Equal(exitCode, r.ExitCode);
        var lines = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, "expected one line on stderr, got:\n" + r.Stderr);
        Assert.StartsWith("gpulstm: error: ", lines[0]);
        Assert.Contains(expectedFragment, lines[0]);
        Assert.DoesNotContain("   at ", r.Stderr + r.Stdout);
    }

    private static string Snapshot(string dir) => DirectorySnapshot.Of(dir);

    /// <summary>
    /// A model with a numeric and a categorical covariate and calendar features trains, keeps its spec, and
    /// predict rebuilds the same features from --csv: the forecast from the training CSV equals the one from a
    /// copy with the row order shuffled (the date sorts it), and a newer history gives another forecast.
    /// </summary>
    [Fact]
    public void CovariateModelTrainsAndPredictsFromACsv()
    {
        var rows = new List<string>();
        for (int i = 0; i < 80; i++)
            rows.Add(string.Create(CultureInfo.InvariantCulture,
                $"2014-01-{i / 24 + 1:00} {i % 24:00}:00:00,{50 + 10 * Math.Sin(i / 4.0):F3},{(i % 2 == 0 ? "N" : "S")},{20 + i % 5}"));
        string csv = Write("hourly.csv", "Date,Load,Dir,Temp\n" + string.Join("\n", rows) + "\n");
        string shuffled = Write("shuffled.csv", "Date,Load,Dir,Temp\n" + string.Join("\n", rows.AsEnumerable().Reverse()) + "\n");
        string newer = Write("newer.csv", "Date,Load,Dir,Temp\n" + string.Join("\n", rows.Take(70)) + "\n");
        string ckpt = Path.Combine(_dir, "cov.safetensors");
        var train = CliTests.Run(_dir, ["forecast", "train", "--csv", csv, "--column", "Load", "--date-column", "Date", "--covariates", "Dir,Temp",
            "--calendar", "--horizon", "2", "--checkpoint", ckpt, .. Fast]);
        Assert.True(train.ExitCode == 0, train.Stderr);
        var (meta, tensors) = GpuLstm.Runtime.Checkpoints.SafeTensors.Read(ckpt);
        Assert.Equal("10", meta["features"]);   // target, Dir one-hot (N, S), Temp, six calendar values
        Assert.Equal(new[] { 4 * 4, 10 }, tensors["lstm.weight_ih_l0"].Shape);
        Assert.Contains("\"calendar\":true", meta["covariates"]);

        var a = CliTests.Run(_dir, "forecast", "predict", "--checkpoint", ckpt, "--steps", "2", "--csv", csv);
        var b = CliTests.Run(_dir, "forecast", "predict", "--checkpoint", ckpt, "--steps", "2", "--csv", shuffled);
        var c = CliTests.Run(_dir, "forecast", "predict", "--checkpoint", ckpt, "--steps", "2", "--csv", newer);
        Assert.True(a.ExitCode == 0 && b.ExitCode == 0 && c.ExitCode == 0, a.Stderr + b.Stderr + c.Stderr);
        var lines = a.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["step,label,value", "1,2014-01-04 08:00:00", "2,2014-01-04 09:00:00"], lines.Select(l => string.Join(',', l.Split(',').Take(l.StartsWith("step", StringComparison.Ordinal) ? 3 : 2))));
        Assert.Equal(a.Stdout, b.Stdout);
        Assert.Contains("1,2014-01-03 22:00:00,", c.Stdout);   // the newer history ends 10 hours earlier
        AssertOneLineError(CliTests.Run(_dir, "forecast", "predict", "--checkpoint", ckpt, "--steps", "3", "--csv", csv), "at most its horizon (2) past the end");
    }

    /// <summary>
    /// Calendar features are known ahead: a --calendar model forecasts recursively past its horizon from the
    /// series the checkpoint keeps, dated by the series' interval.
    /// </summary>
    [Fact]
    public void CalendarModelForecastsPastItsHorizon()
    {
        string csv = SeasonalCsv();
        string ckpt = Path.Combine(_dir, "calendar.safetensors");
        var train = CliTests.Run(_dir, ["forecast", "train", "--csv", csv, "--column", "Value", "--date-column", "Month", "--calendar", "--checkpoint", ckpt, .. Fast]);
        Assert.True(train.ExitCode == 0, train.Stderr);
        Assert.Equal("7", GpuLstm.Runtime.Checkpoints.SafeTensors.Read(ckpt).Metadata["features"]);
        var r = CliTests.Run(_dir, "forecast", "predict", "--checkpoint", ckpt, "--steps", "5");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var lines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(6, lines.Length);
        Assert.StartsWith("5,2008-05,", lines[5]);
        var values = lines.Skip(1).Select(l => double.Parse(l.Split(',')[2], CultureInfo.InvariantCulture)).ToArray();
        Assert.All(values, v => Assert.True(double.IsFinite(v)));
        Assert.True(values.Distinct().Count() > 1, "the recursion should move");
    }

    /// <summary>A bidirectional GRU series model: PyTorch's nn.GRU names with _reverse in the checkpoint, and predict reads it back.</summary>
    [Fact]
    public void GruBidirectionalTrainsSavesNnGruNamesAndPredicts()
    {
        string csv = SeasonalCsv();
        string ckpt = Path.Combine(_dir, "gru.safetensors");
        var train = CliTests.Run(_dir, ["forecast", "train", "--csv", csv, "--column", "Value", "--cell", "gru", "--bidirectional", "--layers", "2",
            "--checkpoint", ckpt, .. Fast]);
        Assert.True(train.ExitCode == 0, train.Stderr);
        Assert.Contains(train.Stdout.Split('\n'), line => line.StartsWith("bidirectional GRU", StringComparison.Ordinal));
        var (meta, tensors) = GpuLstm.Runtime.Checkpoints.SafeTensors.Read(ckpt);
        Assert.Equal("gru", meta["cell"]);
        Assert.Equal(new[] { 3 * 4, 1 }, tensors["gru.weight_ih_l0_reverse"].Shape);
        Assert.Equal(new[] { 3 * 4, 2 * 4 }, tensors["gru.weight_ih_l1"].Shape);
        Assert.Contains(tensors["gru.bias_hh_l1_reverse"].Data, x => x != 0); // the GRU's own b_hh, trained
        Assert.DoesNotContain(tensors.Keys, k => k.StartsWith("lstm.", StringComparison.Ordinal));
        var predict = CliTests.Run(_dir, "forecast", "predict", "--checkpoint", ckpt, "--steps", "4");
        Assert.True(predict.ExitCode == 0, predict.Stderr);
        Assert.Equal(5, predict.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
    }

    [Fact]
    public void TrainPrintsMetricsBesideBaselinesThenPredictWritesCsvAndPng()
    {
        string csv = SeasonalCsv();
        string ckpt = Path.Combine(_dir, "out", "m.safetensors");
        Directory.CreateDirectory(Path.GetDirectoryName(ckpt)!);
        var train = CliTests.Run(_dir, ["forecast", "train", "--csv", csv, "--column", "Value", "--date-column", "Month", "--season", "12",
            "--checkpoint", ckpt, .. Fast]);
        Assert.True(train.ExitCode == 0, train.Stderr);
        Assert.Contains("epoch    1/3", train.Stdout);
        Assert.Contains("test metrics in original units", train.Stdout);
        foreach (var row in new[] { "LSTM", "persistence", "seasonal naive (12)" })
            Assert.Contains(train.Stdout.Split('\n'), line => line.StartsWith(row, StringComparison.Ordinal) && line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length >= 4);
        Assert.True(File.Exists(ckpt));
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(ckpt)!, "*.tmp-*"));

        string png = Path.Combine(_dir, "f.png"), output = Path.Combine(_dir, "f.csv");
        var predict = CliTests.Run(_dir, "forecast", "predict", "--checkpoint", ckpt, "--steps", "7", "--plot", png, "--output", output);
        Assert.True(predict.ExitCode == 0, predict.Stderr);
        var lines = predict.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(8, lines.Length);
        Assert.Equal("step,label,value", lines[0]);
        Assert.StartsWith("1,2008-01,", lines[1]);
        Assert.StartsWith("7,2008-07,", lines[7]);
        foreach (var line in lines.Skip(1))
            Assert.True(double.TryParse(line.Split(',')[2], NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && double.IsFinite(v), line);
        Assert.Equal(predict.Stdout, File.ReadAllText(output));
        var header = File.ReadAllBytes(png)[..8];
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }, header);

        // Deterministic: the same checkpoint forecasts the same values.
        var again = CliTests.Run(_dir, "forecast", "predict", "--checkpoint", ckpt, "--steps", "7");
        Assert.Equal(predict.Stdout, again.Stdout);
    }

    [Fact]
    public void HorizonBidirectionalAndDifferencingTrainAndPredictWithoutDates()
    {
        string csv = Write("plain.csv", "y\n" + string.Join("\n", Enumerable.Range(0, 60).Select(i => (i * 0.5 + Math.Sin(i)).ToString("R", CultureInfo.InvariantCulture))) + "\n");
        string ckpt = Path.Combine(_dir, "h3.safetensors");
        var train = CliTests.Run(_dir, ["forecast", "train", "--csv", csv, "--column", "y", "--horizon", "3", "--bidirectional", "--layers", "2",
            "--difference", "--scale", "zscore", "--checkpoint", ckpt, .. Fast]);
        Assert.True(train.ExitCode == 0, train.Stderr);
        Assert.Contains("horizon 3", train.Stdout);
        Assert.DoesNotContain("seasonal naive", train.Stdout);
        var predict = CliTests.Run(_dir, "forecast", "predict", "--checkpoint", ckpt, "--steps", "5");
        Assert.True(predict.ExitCode == 0, predict.Stderr);
        var lines = predict.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(6, lines.Length);
        Assert.StartsWith("1,+1,", lines[1]);
        Assert.StartsWith("5,+5,", lines[5]);
    }

    [Fact]
    public void BadCsvIsOneLineNamingTheRowOrColumnAndCreatesNoCheckpoint()
    {
        string ckpt = Path.Combine(_dir, "never.safetensors");
        string good = SeasonalCsv();
        string[] common = ["--checkpoint", ckpt, .. Fast];
        string bad = Write("bad.csv", File.ReadAllText(good).Replace("2000-03,x,", "2000-03,x,abc", StringComparison.Ordinal));
        string empty = Write("empty.csv", "");
        string headerOnly = Write("header.csv", "Value\n");
        string shortCsv = Write("short.csv", "Value\n1\n2\n3\n4\n5\n");
        var before = Snapshot(_dir);
        AssertOneLineError(CliTests.Run(_dir, ["forecast", "train", "--csv", good, "--column", "Passengers", .. common]), "no value column 'Passengers'");
        AssertOneLineError(CliTests.Run(_dir, ["forecast", "train", "--csv", Path.Combine(_dir, "missing.csv"), "--column", "Value", .. common]), "not found");
        AssertOneLineError(CliTests.Run(_dir, ["forecast", "train", "--csv", bad, "--column", "Value", .. common]), "line 4, column 'Value'");
        AssertOneLineError(CliTests.Run(_dir, ["forecast", "train", "--csv", empty, "--column", "Value", .. common]), "is empty");
        AssertOneLineError(CliTests.Run(_dir, ["forecast", "train", "--csv", headerOnly, "--column", "Value", .. common]), "no data rows");
        AssertOneLineError(CliTests.Run(_dir, ["forecast", "train", "--csv", shortCsv, "--column", "Value", .. common]), "has 5 rows in column 'Value'");
        AssertOneLineError(CliTests.Run(_dir, ["forecast", "train", "--csv", good, "--column", "Value", "--date-column", "Other", .. common]), "is not a date");
        Assert.Equal(before, Snapshot(_dir));
        Assert.False(File.Exists(ckpt));
    }

    [Fact]
    public void BadOptionsAreOneLine()
    {
        string csv = SeasonalCsv();
        string ckpt = Write("keep.safetensors", "existing bytes");
        string[] common = ["--csv", csv, "--column", "Value", "--checkpoint", ckpt, "--device", "cpu", "--epochs", "1", "--hidden", "2"];
        var before = Snapshot(_dir);
        AssertOneLineError(CliTests.Run(_dir, ["forecast", "train", .. common, "--window", "0"]), "--window must be a positive integer, got 0");
        AssertOneLineError(CliTests.Run(_dir, ["forecast", "train", .. common, "--horizon", "0"]), "--horizon must be a positive integer, got 0");
        AssertOneLineError(CliTests.Run(_dir, ["forecast", "train", .. common, "--val-fraction", "0.5", "--test-fraction", "0.5"]), "leave no train part");
        AssertOneLineError(CliTests.Run(_dir, ["forecast", "train", .. common, "--test-fraction", "1"]), "--test-fraction must be at least 0 and below 1");
        AssertOneLineError(CliTests.Run(_dir, ["forecast", "train", .. common, "--season", "90"]), "--season: a season of 90 needs 90 values before the first test forecast");
        AssertOneLineError(CliTests.Run(_dir, ["forecast", "train", .. common, "--lr", "0"]), "--lr must be a positive number");
        AssertOneLineError(CliTests.Run(_dir, ["forecast", "train", .. common, "--scale", "log"]), "log", exitCode: 2);
        AssertOneLineError(CliTests.Run(_dir, ["forecast", "train", .. common, "--cell", "peephole"]), "peephole", exitCode: 2);
        AssertOneLineError(CliTests.Run(_dir, "forecast", "train", "--csv", csv), "--column", exitCode: 2);
        AssertOneLineError(CliTests.Run(_dir, "forecast", "predict", "--checkpoint", ckpt, "--steps", "0"), "--steps must be a positive integer, got 0");
        AssertOneLineError(CliTests.Run(_dir, "forecast", "predict", "--checkpoint", ckpt, "--steps", "-3"), "--steps must be a positive integer, got -3");
        AssertOneLineError(CliTests.Run(_dir, "forecast", "predict", "--checkpoint", Path.Combine(_dir, "nope.safetensors"), "--steps", "3"), "not found");
        AssertOneLineError(CliTests.Run(_dir, "forecast", "predict", "--checkpoint", ckpt, "--steps", "3"), "keep.safetensors");
        Assert.Equal(before, Snapshot(_dir));
    }

    [Fact]
    public void PredictRejectsDamagedAndTextCheckpoints()
    {
        string ckpt = Path.Combine(_dir, "m.safetensors");
        var train = CliTests.Run(_dir, ["forecast", "train", "--csv", SeasonalCsv(), "--column", "Value", "--checkpoint", ckpt, .. Fast]);
        Assert.True(train.ExitCode == 0, train.Stderr);
        var bytes = File.ReadAllBytes(ckpt);
        string cut = Path.Combine(_dir, "cut.safetensors");
        File.WriteAllBytes(cut, bytes[..(bytes.Length / 2)]);
        AssertOneLineError(CliTests.Run(_dir, "forecast", "predict", "--checkpoint", cut, "--steps", "2"), "truncated");

        string text = Path.Combine(_dir, "text.safetensors");
        var textTrain = CliTests.Run(_dir, "train", "--hidden", "4", "--epochs", "1", "--sample-length", "0", "--checkpoint", text, "--device", "cpu");
        Assert.True(textTrain.ExitCode == 0, textTrain.Stderr);
        AssertOneLineError(CliTests.Run(_dir, "forecast", "predict", "--checkpoint", text, "--steps", "2"), "is a text model");
    }

    [Fact]
    public async Task InterruptStopsAtAStepBoundarySavesAndExits130ForSigint()
    {
        string ckpt = Path.Combine(_dir, "int.safetensors");
        using var p = CliTests.Start(_dir, "forecast", "train", "--csv", SeasonalCsv(), "--column", "Value", "--hidden", "4", "--window", "6",
            "--epochs", "1000000", "--patience", "1000000", "--print-every", "1", "--device", "cpu", "--checkpoint", ckpt);
        var stderr = p.StandardError.ReadToEndAsync();
        string? line;
        while ((line = p.StandardOutput.ReadLine()) is not null && !line.StartsWith("epoch    2", StringComparison.Ordinal)) { }
        Assert.NotNull(line);
        using (var kill = System.Diagnostics.Process.Start("kill", ["-INT", p.Id.ToString(CultureInfo.InvariantCulture)])) kill.WaitForExit();
        string rest = p.StandardOutput.ReadToEnd();
        Assert.True(p.WaitForExit(TimeSpan.FromMinutes(2)));
        Assert.Equal(130, p.ExitCode);
        Assert.Contains("saved checkpoint", rest);
        Assert.Contains("interrupted", await stderr);
        Assert.True(File.Exists(ckpt));
        var predict = CliTests.Run(_dir, "forecast", "predict", "--checkpoint", ckpt, "--steps", "2");
        Assert.True(predict.ExitCode == 0, predict.Stderr);
    }

    /// <summary>The README's done-when runs: on the shared data the LSTM beats naive persistence on test RMSE.</summary>
    [Theory]
    [InlineData("airline-passengers.csv", "Passengers", "Month", "12", "--difference")]
    [InlineData("daily-min-temperatures.csv", "Temp", "Date", "365", null)]
    public void BeatsPersistenceOnTheSharedSeries(string file, string column, string date, string season, string? extra)
    {
        string ckpt = Path.Combine(_dir, "real.safetensors");
        string[] args = ["forecast", "train", "--csv", Path.Combine(SharedData.Directory, file), "--column", column, "--date-column", date,
            "--season", season, "--device", "cpu", "--checkpoint", ckpt, .. extra is null ? Array.Empty<string>() : new[] { extra }];
        var r = CliTests.Run(_dir, args);
        Assert.True(r.ExitCode == 0, r.Stderr);
        double Rmse(string row) => double.Parse(r.Stdout.Split('\n').Single(l => l.StartsWith(row, StringComparison.Ordinal))
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)[row.Split(' ').Length], CultureInfo.InvariantCulture);
        Assert.True(Rmse("LSTM") < Rmse("persistence"), r.Stdout);
    }

    /// <summary>
    /// `forecast backtest --refit` on 48 months, 3 origins every 2 steps, horizon 4: the CSV has one row per origin
    /// and step with the target's date, the actual value and every forecaster, and the table reports each of them.
    /// </summary>
    [Fact]
    public void BacktestWithRefitWritesEveryOriginsForecastsAndTheTable()
    {
        string csv = SeasonalCsv(rows: 48);
        string output = Path.Combine(_dir, "backtest.csv");
        var r = CliTests.Run(_dir, ["forecast", "backtest", "--csv", csv, "--column", "Value", "--date-column", "Month", "--season", "12",
            "--origins", "3", "--stride", "2", "--horizon", "4", "--refit", "--ar-order", "3", "--output", output, .. Fast]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Equal(3, r.Stdout.Split('\n').Count(line => line.StartsWith("trained on the ", StringComparison.Ordinal)));
        foreach (string name in new[] { "LSTM", "persistence", "seasonal naive (12)", "AR(3)" })
            Assert.Contains(r.Stdout.Split('\n'), line => line.StartsWith(name + " ", StringComparison.Ordinal));
        Assert.Matches(@"the LSTM (loses to|beats) the linear AR\(3\)", r.Stdout);

        var values = File.ReadAllLines(csv).Skip(1).Select(l => l.Split(',')[2]).ToArray();
        var rows = File.ReadAllLines(output);
        Assert.Equal("origin,step,date,actual,model,persistence,seasonal_naive,ar", rows[0]);
        Assert.Equal(1 + 3 * 4, rows.Length);
        int[] origins = [40, 42, 44];   // 48 − 4 − (3 − 1 − i) · 2; the last ends at the 48th value
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 4; j++)
            {
                var cells = rows[1 + i * 4 + j].Split(',');
                int target = origins[i] + j;
                Assert.Equal(origins[i].ToString(CultureInfo.InvariantCulture), cells[0]);
                Assert.Equal((j + 1).ToString(CultureInfo.InvariantCulture), cells[1]);
                Assert.Equal($"{2000 + target / 12}-{target % 12 + 1:00}", cells[2]);
                Assert.Equal(double.Parse(values[target], CultureInfo.InvariantCulture), double.Parse(cells[3], CultureInfo.InvariantCulture), 9);
                Assert.Equal(double.Parse(values[origins[i] - 1], CultureInfo.InvariantCulture), double.Parse(cells[5], CultureInfo.InvariantCulture), 9);
                Assert.Equal(double.Parse(values[target - 12], CultureInfo.InvariantCulture), double.Parse(cells[6], CultureInfo.InvariantCulture), 9);
                Assert.True(double.IsFinite(double.Parse(cells[4], CultureInfo.InvariantCulture)));
                Assert.True(double.IsFinite(double.Parse(cells[7], CultureInfo.InvariantCulture)));
            }
        Assert.Empty(Directory.GetFiles(_dir, "*.safetensors"));   // the backtest's models live in a temporary directory
    }

    /// <summary>
    /// `forecast backtest --likelihood quantile` on 48 months, 3 origins, horizon 4: the CSV carries q0.1, q0.5, q0.9
    /// after the model column, in order, and the printed coverage is the share of actual values the CSV's
    /// [q0.1, q0.9] holds; the same seed writes the same CSV again.
    /// </summary>
    [Fact]
    public void BacktestOfAQuantileModelWritesItsQuantilesAndScoresTheirCoverageDeterministically()
    {
        string csv = SeasonalCsv(rows: 48);
        string[] Args(string output) => ["forecast", "backtest", "--csv", csv, "--column", "Value", "--date-column", "Month", "--season", "12",
            "--origins", "3", "--horizon", "4", "--likelihood", "quantile", "--quantiles", "0.1,0.5,0.9", "--samples", "40", "--output", output, .. Fast];
        string first = Path.Combine(_dir, "first.csv"), second = Path.Combine(_dir, "second.csv");
        var r = CliTests.Run(_dir, Args(first));
        Assert.True(r.ExitCode == 0, r.Stderr);
        var rows = File.ReadAllLines(first);
        Assert.Equal("origin,step,date,actual,model,q0.1,q0.5,q0.9,persistence,seasonal_naive,ar", rows[0]);
        Assert.Equal(1 + 3 * 4, rows.Length);
        int inside = 0;
        foreach (var row in rows.Skip(1))
        {
            var cells = row.Split(',').Select(c => double.TryParse(c, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) ? v : double.NaN).ToArray();
            double actual = cells[3], low = cells[5], median = cells[6], high = cells[7];
            Assert.True(low <= median && median <= high, row);
            Assert.True(high > low, row);   // 40 paths drawn from a fitted spread are not all equal
            if (actual >= low && actual <= high) inside++;
        }
        var all = r.Stdout.Split('\n').Single(l => l.TrimStart().StartsWith("all ", StringComparison.Ordinal) && l.Contains('/', StringComparison.Ordinal));
        Assert.Contains($"{inside}/12", all, StringComparison.Ordinal);
        Assert.Contains("80% interval [q0.1, q0.9]", r.Stdout, StringComparison.Ordinal);

        var again = CliTests.Run(_dir, Args(second));
        Assert.True(again.ExitCode == 0, again.Stderr);
        Assert.Equal(File.ReadAllText(first), File.ReadAllText(second));
    }

    /// <summary>A gaussian head's backtest reports its 10% and 90% quantiles; a point backtest keeps today's columns and prints no intervals.</summary>
    [Fact]
    public void BacktestOfAGaussianModelWritesItsTwoQuantilesAndAPointOneNone()
    {
        string csv = SeasonalCsv(rows: 48);
        string gaussian = Path.Combine(_dir, "gaussian.csv"), point = Path.Combine(_dir, "point.csv");
        var r = CliTests.Run(_dir, ["forecast", "backtest", "--csv", csv, "--column", "Value", "--origins", "2", "--horizon", "2",
            "--likelihood", "gaussian", "--samples", "20", "--output", gaussian, .. Fast]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Equal("origin,step,actual,model,q0.1,q0.9,persistence,ar", File.ReadLines(gaussian).First());
        var p = CliTests.Run(_dir, ["forecast", "backtest", "--csv", csv, "--column", "Value", "--origins", "2", "--horizon", "2", "--output", point, .. Fast]);
        Assert.True(p.ExitCode == 0, p.Stderr);
        Assert.Equal("origin,step,actual,model,persistence,ar", File.ReadLines(point).First());
        Assert.DoesNotContain("interval", p.Stdout, StringComparison.Ordinal);
    }
}
