using System.Globalization;
using GpuLstm.Runtime.Checkpoints;
using GpuLstm.Runtime.Series;
using Xunit;

namespace GpuLstm.Tests;

/// <summary>--future-covariates: the window layout (shifted by the horizon), the CSV's rows after the last value, and predict reading them.</summary>
public sealed class SeriesFutureCovariateTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gpulstm-future-cov-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string[] Labels(int n) => Enumerable.Range(1, n).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToArray();

    /// <summary>
    /// Window N = 3, horizon k = 2, a past column P and a future column F, both holding their original row
    /// index: step t of the sample ending at e reads P of row e − 3 + t and F of row e − 3 + t + 2, so the last
    /// two steps carry F of the target rows e and e + 1. Layout [target, P, F] (past first, then future).
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void EachStepCarriesTheFutureCovariatesOfTheRowKLater(bool difference)
    {
        int n = 30;
        var original = Enumerable.Range(0, n).Select(i => Math.Sqrt(i) * 7).ToArray();
        CovariateColumn Index(string name) => new(name, Enumerable.Range(0, n).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToArray());
        var problem = new SeriesProblem(original, difference, SeriesScalerKind.MinMax, window: 3, horizon: 2, 0, 0.2,
            new SeriesCovariateSource([Index("P"), Index("F")], null, false, Labels(n)) { FutureCount = 1 });
        Assert.Equal(3, problem.InputWidth);
        Assert.Equal((1, 1, 1), (problem.Covariates.PastWidth, problem.Covariates.FutureWidth, problem.Covariates.PastColumnCount));
        Assert.True(problem.Covariates.Columns[1].Future && !problem.Covariates.Columns[0].Future);
        var (p, f) = (problem.Covariates.Columns[0].Scaler!, problem.Covariates.Columns[1].Scaler!);
        int shift = difference ? 1 : 0;
        int[] ends = [3, 9, problem.Windows.Samples(SeriesPart.Test)[^1]];
        var inputs = new float[3 * ends.Length * 3];
        var targets = new float[ends.Length * 2];
        problem.FillBatch(ends, inputs, targets);
        for (int b = 0; b < ends.Length; b++)
            for (int t = 0; t < 3; t++)
            {
                int row = ends[b] - 3 + t, at = (t * ends.Length + b) * 3;
                Assert.Equal((float)problem.Scaled[row], inputs[at]);
                Assert.Equal((float)p.Transform(row + shift), inputs[at + 1]);
                Assert.Equal((float)f.Transform(row + 2 + shift), inputs[at + 2]);
            }
        // The last sample's last step reads the series' last row: nothing past the data.
        Assert.Equal(n - 1, ends[^1] - 3 + 2 + 2 + shift);
    }

    /// <summary>Rows after the last value may leave it empty when asked (they carry future covariates); an empty value before the last is refused.</summary>
    [Fact]
    public void TheCsvSplitsOffRowsAfterTheLastValue()
    {
        string path = Path.Combine(_dir, "f.csv");
        File.WriteAllText(path, "Date,y,hol\n2010-01-04,,1\n2010-01-02,2,0\n2010-01-01,1,0\n2010-01-03,,0\n");
        var data = SeriesCsv.Load(path, "y", "Date", ["hol"], futureRows: true);
        Assert.Equal([1.0, 2.0], data.Values);
        Assert.Equal(["0", "0"], data.Covariates[0].Cells);
        Assert.Equal(["2010-01-03", "2010-01-04"], data.Future!.Labels);
        Assert.Equal(["0", "1"], data.Future.Covariates[0].Cells);
        Assert.Contains("the cell is empty; expected a number", Assert.Throws<GpuLstmException>(() => SeriesCsv.Load(path, "y", "Date", ["hol"])).Message);

        File.WriteAllText(path, "Date,y,hol\n2010-01-01,1,0\n2010-01-02,,0\n2010-01-03,3,1\n");
        Assert.Contains("row 2010-01-02, column 'y': the cell is empty before the last value",
            Assert.Throws<GpuLstmException>(() => SeriesCsv.Load(path, "y", "Date", ["hol"], futureRows: true)).Message);
    }

    /// <summary>
    /// The load jumps by 30 in holiday hours. With the holiday flag as a future covariate the LSTM learns it (it
    /// beats the same LSTM without); predict reads the flags of the rows after the last value and forecasts the
    /// jump; a missing row or an empty flag is one line; the checkpoint marks the column as future.
    /// </summary>
    [Fact]
    public void PredictReadsTheFutureRowsAndRefusesMissingOnes()
    {
        var lines = new List<string> { "date,load,hol" };
        for (int i = 0; i < 300; i++)
        {
            int hol = i % 11 == 3 ? 1 : 0;
            lines.Add(string.Create(CultureInfo.InvariantCulture, $"2014-01-{i / 24 + 1:00} {i % 24:00}:00:00,{50 + 10 * Math.Sin(i / 4.0) + 30 * hol:F3},{hol}"));
        }
        string csv = Path.Combine(_dir, "h.csv");
        File.WriteAllLines(csv, lines);
        string ckpt = Path.Combine(_dir, "f.safetensors");
        string[] fast = ["--window", "6", "--hidden", "8", "--epochs", "60", "--device", "cpu"];
        var train = CliTests.Run(_dir, ["forecast", "train", "--csv", csv, "--column", "load", "--date-column", "date", "--future-covariates", "hol", "--checkpoint", ckpt, .. fast]);
        Assert.True(train.ExitCode == 0, train.Stderr);
        var without = CliTests.Run(_dir, ["forecast", "train", "--csv", csv, "--column", "load", "--date-column", "date", "--checkpoint", Path.Combine(_dir, "n.safetensors"), .. fast]);
        Assert.True(without.ExitCode == 0, without.Stderr);
        Assert.True(LstmRmse(train.Stdout) < LstmRmse(without.Stdout) / 2, train.Stdout + without.Stdout);
        Assert.Contains("\"future\":true", SafeTensors.Read(ckpt).Metadata["covariates"]);

        // History up to row 285 (2014-01-12 21:00), then rows 286..289 with the load empty; row 289 (289 % 11 = 3) is a holiday.
        int holiday = Enumerable.Range(286, 4).Single(i => i % 11 == 3);
        string Future(int i) => string.Join(',', lines[i + 1].Split(',') is var c ? new[] { c[0], "", c[2] } : []);
        string history = Path.Combine(_dir, "history.csv");
        File.WriteAllLines(history, [.. lines.Take(287), .. Enumerable.Range(286, 4).Select(Future)]);
        var r = CliTests.Run(_dir, "forecast", "predict", "--checkpoint", ckpt, "--csv", history, "--steps", "4");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var values = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(l => double.Parse(l.Split(',')[2], CultureInfo.InvariantCulture)).ToArray();
        Assert.Equal(4, values.Length);
        Assert.Equal(values.Max(), values[holiday - 286]);   // the holiday hour forecasts the jump
        Assert.StartsWith("step,label,value\n1,2014-01-12 22:00:00,", r.Stdout);

        var more = CliTests.Run(_dir, "forecast", "predict", "--checkpoint", ckpt, "--csv", history, "--steps", "5");
        Assert.Equal(1, more.ExitCode);
        Assert.Equal("gpulstm: error: missing future covariates: the forecast reads hol in the 5 rows after the last value, but --csv gives 4; the first missing row is 2014-01-13 02:00:00 (give it with the value cell empty)", more.Stderr.Trim());
        File.WriteAllLines(history, [.. lines.Take(287), Future(286), "2014-01-12 23:00:00,,"]);
        var empty = CliTests.Run(_dir, "forecast", "predict", "--checkpoint", ckpt, "--csv", history, "--steps", "1");
        Assert.Equal(1, empty.ExitCode);
        Assert.Contains("missing future covariates: 'hol' is empty at row 2014-01-12 23:00:00", empty.Stderr);
        Assert.Equal("", empty.Stdout);
    }

    /// <summary>A quantile model with a future covariate samples paths over the given rows after the end and no further.</summary>
    [Fact]
    public void AQuantileModelSamplesOverTheFutureRowsGiven()
    {
        var lines = new List<string> { "date,load,hol" };
        for (int i = 0; i < 200; i++)
        {
            int hol = i % 11 == 3 ? 1 : 0;
            lines.Add(string.Create(CultureInfo.InvariantCulture, $"2014-01-{i / 24 + 1:00} {i % 24:00}:00:00,{50 + 10 * Math.Sin(i / 4.0) + 30 * hol:F3},{hol}"));
        }
        string csv = Path.Combine(_dir, "q.csv");
        File.WriteAllLines(csv, lines);
        string ckpt = Path.Combine(_dir, "q.safetensors");
        var train = CliTests.Run(_dir, "forecast", "train", "--csv", csv, "--column", "load", "--date-column", "date", "--future-covariates", "hol",
            "--likelihood", "quantile", "--window", "6", "--hidden", "4", "--epochs", "3", "--device", "cpu", "--checkpoint", ckpt);
        Assert.True(train.ExitCode == 0, train.Stderr);
        // Rows 0..189 observed, then rows 190..192 with the load empty.
        string history = Path.Combine(_dir, "qh.csv");
        File.WriteAllLines(history, [.. lines.Take(191), .. Enumerable.Range(190, 3).Select(i => lines[i + 1].Split(',') is var c ? $"{c[0]},,{c[2]}" : "")]);
        var a = CliTests.Run(_dir, "forecast", "predict", "--checkpoint", ckpt, "--csv", history, "--steps", "3", "--samples", "30");
        var b = CliTests.Run(_dir, "forecast", "predict", "--checkpoint", ckpt, "--csv", history, "--steps", "3", "--samples", "30");
        Assert.True(a.ExitCode == 0, a.Stderr);
        Assert.Equal(a.Stdout, b.Stdout);
        var rows = a.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("step,label,value,q0.1,q0.5,q0.9", rows[0]);
        Assert.Equal(4, rows.Length);
        var more = CliTests.Run(_dir, "forecast", "predict", "--checkpoint", ckpt, "--csv", history, "--steps", "4", "--samples", "30");
        Assert.Equal(1, more.ExitCode);
        Assert.Contains("missing future covariates", more.Stderr);
    }

    private static double LstmRmse(string stdout) =>
        double.Parse(stdout.Split('\n').First(l => l.StartsWith("LSTM ", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
}
