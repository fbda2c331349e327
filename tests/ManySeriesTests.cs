using System.Globalization;
using GpuLstm.Runtime;
using GpuLstm.Runtime.Checkpoints;
using GpuLstm.Runtime.Series;
using Xunit;

namespace GpuLstm.Tests;

/// <summary>
/// Many series, one model (--series-column): the long-format reader, the panel's batches and per-series scaling,
/// the series identity, the checkpoint that keeps every series, predict per series, and the many-series backtest.
/// </summary>
public sealed class ManySeriesTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gpulstm-many-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, string text)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    private static string Month(int i) => $"{2000 + i / 12}-{i % 12 + 1:00}";

    /// <summary>Rows of two series interleaved and out of date order, with the same dates in both.</summary>
    [Fact]
    public void TheReaderGroupsRowsBySeriesInFirstAppearanceOrderAndSortsEachByItsOwnDates()
    {
        string path = Write("long.csv", "series,month,value\nb,2000-02,20\na,2000-03,3\nb,2000-01,10\na,2000-01,1\na,2000-02,2\n");
        var members = SeriesCsv.LoadPanel(path, "value", "month", "series");
        Assert.Equal(["b", "a"], members.Select(m => m.Name));
        Assert.Equal([10.0, 20.0], members[0].Values);
        Assert.Equal([1.0, 2.0, 3.0], members[1].Values);
        Assert.Equal(["2000-01", "2000-02", "2000-03"], members[1].Labels);
        string dup = Write("dup.csv", "series,month,value\na,2000-01,1\nb,2000-01,5\na,2000-01,2\n");
        var e = Assert.Throws<GpuLstmException>(() => SeriesCsv.LoadPanel(dup, "value", "month", "series"));
        Assert.Contains("lines 2 and 4 have the same date in series 'a'", e.Message);
    }

    private static SeriesProblem Problem(double[] values, int window, SeriesIdentity identity) =>
        new(values, difference: false, SeriesScalerKind.MinMax, window, horizon: 2, 0.2, 0.2, identity: identity);

    /// <summary>
    /// A batch mixing two series (of different lengths and scales) equals, column by column, each series' own batch:
    /// the window and targets come from that series only, scaled by its own training part, with its identity one-hot.
    /// </summary>
    [Fact]
    public void AMixedBatchTakesEachWindowFromItsOwnSeriesWithItsOwnScalerAndIdentity()
    {
        var a = Enumerable.Range(0, 30).Select(i => 10.0 + i).ToArray();
        var b = Enumerable.Range(0, 23).Select(i => 1000.0 - 7 * i + (i % 3)).ToArray();
        const int window = 4;
        var pa = Problem(a, window, new SeriesIdentity(0, 2));
        var pb = Problem(b, window, new SeriesIdentity(1, 2));
        // Each scaler saw its own training part only: the first 60% of its values.
        Assert.Equal(a[..18].Min(), pa.Scaler.Offset);
        Assert.Equal(b[..13].Max() - b[..13].Min(), pb.Scaler.Scale, 12);
        var panel = new SeriesPanel([pa, pb], ["a", "b"]);
        Assert.Equal(3, panel.InputWidth);
        PanelSample[] samples = [new(1, 9), new(0, 4), new(1, 4), new(0, 17)];
        int f = panel.InputWidth, size = samples.Length;
        var inputs = new float[window * size * f];
        var targets = new float[size * 2];
        panel.FillBatch(samples, inputs, targets);
        for (int col = 0; col < size; col++)
        {
            var (series, end) = (samples[col].Series, samples[col].End);
            var own = panel.Members[series];
            var ownInputs = new float[window * f];
            var ownTargets = new float[2];
            own.FillBatch([end], ownInputs, ownTargets);
            for (int t = 0; t < window; t++)
                for (int j = 0; j < f; j++) Assert.Equal(ownInputs[t * f + j], inputs[(t * size + col) * f + j]);
            Assert.Equal(ownTargets, targets.AsSpan(col * 2, 2).ToArray());
            // The target channel is the series' own scaled value; the identity is its one-hot.
            var values = series == 0 ? a : b;
            Assert.Equal((float)own.Scaler.Transform(values[end - 1]), inputs[((window - 1) * size + col) * f]);
            Assert.Equal(series == 0 ? 1f : 0f, inputs[col * f + 1]);
            Assert.Equal(series == 1 ? 1f : 0f, inputs[col * f + 2]);
        }
        // Windows never cross series: every training sample's window lies inside its own series.
        foreach (var s in panel.Samples(SeriesPart.Train))
            Assert.InRange(s.End, window, panel.Members[s.Series].Scaled.Length - 2);
        Assert.Equal(pa.Windows.SampleCount(SeriesPart.Train) + pb.Windows.SampleCount(SeriesPart.Train), panel.SampleCount(SeriesPart.Train));
    }

    /// <summary>
    /// Two series that continue the same window (1, 2) differently (period 3: 0 1 2 0 1 2; period 4: 0 1 2 1 0 1 2 1)
    /// cannot both be fitted from the values alone; with the series embedding they can. Training MSE after the same steps.
    /// </summary>
    [Fact]
    public void TheSeriesEmbeddingLetsOneModelFitSeriesThatTheValuesAloneCannotTellApart()
    {
        var rows = new List<string>();
        for (int i = 0; i < 120; i++) rows.Add($"three,{i},{i % 3}");
        int[] four = [0, 1, 2, 1];
        for (int i = 0; i < 120; i++) rows.Add($"four,{i},{four[i % 4]}");
        string csv = Write("periods.csv", "series,step,value\n" + string.Join("\n", rows) + "\n");
        double TrainLoss(bool embedding)
        {
            var settings = new SeriesTrainingSettings
            {
                Csv = csv, Column = "value", SeriesColumn = "series", SeriesEmbedding = embedding, Window = 2, Hidden = 16, Epochs = 60,
                ValFraction = 0, TestFraction = 0, LearningRate = 0.01, BatchSize = 32, Device = "cpu",
                Checkpoint = Path.Combine(_dir, $"periods-{embedding}.safetensors"), Seed = 3,
            };
            using var run = new SeriesTraining(settings);
            return run.Run().Training.FinalLoss;
        }
        double plain = TrainLoss(false), embedded = TrainLoss(true);
        // Without the identity the best a model can do on window (1, 2) is the mean of 0 and 0.5 (scaled): MSE ≥ 1/16 · 1/7 of the samples.
        Assert.True(embedded < 0.25 * plain, $"training MSE with the embedding {embedded:G4}, without {plain:G4}");
    }

    private string Panel()
    {
        var rows = new List<string>();
        for (int i = 0; i < 60; i++) rows.Add($"north,{Month(i)},{(100 + 10 * Math.Sin(i * Math.PI / 6) + i).ToString("R", CultureInfo.InvariantCulture)}");
        for (int i = 7; i < 50; i++) rows.Add($"south,{Month(i)},{(5 + Math.Cos(i * Math.PI / 6)).ToString("R", CultureInfo.InvariantCulture)}");
        return Write("panel.csv", "series,month,value\n" + string.Join("\n", rows) + "\n");
    }

    /// <summary>The checkpoint keeps every series (names, values, labels, dates, scalers); predict per series equals the library's forecast of that series.</summary>
    [Fact]
    public void TheCheckpointKeepsEverySeriesAndPredictForecastsEachByName()
    {
        string csv = Panel();
        string checkpoint = Path.Combine(_dir, "panel.safetensors");
        var settings = new SeriesTrainingSettings
        {
            Csv = csv, Column = "value", DateColumn = "month", SeriesColumn = "series", SeriesEmbedding = true, Window = 6, Horizon = 2, Hidden = 8,
            Epochs = 3, Device = "cpu", Checkpoint = checkpoint, Season = 12,
        };
        using (var forecaster = Forecaster.Train(settings))
        {
            Assert.Equal(["north", "south"], forecaster.Series);
            var loaded = SeriesCheckpoint.Load(checkpoint);
            var members = loaded.Info.Members;
            Assert.Equal(["north", "south"], members.Select(m => m.Name));
            Assert.Equal(43, members[1].Values.Length);
            Assert.Equal(Month(7), members[1].Labels[0]);
            Assert.Equal(new DateTime(2000, 8, 1, 0, 0, 0, DateTimeKind.Utc), members[1].Dates![0]);
            Assert.NotEqual(members[0].Scaler.Offset, members[1].Scaler.Offset);
            Assert.Equal(1 + 2, loaded.Config.Features);
            Assert.True(loaded.Info.SeriesEmbedding);
            var south = forecaster.Forecast(5, "south");
            var r = CliTests.Run(_dir, "forecast", "predict", "--checkpoint", checkpoint, "--steps", "5", "--series", "south");
            Assert.Equal(0, r.ExitCode);
            var lines = r.Stdout.Trim().Split('\n');
            Assert.Equal("series,step,label,value", lines[0]);
            Assert.Equal(6, lines.Length);
            for (int i = 0; i < 5; i++)
            {
                var cells = lines[i + 1].Split(',');
                Assert.Equal("south", cells[0]);
                Assert.Equal(south[i].Label, cells[2]);
                Assert.Equal(south[i].Value, double.Parse(cells[3], CultureInfo.InvariantCulture));
            }
            Assert.Equal(Month(50), south[0].Label);
            // The two series are forecast differently (their own histories, scalers and identities).
            Assert.NotEqual(forecaster.Forecast(1, "north")[0].Value, south[0].Value);
            Assert.Throws<SettingException>(() => forecaster.Forecast(1));
        }
        var all = CliTests.Run(_dir, "forecast", "predict", "--checkpoint", checkpoint, "--steps", "2");
        Assert.Equal(0, all.ExitCode);
        Assert.Equal(["north", "north", "south", "south"], all.Stdout.Trim().Split('\n').Skip(1).Select(l => l.Split(',')[0]));
    }

    /// <summary>
    /// Each series is backtested at its own last K origins, and the train-once model sees each series only before its
    /// own first origin: changing one series after that origin changes no forecast from any first origin.
    /// </summary>
    [Fact]
    public void TheManySeriesBacktestUsesEachSeriesOwnOriginsAndNothingAfterThem()
    {
        string csv = Panel();
        var members = SeriesCsv.LoadPanel(csv, "value", "month", "series");
        var settings = new SeriesTrainingSettings
        {
            Csv = csv, Column = "value", DateColumn = "month", SeriesColumn = "series", SeriesEmbedding = true, Window = 6, Hidden = 8, Epochs = 3,
            Device = "cpu", Season = 12,
        };
        var results = SeriesBacktest.RunMany(members, settings, origins: 3, stride: 2, horizon: 2, BacktestTraining.Once, arOrder: 3);
        Assert.Equal([54, 56, 58], results[0].Origins);
        Assert.Equal([37, 39, 41], results[1].Origins);
        Assert.Equal(members[1].Values[37], results[1].Actual[0]);
        // Change north after its first origin (54): every forecast from the first origins stays the same.
        var changed = members.ToArray();
        var north = members[0].Values.ToArray();
        for (int i = 54; i < north.Length; i++) north[i] = -1000 - i;
        changed[0] = members[0] with { Values = north };
        var again = SeriesBacktest.RunMany(changed, settings, origins: 3, stride: 2, horizon: 2, BacktestTraining.Once, arOrder: 3);
        for (int m = 0; m < 2; m++)
            foreach (int f in new[] { 0, 3 })   // the model and AR(p)
                Assert.Equal(results[m].Forecasts[f].Values[..2], again[m].Forecasts[f].Values[..2]);
        // South's later forecasts do not read north at all.
        Assert.Equal(results[1].Forecasts[0].Values, again[1].Forecasts[0].Values);
        Assert.NotEqual(results[0].Forecasts[0].Values[2..], again[0].Forecasts[0].Values[2..]);
    }

    /// <summary>A many-series hybrid run stops and resumes: its state keeps the series column, the embedding, the base and the AR baseline's order.</summary>
    [Fact]
    public void AManySeriesRunResumesWithItsSeriesSettings()
    {
        string csv = Panel();
        string checkpoint = Path.Combine(_dir, "resumable.safetensors");
        var settings = new SeriesTrainingSettings
        {
            Csv = csv, Column = "value", DateColumn = "month", SeriesColumn = "series", SeriesEmbedding = true, ArBase = true, ArOrder = 3, Window = 6,
            Hidden = 4, Epochs = 4, MaxSteps = 3, Device = "cpu", Checkpoint = checkpoint,
        };
        using (var first = new SeriesTraining(settings)) first.Run();
        var saved = SeriesTraining.SavedSettings(checkpoint);
        Assert.Equal(("series", true, true, 3), (saved.SeriesColumn, saved.SeriesEmbedding, saved.ArBase, saved.ArOrder));
        using var resumed = new SeriesTraining(saved with { MaxSteps = 6 });
        Assert.Equal(3, resumed.ResumedFrom!.Value.Step);
        var result = resumed.Run().Training;
        Assert.Equal(6, result.Steps);
        Assert.Contains(resumed.Scores, x => x.Name == "AR(3)");
        // A different series setting is a conflict, not a silent restart.
        Assert.Throws<SettingException>(() => new SeriesTraining(saved with { SeriesEmbedding = false, MaxSteps = 8 }));
    }

    /// <summary>
    /// Two series with a numeric and a categorical covariate: 'north' (60 rows) sees winds N and S in its training
    /// part, 'south' (43 rows) S and E; E appears in north only after its training part. Temperatures reach 90 only in
    /// the test parts.
    /// </summary>
    private string CovariatePanel()
    {
        var rows = new List<string>();
        for (int i = 0; i < 60; i++)
            rows.Add($"north,{Month(i)},{(100 + 10 * Math.Sin(i * Math.PI / 6) + i).ToString("R", CultureInfo.InvariantCulture)},{(i < 50 ? i % 7 : 90)},{(i >= 55 ? "E" : i % 2 == 0 ? "N" : "S")}");
        for (int i = 7; i < 50; i++)
            rows.Add($"south,{Month(i)},{(5 + Math.Cos(i * Math.PI / 6)).ToString("R", CultureInfo.InvariantCulture)},{(i < 40 ? 10 + i % 5 : 90)},{(i % 3 == 0 ? "E" : "S")}");
        return Write("covariate-panel.csv", "series,month,value,temp,dir\n" + string.Join("\n", rows) + "\n");
    }

    /// <summary>One covariate encoding for every series, fitted on the union of their training parts only.</summary>
    [Fact]
    public void AGlobalModelFitsOneCovariateEncodingOnEverySeriesTrainingPart()
    {
        string csv = CovariatePanel();
        string checkpoint = Path.Combine(_dir, "covariate-panel.safetensors");
        var settings = new SeriesTrainingSettings
        {
            Csv = csv, Column = "value", DateColumn = "month", SeriesColumn = "series", SeriesEmbedding = true, Covariates = ["temp", "dir"], Window = 4,
            Horizon = 2, Hidden = 4, Epochs = 2, Device = "cpu", Checkpoint = checkpoint,
        };
        double[] trained;
        using (var library = Forecaster.Train(settings)) trained = library.Forecast(2, "south").Select(p => p.Value).ToArray();
        var loaded = SeriesCheckpoint.Load(checkpoint);
        var spec = loaded.Info.Covariates;
        Assert.Equal(["E", "N", "S"], spec.Columns[1].Categories);   // E from south's training part
        // Training parts: north rows 0..41 (temp 0..6), south rows 0..29 (temp 10..14): min 0, max 14; the 90s are test values.
        Assert.Equal((0.0, 14.0), (spec.Columns[0].Scaler!.Offset, spec.Columns[0].Scaler!.Scale));
        Assert.Equal(1 + 1 + 3 + 2, loaded.Config.Features);
        // Predict needs every series' covariates from --csv, and forecasts each within one direct block.
        var missing = CliTests.Run(_dir, "forecast", "predict", "--checkpoint", checkpoint, "--steps", "2");
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("which the checkpoint does not keep: give the histories with --csv FILE", missing.Stderr);
        var r = CliTests.Run(_dir, "forecast", "predict", "--checkpoint", checkpoint, "--steps", "2", "--csv", csv);
        Assert.True(r.ExitCode == 0, r.Stderr);
        var lines = r.Stdout.Trim().Split('\n');
        Assert.Equal(["north", "north", "south", "south"], lines.Skip(1).Select(l => l.Split(',')[0]));
        // The same forecast through the library, per series, from the same histories.
        var histories = SeriesCsv.LoadPanel(csv, "value", "month", "series", ["temp", "dir"]);
        using var forecaster = Forecaster.LoadMany(loaded, "cpu", 1, histories);
        var south = forecaster.ForecastStream(1).Take(2).ToArray();
        Assert.Equal(south[1].Value, double.Parse(lines[4].Split(',')[3], CultureInfo.InvariantCulture));
        // The forecaster made right after training reads south's own covariates too, not north's.
        Assert.Equal(south.Select(p => p.Value), trained);
        // A history file without north's rows still forecasts south when only south is asked for.
        string southOnly = Write("south-only.csv", string.Join("\n", File.ReadAllLines(csv).Where(l => !l.StartsWith("north,", StringComparison.Ordinal))) + "\n");
        var only = CliTests.Run(_dir, "forecast", "predict", "--checkpoint", checkpoint, "--steps", "2", "--csv", southOnly, "--series", "south");
        Assert.True(only.ExitCode == 0, only.Stderr);
        Assert.Equal(lines[3..5], only.Stdout.Trim().Split('\n')[1..]);
        var all = CliTests.Run(_dir, "forecast", "predict", "--checkpoint", checkpoint, "--steps", "2", "--csv", southOnly);
        Assert.Contains("--csv has no rows of series 'north'", all.Stderr);
    }

    /// <summary>The many-series backtest with past covariates forecasts each origin directly, and reads no covariate after an origin.</summary>
    [Fact]
    public void TheManySeriesBacktestReadsCovariatesOnlyBeforeEachOrigin()
    {
        string csv = CovariatePanel();
        var members = SeriesCsv.LoadPanel(csv, "value", "month", "series", ["temp", "dir"]);
        var settings = new SeriesTrainingSettings
        {
            Csv = csv, Column = "value", DateColumn = "month", SeriesColumn = "series", Covariates = ["temp", "dir"], Window = 4, Horizon = 2, Hidden = 4,
            Epochs = 2, Device = "cpu",
        };
        var results = SeriesBacktest.RunMany(members, settings, origins: 2, stride: 1, horizon: 2, BacktestTraining.Once, arOrder: 2);
        Assert.Equal("AR(2) with covariates", results[0].Forecasts[^1].Name);
        // Change south's covariates from its first origin on: its first forecast stays (past covariates before the origin only).
        var changed = members.ToArray();
        var temp = members[1].Covariates[0].Cells.ToArray();
        int origin = results[1].Origins[0];
        for (int i = origin; i < temp.Length; i++) temp[i] = "-50";
        changed[1] = members[1] with { Covariates = [members[1].Covariates[0] with { Cells = temp }, members[1].Covariates[1]] };
        var again = SeriesBacktest.RunMany(changed, settings, origins: 2, stride: 1, horizon: 2, BacktestTraining.Once, arOrder: 2);
        Assert.Equal(results[1].Forecasts[0].Values[..2], again[1].Forecasts[0].Values[..2]);
        Assert.Equal(results[1].Forecasts[^1].Values[..2], again[1].Forecasts[^1].Values[..2]);
        Assert.NotEqual(results[1].Forecasts[0].Values[2..], again[1].Forecasts[0].Values[2..]);
    }

    /// <summary>
    /// Future covariates with many series: each series gives its own rows after its end (value cell empty); predict
    /// reads each series' own, and a series short of rows is named in one line.
    /// </summary>
    [Fact]
    public void EachSeriesGivesItsOwnFutureCovariateRows()
    {
        var rows = new List<string>();
        foreach (var (name, start, count) in new[] { ("north", 0, 60), ("south", 7, 43) })
            for (int i = start; i < start + count; i++)
            {
                int promo = i % 5 == 0 ? 1 : 0;
                double v = name == "north" ? 100 + 10 * Math.Sin(i * Math.PI / 6) + i + 20 * promo : 5 + Math.Cos(i * Math.PI / 6) + 2 * promo;
                rows.Add($"{name},{Month(i)},{v.ToString("R", CultureInfo.InvariantCulture)},{promo}");
            }
        string csv = Write("future-panel.csv", "series,month,value,promo\n" + string.Join("\n", rows) + "\n");
        string checkpoint = Path.Combine(_dir, "future-panel.safetensors");
        var settings = new SeriesTrainingSettings
        {
            Csv = csv, Column = "value", DateColumn = "month", SeriesColumn = "series", SeriesEmbedding = true, FutureCovariates = ["promo"], Window = 6,
            Hidden = 4, Epochs = 2, Device = "cpu", Checkpoint = checkpoint,
        };
        using (var run = new SeriesTraining(settings)) run.Run();
        // North gets two rows after its end, south one; the rows may come in any order in the file.
        string newer = Write("future-panel-new.csv", "series,month,value,promo\nsouth,2004-03,,1\n" + string.Join("\n", rows) + "\nnorth,2005-01,,1\nnorth,2005-02,,0\n");
        var two = CliTests.Run(_dir, "forecast", "predict", "--checkpoint", checkpoint, "--steps", "2", "--csv", newer);
        Assert.Equal(1, two.ExitCode);
        Assert.Contains("the first missing row is 2004-04 of series 'south'", two.Stderr);
        var r = CliTests.Run(_dir, "forecast", "predict", "--checkpoint", checkpoint, "--steps", "2", "--csv", newer, "--series", "north");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var lines = r.Stdout.Trim().Split('\n');
        Assert.Equal(["north,1,2005-01", "north,2,2005-02"], lines.Skip(1).Select(l => string.Join(',', l.Split(',')[..3])));
        // One file serves both: training on the file with the rows after the end leaves them out (no targets there).
        string both = Path.Combine(_dir, "future-panel-both.safetensors");
        using (var again = new SeriesTraining(settings with { Csv = newer, Checkpoint = both })) again.Run();
        // (Series are numbered in order of first appearance: south comes first in that file.)
        Assert.Equal(SeriesCheckpoint.Load(checkpoint).Info.Members[1].Values, SeriesCheckpoint.Load(both).Info.Members.Single(m => m.Name == "south").Values);
        Assert.Equal(SeriesCheckpoint.Load(checkpoint).Info.Members[0].Values, SeriesCheckpoint.Load(both).Info.Members.Single(m => m.Name == "north").Values);
        // The forecast reads the promo flag: flipping north's first future row changes north's first step.
        string flipped = Write("future-panel-flipped.csv", File.ReadAllText(newer).Replace("north,2005-01,,1", "north,2005-01,,0", StringComparison.Ordinal));
        var f = CliTests.Run(_dir, "forecast", "predict", "--checkpoint", checkpoint, "--steps", "1", "--csv", flipped, "--series", "north");
        Assert.True(f.ExitCode == 0, f.Stderr);
        Assert.NotEqual(lines[1], f.Stdout.Trim().Split('\n')[1]);
    }

    [Fact]
    public void TheBacktestCliPrintsEverySeriesAndTheirMeanAndWritesASeriesColumn()
    {
        string csv = Panel();
        string output = Path.Combine(_dir, "bt.csv");
        var r = CliTests.Run(_dir, "forecast", "backtest", "--csv", csv, "--column", "value", "--date-column", "month", "--series-column", "series",
            "--window", "6", "--hidden", "4", "--epochs", "2", "--origins", "2", "--horizon", "3", "--season", "12", "--device", "cpu", "--output", output);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("mean over the 2 series", r.Stdout);
        Assert.Matches(@"the global LSTM (loses to|beats) the per-series linear AR\(6\) \(mean MASE", r.Stdout);
        var lines = File.ReadAllLines(output);
        Assert.Equal("series,origin,step,date,actual,model,persistence,seasonal_naive,ar", lines[0]);
        Assert.Equal(1 + 2 * 2 * 3, lines.Length);
        Assert.StartsWith("north,56,1,2004-09,", lines[1]);
        Assert.StartsWith("south,39,1,2003-11,", lines[7]);   // south starts at 2000-08: its value 39 is 2003-11
    }
}
