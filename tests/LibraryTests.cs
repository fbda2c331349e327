using System.Reflection;
using GpuLstm.Runtime.Checkpoints;
using Xunit;

namespace GpuLstm.Tests;

/// <summary>
/// GpuLstm as a library: the README's example runs here as written, and the facade (TextModel, Forecaster)
/// trains from a file or a string, reports progress, cancels, resumes, saves and loads, and forecasts.
/// </summary>
public sealed class LibraryTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gpulstm-library-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Poem => Runtime.Data.Corpus.Default();

    /// <summary>A synchronous IProgress: Progress&lt;T&gt; posts to the thread pool, so its order is not the steps'.</summary>
    private sealed class Recorder<T> : IProgress<T>
    {
        public List<T> Reports { get; } = [];
        public Action<T>? Then { get; init; }
        public void Report(T value) { Reports.Add(value); Then?.Invoke(value); }
    }

    [Fact]
    public void TheReadmeExampleRunsAsWritten()
    {
        string poems = Path.Combine(SharedData.Directory, "poems.txt");
        string airline = Path.Combine(SharedData.Directory, "airline-passengers.csv");
        string dir = _dir;
        var console = new StringWriter();
        var stdout = Console.Out;
        Console.SetOut(console);
        try
        {
            // README: library example
            using var model = TextModel.Train(new TextTrainingSettings
            {
                Corpus = poems,                  // or Text = "...", the training text itself
                Cell = RecurrentCell.Gru,
                Hidden = 64,
                SeqLength = 32,
                MaxSteps = 60,
                Checkpoint = Path.Combine(dir, "poems.safetensors"),
            }, new Progress<TrainingProgress>(p => { if (p.ValLoss is { } v) Console.Error.WriteLine($"step {p.Step}: val loss {v:F3}"); }));
            Console.WriteLine(model.Sample("The woods ", 80, new SamplingOptions(Temperature: 0.8)));
            Console.WriteLine($"{model.Evaluate("Whose woods these are I think I know.").BitsPerToken:F2} bits per character");

            using var forecaster = Forecaster.Train(new SeriesTrainingSettings
            {
                Csv = airline, Column = "Passengers", DateColumn = "Month", Season = 12, Difference = true,
                Epochs = 30,
                Checkpoint = Path.Combine(dir, "airline.safetensors"),
            });
            foreach (var point in forecaster.Forecast(12)) Console.WriteLine($"{point.Label}: {point.Value:F0}");
            // README: end
        }
        finally
        {
            Console.SetOut(stdout);
        }

        // The sample (any number of lines), its score, and twelve months of forecasts.
        var lines = console.ToString().TrimEnd().Split('\n');
        Assert.Matches(@"^\d+\.\d\d bits per character$", lines[^13].TrimEnd('\r'));
        Assert.Equal("1961-01: ", lines[^12][..9]);
        Assert.Equal("1961-12: ", lines[^1][..9]);
        Assert.True(File.Exists(Path.Combine(dir, "poems.safetensors")));
        Assert.True(File.Exists(Path.Combine(dir, "airline.safetensors")));

        // The README shows this code, character for character (indentation aside).
        string snippet = Snippet(File.ReadAllText(ThisFile()), "// README: library example", "// README: end");
        string readme = File.ReadAllText(Path.Combine(RepoRoot(), "README.md"));
        Assert.Contains(snippet, Unindent(readme));
    }

    private static string Snippet(string source, string begin, string end)
    {
        int from = source.IndexOf(begin, StringComparison.Ordinal) + begin.Length;
        int to = source.IndexOf(end, from, StringComparison.Ordinal);
        return Unindent(source[from..to]).Trim();
    }

    private static string Unindent(string text) =>
        string.Join('\n', text.Replace("\r", "").Split('\n').Select(l => l.Trim()));

    private static string ThisFile([System.Runtime.CompilerServices.CallerFilePath] string path = "") => path;

    private static string RepoRoot() => Path.GetDirectoryName(Path.GetDirectoryName(ThisFile()))!;

    private TextTrainingSettings Small(string name) => new()
    {
        Hidden = 16, SeqLength = 12, BatchSize = 4, Epochs = 1000, MaxSteps = 8, ValFraction = 0, Device = "cpu",
        Checkpoint = Path.Combine(_dir, name + ".safetensors"),
    };

    [Fact]
    public void TrainingOnAStringEqualsTrainingOnTheSameTextInAFile()
    {
        string file = Path.Combine(_dir, "poem.txt");
        File.WriteAllText(file, Poem);
        using var fromFile = TextModel.Train(Small("file") with { Corpus = file });
        using var fromText = TextModel.Train(Small("text") with { Text = Poem });
        Assert.Equal(fromFile.Sample(length: 60), fromText.Sample(length: 60));
        Assert.Equal(Checkpoint.Load(Path.Combine(_dir, "file.safetensors")).Tensors.Keys, Checkpoint.Load(Path.Combine(_dir, "text.safetensors")).Tensors.Keys);
        Assert.Equal("<text>", Checkpoint.Load(Path.Combine(_dir, "text.safetensors")).Metadata["corpus"]);
        Assert.Equal(fromFile.Evaluate(Poem), fromText.Evaluate(Poem));
    }

    [Fact]
    public void ProgressReportsEveryStepInOrderAndCancellingStopsAndSaves()
    {
        using var cancel = new CancellationTokenSource();
        var progress = new Recorder<TrainingProgress> { Then = p => { if (p.Step == 3) cancel.Cancel(); } };
        using var model = TextModel.Train(Small("cancelled") with { Text = Poem, MaxSteps = 50 }, progress, cancel.Token);
        var steps = progress.Reports.Where(r => !r.IsEvaluation).Select(r => r.Step).ToArray();
        // A step is reported once the next is under way (the host reads outcomes one step late), so the run
        // stops after step 3 or the step 4 it had already started; either way every step is reported, in order.
        Assert.InRange(steps.Length, 3, 4);
        Assert.Equal(Enumerable.Range(1, steps.Length).Select(i => (long)i), steps);
        Assert.All(progress.Reports, r => Assert.True(double.IsFinite(r.Loss) && r.LearningRate > 0));
        var saved = Checkpoint.Load(Path.Combine(_dir, "cancelled.safetensors"));
        Assert.Equal(steps[^1].ToString(System.Globalization.CultureInfo.InvariantCulture), saved.Metadata["step"]);
        Assert.Equal(model.Sample(length: 40), TextModel.Load(Path.Combine(_dir, "cancelled.safetensors")).Sample(length: 40));
    }

    [Fact]
    public void AStringRunResumesOnlyWithTheSameString()
    {
        using (TextModel.Train(Small("straight") with { Text = Poem, MaxSteps = 8 })) { }
        using (TextModel.Train(Small("resumed") with { Text = Poem, MaxSteps = 4 })) { }

        var missing = Assert.Throws<SettingException>(() => TextModel.Train(Small("resumed") with { MaxSteps = 8, Resume = true }));
        Assert.Contains("give the same text again", missing.Message);
        var other = Assert.Throws<SettingException>(() => TextModel.Train(Small("resumed") with { Text = Poem + "!", MaxSteps = 8, Resume = true }));
        Assert.Equal(nameof(TextTrainingSettings.Text), other.Setting);

        using (TextModel.Train(Small("resumed") with { Text = Poem, MaxSteps = 8, Resume = true })) { }
        Assert.Equal(File.ReadAllBytes(Path.Combine(_dir, "straight.safetensors")), File.ReadAllBytes(Path.Combine(_dir, "resumed.safetensors")));
    }

    [Fact]
    public void SettingsAreCheckedBeforeAnyWorkWithTheSettingNamed()
    {
        var both = Assert.Throws<SettingException>(() => TextModel.Train(Small("both") with { Text = Poem, Corpus = "poem.txt" }));
        Assert.Equal(nameof(TextTrainingSettings.Text), both.Setting);
        var hidden = Assert.Throws<SettingException>(() => TextModel.Train(Small("hidden") with { Hidden = 0 }));
        Assert.Equal(nameof(TextTrainingSettings.Hidden), hidden.Setting);
        Assert.DoesNotContain("--", hidden.Message);
        Assert.Empty(Directory.EnumerateFileSystemEntries(_dir));
    }

    [Fact]
    public void ATextModelSavesAndLoadsToTheSameSamplesAndScores()
    {
        using var model = TextModel.Train(Small("model") with { Text = Poem, Cell = RecurrentCell.Rnn, Layers = 2 });
        string copy = Path.Combine(_dir, "copy.safetensors");
        model.Save(copy);
        using var loaded = TextModel.Load(copy);
        Assert.Equal(RecurrentCell.Rnn, loaded.Cell);
        Assert.Equal((16, 2, 12), (loaded.Hidden, loaded.Layers, loaded.SequenceLength));
        Assert.Equal(model.Vocabulary, loaded.Vocabulary);
        Assert.Equal(Poem[..12], loaded.DefaultPrime);
        var options = new SamplingOptions(Temperature: 0.7, TopK: 5, Seed: 7);
        Assert.Equal(model.Sample("The ", 50, options), loaded.Sample("The ", 50, options));
        Assert.Equal(model.Evaluate(Poem, EvalState.Reset), loaded.Evaluate(Poem, EvalState.Reset));
        // The lazy form draws the same tokens, one at a time.
        Assert.Equal(model.Sample("The ", 50, options), string.Concat(loaded.SampleTokens("The ", 50, options)));
    }

    private string SineCsv()
    {
        string csv = Path.Combine(_dir, "sine.csv");
        File.WriteAllLines(csv, new[] { "t,y" }.Concat(Enumerable.Range(0, 120).Select(i => $"{i},{10 + 5 * Math.Sin(i * Math.PI / 6):R}")));
        return csv;
    }

    [Fact]
    public void AForecasterTrainsForecastsSavesAndLoads()
    {
        var settings = new SeriesTrainingSettings
        {
            Csv = SineCsv(), Column = "y", Window = 12, Hidden = 8, Epochs = 60, Season = 12, Device = "cpu",
            Checkpoint = Path.Combine(_dir, "sine.safetensors"),
        };
        var progress = new Recorder<TrainingProgress>();
        using var forecaster = Forecaster.Train(settings, progress);
        Assert.NotEmpty(progress.Reports);
        Assert.Equal("y", forecaster.Column);
        Assert.Equal(120, forecaster.Values.Count);
        Assert.Equal(["LSTM", "persistence", "seasonal naive (12)", "AR(12)"], forecaster.TestScores.Select(s => s.Name));

        var points = forecaster.Forecast(24);
        Assert.Equal(Enumerable.Range(1, 24).Select(i => (long)i), points.Select(p => p.Step));
        Assert.Equal("+1", points[0].Label);
        // A period-12 sine: the model learns it well enough to stay in its range and beat a flat line.
        var truth = Enumerable.Range(120, 24).Select(i => 10 + 5 * Math.Sin(i * Math.PI / 6)).ToArray();
        double rmse = Math.Sqrt(points.Select((p, i) => Math.Pow(p.Value - truth[i], 2)).Average());
        Assert.True(rmse < 5 / Math.Sqrt(2), $"forecast RMSE {rmse:F3} is no better than the series' mean");

        Assert.Equal(points, forecaster.ForecastStream().Take(24));
        string copy = Path.Combine(_dir, "copy.safetensors");
        forecaster.Save(copy);
        using var loaded = Forecaster.Load(copy);
        Assert.Equal(points, loaded.Forecast(24));
        Assert.Equal(forecaster.TestScores.Select(s => s.Name), loaded.TestScores.Select(s => s.Name));
        Assert.Throws<SettingException>(() => loaded.Forecast(0));
    }

    [Fact]
    public void ThePublicSurfaceIsTheFacadeAndWhatItTakesAndReturns()
    {
        var runtime = typeof(TextModel).Assembly.GetExportedTypes().Select(t => t.FullName!).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal<string>(
        [
            "GpuLstm.BiasLayout", "GpuLstm.DeviceInfo", "GpuLstm.DeviceKind", "GpuLstm.Devices", "GpuLstm.EvalResult", "GpuLstm.EvalState",
            "GpuLstm.ForecastMetrics", "GpuLstm.ForecastPoint", "GpuLstm.ForecastScore", "GpuLstm.Forecaster", "GpuLstm.GpuLstmException",
            "GpuLstm.MonitoredLoss", "GpuLstm.OutputFile", "GpuLstm.RecurrentCell", "GpuLstm.RunFinishedException", "GpuLstm.SamplingOptions",
            "GpuLstm.SeriesLikelihood", "GpuLstm.SeriesScalerKind", "GpuLstm.SeriesTrainingSettings", "GpuLstm.SettingException", "GpuLstm.TextModel",
            "GpuLstm.TextTrainingSettings", "GpuLstm.TokenKind", "GpuLstm.TrainEnd", "GpuLstm.TrainingMode", "GpuLstm.TrainingProgress",
        ], runtime);
        Assert.Empty(typeof(Kernels.KernelCatalog).Assembly.GetExportedTypes());
        // Every public member of the surface speaks in public types (nothing leaks through a signature).
        foreach (var type in typeof(TextModel).Assembly.GetExportedTypes())
            foreach (var member in type.GetMembers(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly))
            {
                var types = member switch
                {
                    MethodInfo m => m.GetParameters().Select(p => p.ParameterType).Append(m.ReturnType),
                    PropertyInfo p => [p.PropertyType],
                    FieldInfo f => [f.FieldType],
                    _ => [],
                };
                foreach (var t in types.Select(t => t.IsArray || t.IsByRef ? t.GetElementType()! : t))
                    Assert.True(t.IsGenericParameter || t.IsVisible, $"{type.Name}.{member.Name} exposes {t}");
            }
    }
}
