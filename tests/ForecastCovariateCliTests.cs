using System.Globalization;
using Xunit;

namespace GpuLstm.Tests;

/// <summary>Covariate models as the real executable runs them: probabilistic heads with covariates, and backtests with covariates.</summary>
public sealed class ForecastCovariateCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gpulstm-forecast-cov-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly string[] Fast = { "--hidden", "4", "--epochs", "3", "--window", "6", "--device", "cpu" };

    /// <summary>120 hourly rows from 2014-01-01: a load that follows the previous hour's temperature, and a wind direction.</summary>
    private string HourlyCsv()
    {
        var lines = new List<string> { "Date,Load,Dir,Temp" };
        for (int i = 0; i < 120; i++)
        {
            double temp = 20 + 5 * Math.Sin(i / 7.0);
            double load = 50 + 10 * Math.Sin(i / 4.0) + (i > 0 ? 20 + 5 * Math.Sin((i - 1) / 7.0) : 0);
            lines.Add(string.Create(CultureInfo.InvariantCulture, $"2014-01-{i / 24 + 1:00} {i % 24:00}:00:00,{load:F3},{(i % 3 == 0 ? "N" : "S")},{temp:F3}"));
        }
        string path = Path.Combine(_dir, "hourly.csv");
        File.WriteAllText(path, string.Join("\n", lines) + "\n");
        return path;
    }

    private static double[][] Rows(string stdout) => stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1)
        .Select(l => l.Split(',').Skip(2).Select(c => double.Parse(c, CultureInfo.InvariantCulture)).ToArray()).ToArray();

    /// <summary>
    /// A quantile model with past covariates trains (and reports its test coverage), and predict samples one
    /// direct block of its horizon: two rows with ordered quantiles, the same for the same seed, and a
    /// history whose last covariate cells differ gives other intervals. More steps than the horizon are refused.
    /// </summary>
    [Fact]
    public void AQuantileModelWithPastCovariatesSamplesOneBlockOfItsHorizon()
    {
        string csv = HourlyCsv();
        string ckpt = Path.Combine(_dir, "q.safetensors");
        var train = CliTests.Run(_dir, ["forecast", "train", "--csv", csv, "--column", "Load", "--date-column", "Date", "--covariates", "Dir,Temp",
            "--likelihood", "quantile", "--horizon", "2", "--checkpoint", ckpt, .. Fast]);
        Assert.True(train.ExitCode == 0, train.Stderr);
        Assert.Contains("test 80% interval [q0.1, q0.9]", train.Stdout);

        var a = CliTests.Run(_dir, "forecast", "predict", "--checkpoint", ckpt, "--steps", "2", "--samples", "50", "--csv", csv);
        var b = CliTests.Run(_dir, "forecast", "predict", "--checkpoint", ckpt, "--steps", "2", "--samples", "50", "--csv", csv);
        Assert.True(a.ExitCode == 0, a.Stderr);
        Assert.Equal(a.Stdout, b.Stdout);
        Assert.StartsWith("step,label,value,q0.1,q0.5,q0.9\n1,2014-01-06 00:00:00,", a.Stdout);
        var rows = Rows(a.Stdout);
        Assert.Equal(2, rows.Length);
        Assert.All(rows, r => Assert.True(r[1] <= r[2] && r[2] <= r[3], string.Join(",", r)));

        // The same values, with the last hour's temperature changed: the window reads it, so the intervals move.
        var lines = File.ReadAllLines(csv);
        var last = lines[^1].Split(',');
        last[3] = "35.000";
        lines[^1] = string.Join(',', last);
        string warmer = Path.Combine(_dir, "warmer.csv");
        File.WriteAllLines(warmer, lines);
        var c = CliTests.Run(_dir, "forecast", "predict", "--checkpoint", ckpt, "--steps", "2", "--samples", "50", "--csv", warmer);
        Assert.True(c.ExitCode == 0, c.Stderr);
        Assert.NotEqual(a.Stdout, c.Stdout);

        var more = CliTests.Run(_dir, "forecast", "predict", "--checkpoint", ckpt, "--steps", "3", "--samples", "50", "--csv", csv);
        Assert.Equal(1, more.ExitCode);
        Assert.Contains("forecasts at most its horizon (2) past the end", more.Stderr);
    }

    /// <summary>Calendar features are known ahead, so a Gaussian model with only them feeds its draws back past its horizon.</summary>
    [Fact]
    public void AGaussianCalendarModelSamplesPastItsHorizon()
    {
        string csv = HourlyCsv();
        string ckpt = Path.Combine(_dir, "g.safetensors");
        var train = CliTests.Run(_dir, ["forecast", "train", "--csv", csv, "--column", "Load", "--date-column", "Date", "--calendar",
            "--likelihood", "gaussian", "--checkpoint", ckpt, .. Fast]);
        Assert.True(train.ExitCode == 0, train.Stderr);
        var r = CliTests.Run(_dir, "forecast", "predict", "--checkpoint", ckpt, "--steps", "5", "--samples", "40");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var rows = Rows(r.Stdout);
        Assert.Equal(5, rows.Length);
        Assert.All(rows, row => Assert.True(row.All(double.IsFinite) && row[1] <= row[2]));
        Assert.Contains("\n5,2014-01-06 04:00:00,", r.Stdout);
    }

    /// <summary>A backtest with past covariates and a quantile head: h = --model-horizon, the table, the coverage, and the AR with covariates; another model horizon is one line.</summary>
    [Fact]
    public void BacktestWithCovariatesScoresTheModelTheArWithCovariatesAndTheIntervals()
    {
        string csv = HourlyCsv();
        string output = Path.Combine(_dir, "bt.csv");
        var r = CliTests.Run(_dir, ["forecast", "backtest", "--csv", csv, "--column", "Load", "--date-column", "Date", "--covariates", "Dir,Temp",
            "--likelihood", "quantile", "--origins", "4", "--horizon", "2", "--model-horizon", "2", "--samples", "30", "--ar-order", "3", "--output", output, .. Fast]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("AR(3) with covariates", r.Stdout);
        Assert.Contains("intervals from 30 sample paths per origin", r.Stdout);
        var lines = File.ReadAllLines(output);
        Assert.Equal("origin,step,date,actual,model,q0.1,q0.5,q0.9,persistence,ar", lines[0]);
        Assert.Equal(1 + 4 * 2, lines.Length);

        // Dir known ahead instead: the model recurses in blocks of 1 over h = 2, reading Dir of its target rows.
        var future = CliTests.Run(_dir, ["forecast", "backtest", "--csv", csv, "--column", "Load", "--date-column", "Date", "--covariates", "Temp",
            "--future-covariates", "Dir", "--origins", "3", "--horizon", "2", "--model-horizon", "2", "--ar-order", "3", .. Fast]);
        Assert.True(future.ExitCode == 0, future.Stderr);
        Assert.Contains("AR(3) with covariates", future.Stdout);

        var refused = CliTests.Run(_dir, ["forecast", "backtest", "--csv", csv, "--column", "Load", "--covariates", "Dir,Temp", "--horizon", "2", "--output", output, .. Fast]);
        Assert.Equal(1, refused.ExitCode);
        Assert.Equal("gpulstm: error: a backtest with --covariates needs --model-horizon equal to --horizon (2), got 1: past covariates after an origin are unknown, so the model must forecast all h steps directly", refused.Stderr.Trim());
        Assert.Equal("", refused.Stdout);
        Assert.Equal(lines, File.ReadAllLines(output));   // the refused run left the earlier output alone
    }

    /// <summary>
    /// A calendar model recurses through dates, and there are none past 9999-12-31: a forecast that gets there stops
    /// with one line (point and sampled paths alike) instead of crashing.
    /// </summary>
    [Fact]
    public void ACalendarForecastPastTheYear9999StopsWithOneLine()
    {
        string csv = Path.Combine(_dir, "late.csv");
        File.WriteAllText(csv, "Year,Value\n" + string.Concat(Enumerable.Range(9940, 50).Select(y => string.Create(CultureInfo.InvariantCulture, $"{y},{10 + (y % 7)}\n"))));
        foreach (string likelihood in new[] { "point", "quantile" })
        {
            string checkpoint = Path.Combine(_dir, $"late-{likelihood}.safetensors");
            var train = CliTests.Run(_dir, ["forecast", "train", "--csv", csv, "--column", "Value", "--date-column", "Year", "--calendar", "--likelihood", likelihood,
                "--checkpoint", checkpoint, .. Fast]);
            Assert.True(train.ExitCode == 0, train.Stderr);
            string[] samples = likelihood == "point" ? [] : ["--samples", "5"];
            var r = CliTests.Run(_dir, ["forecast", "predict", "--checkpoint", checkpoint, "--steps", "20", "--csv", csv, .. samples]);
            Assert.Equal(1, r.ExitCode);
            Assert.Equal("gpulstm: error: the forecast reaches past the year 9999, whose dates its calendar features need; ask for fewer steps", r.Stderr.Trim());
        }
    }
}
