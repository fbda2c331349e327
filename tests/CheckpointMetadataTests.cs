using System.Globalization;
using GpuLstm.Runtime.Checkpoints;
using Xunit;

namespace GpuLstm.Tests;

/// <summary>
/// What a PyTorch user would otherwise read the source for is in the checkpoint: the tokenizer and its
/// version, the validation and test fractions behind the stored metrics, the scaler's formula and the forecast
/// head's input. README's "What a PyTorch user needs to know" says the same.
/// </summary>
public sealed class CheckpointMetadataTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gpulstm-metadata-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData(TokenKind.Characters, Checkpoint.CharTokenizerSpec)]
    [InlineData(TokenKind.Words, Checkpoint.WordTokenizerSpec)]
    public void ATextCheckpointNamesItsTokenizerAndValidationFraction(TokenKind tokens, string spec)
    {
        string path = Path.Combine(_dir, $"{tokens}.safetensors");
        using (TextModel.Train(new TextTrainingSettings
        {
            Text = string.Concat(Enumerable.Repeat(Runtime.Data.Corpus.Default(), 4)), Tokens = tokens, Hidden = 4, SeqLength = 6, BatchSize = 2,
            MaxSteps = 2, ValFraction = 0.25, Device = "cpu", Checkpoint = path, Metrics = OutputFile.None,
        })) { }
        var meta = Checkpoint.Load(path).Metadata;
        Assert.Equal(spec, meta["tokenizer"]);
        Assert.Equal("0.25", meta["val_fraction"]);
        // The README documents the rules under the same versioned name.
        string readme = File.ReadAllText(Path.Combine(BadInputTests.RepositoryRoot(), "README.md"));
        Assert.Contains($"`tokenizer`: `{spec[..spec.IndexOf(':')]}`", readme);
    }

    [Theory]
    [InlineData(false, SeriesScalerKind.MinMax)]
    [InlineData(true, SeriesScalerKind.ZScore)]
    public void ASeriesCheckpointStatesItsScalerHeadAndSplit(bool bidirectional, SeriesScalerKind scale)
    {
        string csv = Path.Combine(_dir, "sine.csv");
        File.WriteAllLines(csv, new[] { "t,y" }.Concat(Enumerable.Range(0, 80).Select(i => string.Create(CultureInfo.InvariantCulture, $"{i},{10 + 5 * Math.Sin(i * Math.PI / 6):R}"))));
        string path = Path.Combine(_dir, $"series-{bidirectional}.safetensors");
        using (Forecaster.Train(new SeriesTrainingSettings
        {
            Csv = csv, Column = "y", Window = 6, Hidden = 4, Epochs = 2, Bidirectional = bidirectional, Scale = scale, ValFraction = 0.2, TestFraction = 0.1,
            Device = "cpu", Checkpoint = path, Metrics = OutputFile.None,
        })) { }
        var (meta, _) = SafeTensors.Read(path);
        Assert.Equal("0.2", meta["val_fraction"]);
        Assert.Equal("0.1", meta["test_fraction"]);
        Assert.StartsWith("scaled = (x - a) / b", meta["scaler.formula"]);
        Assert.Contains(scale == SeriesScalerKind.MinMax ? "a = min, b = max - min" : "a = mean, b = population standard deviation", meta["scaler.formula"]);
        Assert.StartsWith("h_n", meta["head_input"]);
        Assert.Equal(bidirectional, meta["head_input"].Contains("both directions", StringComparison.Ordinal));
        // The checkpoint still loads and forecasts with the new keys in it.
        using var loaded = Forecaster.Load(path);
        Assert.Single(loaded.Forecast(1));
    }
}
