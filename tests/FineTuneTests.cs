using GpuLstm.Runtime.Checkpoints;
using GpuLstm.Runtime.Training;
using Xunit;

namespace GpuLstm.Tests;

/// <summary>
/// train --init-from: a new run from trained weights. It starts where the trained model is (a lower loss than
/// from scratch), an extended vocabulary keeps every trained row and initializes the new ones as a new model
/// would, and --resume continues a fine-tuning run exactly.
/// </summary>
public sealed class FineTuneTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gpulstm-finetune-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Another poem by Frost ("Nothing Gold Can Stay", 1923), with characters the notebook's poem lacks.</summary>
    private const string OtherPoem = "Nature's first green is gold,\nHer hardest hue to hold.\nHer early leaf's a flower;\nBut only so an hour.\n" +
        "Then leaf subsides to leaf.\nSo Eden sank to grief,\nSo dawn goes down to day.\nNothing gold can stay.\n";

    private string Path(string name) => System.IO.Path.Combine(_dir, name);

    /// <summary>
    /// The notebook's model (its poem and mode), made small enough for a test: H 32, windows of 10, 100 steps at
    /// Adam 3e-3. Trained much longer it memorizes its five lines, and its confident guesses then cost more on
    /// another poem than a fresh model's uniform ones: this is a model that has learnt letters and spacing.
    /// </summary>
    private string TrainNotebookModel(int embedding = 0)
    {
        string checkpoint = Path($"notebook-{embedding}.safetensors");
        using var _ = TextModel.Train(new TextTrainingSettings
        {
            Hidden = 32, SeqLength = 10, Embedding = embedding, LearningRate = 3e-3, Epochs = 1000, MaxSteps = 100, Device = "cpu",
            Checkpoint = checkpoint, Metrics = OutputFile.None,
        });
        return checkpoint;
    }

    /// <summary>The mean training loss of the first epoch (its evaluation's report).</summary>
    private sealed class FirstEpochLoss : IProgress<TrainingProgress>
    {
        public double? Loss { get; private set; }
        public void Report(TrainingProgress value) { if (value.IsEvaluation) Loss ??= value.Loss; }
    }

    private TextTrainingSettings OnTheOtherPoem(string name) => new()
    {
        Text = OtherPoem, Mode = TrainingMode.Windows, Hidden = 32, SeqLength = 10, Epochs = 1, Device = "cpu",
        Checkpoint = Path(name + ".safetensors"), Metrics = OutputFile.None,
    };

    [Fact]
    public void AFineTunedRunStartsAtALowerLossThanOneFromScratch()
    {
        string notebook = TrainNotebookModel();
        var fromScratch = new FirstEpochLoss();
        using (TextModel.Train(OnTheOtherPoem("scratch"), fromScratch)) { }
        var fineTuned = new FirstEpochLoss();
        using (TextModel.Train(OnTheOtherPoem("tuned") with { InitFrom = notebook, ExtendVocab = true }, fineTuned)) { }
        // From scratch the first epoch's loss is about ln V (a uniform guess over the poem's ~30 characters, 3.4
        // nats); the trained model already knows which letters are common and where spaces go (3.19 here).
        Assert.InRange(fromScratch.Loss!.Value, 3.2, 3.6);
        Assert.True(fineTuned.Loss < fromScratch.Loss - 0.15, $"fine-tuned first epoch's loss {fineTuned.Loss:F3}, from scratch {fromScratch.Loss:F3}");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(6)]
    public void ExtendingTheVocabularyKeepsEveryTrainedRowAndInitializesTheNewOnesAsANewModel(int embedding)
    {
        var trained = Checkpoint.Load(TrainNotebookModel(embedding));
        var settings = OnTheOtherPoem("extended") with { InitFrom = trained.Path, ExtendVocab = true, Embedding = embedding };
        using var run = new TextTraining(settings);
        using var scratch = new TextTraining(OnTheOtherPoem("fresh") with { Text = OtherPoem + string.Concat(trained.Vocabulary.SymbolStrings), Embedding = embedding });
        var newSymbols = run.Vocabulary.SymbolStrings;
        var oldSymbols = trained.Vocabulary.SymbolStrings;
        Assert.True(newSymbols.Count > oldSymbols.Count, "the other poem has characters the notebook's lacks");
        Assert.Equal(oldSymbols.Union(OtherPoem.Select(c => c.ToString())).Order(StringComparer.Ordinal), newSymbols.Order(StringComparer.Ordinal));
        var tuned = Checkpoint.Tensors(run.Model).ToDictionary(t => t.Name);
        // The same seed over the same (merged) vocabulary: a new model's initialization, for the rows of new characters.
        var fresh = Checkpoint.Tensors(scratch.Model).ToDictionary(t => t.Name);
        Assert.Equal(newSymbols, scratch.Vocabulary.SymbolStrings);
        int h = 32, g = 4 * h;
        for (int j = 0; j < newSymbols.Count; j++)
        {
            int old = IndexOf(oldSymbols, newSymbols[j]);
            var expected = old >= 0 ? trained.Tensors : fresh.ToDictionary(kv => kv.Key, kv => kv.Value);
            int from = old >= 0 ? old : j;
            Assert.Equal(expected["fc.bias"].Data[from], tuned["fc.bias"].Data[j]);
            Assert.Equal(expected["fc.weight"].Data.AsSpan(from * h, h).ToArray(), tuned["fc.weight"].Data.AsSpan(j * h, h).ToArray());
            if (embedding > 0)
                Assert.Equal(expected["embedding.weight"].Data.AsSpan(from * embedding, embedding).ToArray(), tuned["embedding.weight"].Data.AsSpan(j * embedding, embedding).ToArray());
            else
            {
                int oldV = expected["lstm.weight_ih_l0"].Shape[1], newV = newSymbols.Count;
                for (int r = 0; r < g; r += 17) Assert.Equal(expected["lstm.weight_ih_l0"].Data[r * oldV + from], tuned["lstm.weight_ih_l0"].Data[r * newV + j]);
            }
        }
        // Tensors not indexed by token are the trained ones, whole.
        Assert.Equal(trained.Tensors["lstm.weight_hh_l0"].Data, tuned["lstm.weight_hh_l0"].Data);
        Assert.Equal(trained.Tensors["lstm.bias_hh_l0"].Data, tuned["lstm.bias_hh_l0"].Data);
        if (embedding > 0) Assert.Equal(trained.Tensors["lstm.weight_ih_l0"].Data, tuned["lstm.weight_ih_l0"].Data);
    }

    private static int IndexOf(IReadOnlyList<string> list, string item)
    {
        for (int i = 0; i < list.Count; i++) if (list[i] == item) return i;
        return -1;
    }

    [Fact]
    public void WithoutExtendingTheNewCharactersAreRefusedByName()
    {
        string notebook = TrainNotebookModel();
        var e = Assert.Throws<SettingException>(() => new TextTraining(OnTheOtherPoem("refused") with { InitFrom = notebook }));
        Assert.Contains("outside the vocabulary of checkpoint", e.Message);
        Assert.Contains("'N' (U+004E)", e.Message);
        Assert.False(File.Exists(Path("refused.safetensors")));
        // A text inside the vocabulary needs no extension, and keeps the checkpoint's vocabulary as it was.
        using var run = new TextTraining(OnTheOtherPoem("inside") with { Text = "Two roads diverged in a yellow wood,\n", InitFrom = notebook });
        Assert.Equal(Checkpoint.Load(notebook).Vocabulary.SymbolStrings, run.Vocabulary.SymbolStrings);
    }

    [Fact]
    public void ResumingAFineTuningRunContinuesItExactly()
    {
        string notebook = TrainNotebookModel();
        var tune = OnTheOtherPoem("straight") with { InitFrom = notebook, ExtendVocab = true, Epochs = 1000, MaxSteps = 6 };
        using (TextModel.Train(tune)) { }
        using (TextModel.Train(tune with { Checkpoint = Path("resumed.safetensors"), MaxSteps = 3 })) { }
        using (TextModel.Train(tune with { Checkpoint = Path("resumed.safetensors"), InitFrom = null, ExtendVocab = false, Resume = true })) { }
        var straight = Checkpoint.Load(Path("straight.safetensors"));
        var resumed = Checkpoint.Load(Path("resumed.safetensors"));
        Assert.Equal("6", resumed.Metadata["step"]);
        Assert.Equal(System.IO.Path.GetFileName(notebook), resumed.Metadata["init_from"]);
        foreach (var (name, tensor) in straight.Tensors) Assert.Equal(tensor.Data, resumed.Tensors[name].Data);
    }

    [Fact]
    public void ExtendingAWordVocabularyAppendsTheNewWordsAndKeepsEveryTrainedId()
    {
        string checkpoint = Path("words.safetensors");
        using (TextModel.Train(new TextTrainingSettings
        {
            Tokens = TokenKind.Words, Embedding = 4, Hidden = 8, SeqLength = 4, MaxSteps = 5, Epochs = 1000, Device = "cpu",
            Checkpoint = checkpoint, Metrics = OutputFile.None,
        })) { }
        var trained = Checkpoint.Load(checkpoint);
        using var run = new TextTraining(OnTheOtherPoem("words-extended") with
        {
            Tokens = TokenKind.Words, Embedding = 4, Hidden = 8, SeqLength = 4, InitFrom = checkpoint, ExtendVocab = true,
        });
        var oldWords = trained.Vocabulary.SymbolStrings;
        var newWords = run.Vocabulary.SymbolStrings;
        Assert.Equal(oldWords, newWords.Take(oldWords.Count));
        Assert.Contains("Nothing", newWords.Skip(oldWords.Count));
        var tuned = Checkpoint.Tensors(run.Model).ToDictionary(t => t.Name);
        int known = oldWords.Count;
        Assert.Equal(trained.Tensors["embedding.weight"].Data, tuned["embedding.weight"].Data.AsSpan(0, known * 4).ToArray());
        Assert.Equal(trained.Tensors["fc.weight"].Data, tuned["fc.weight"].Data.AsSpan(0, known * 8).ToArray());
        Assert.Equal(trained.Tensors["fc.bias"].Data, tuned["fc.bias"].Data.AsSpan(0, known).ToArray());
    }

    [Fact]
    public void InitializedFromTakesTheCheckpointsShapeAndAContradictingShapeIsRefused()
    {
        string notebook = TrainNotebookModel(embedding: 6);
        var settings = TextTrainingSettings.InitializedFrom(notebook);
        Assert.Equal((32, 6, 1, "lstm", TokenKind.Characters, notebook), (settings.Hidden, settings.Embedding, settings.Layers, settings.Cell.Name, settings.Tokens, settings.InitFrom));
        using (TextModel.Train(settings with { Text = "Two roads diverged in a yellow wood,\n" + Runtime.Data.Corpus.Default(), Mode = TrainingMode.Windows, SeqLength = 10,
            MaxSteps = 2, Device = "cpu", Checkpoint = Path("initialized.safetensors"), Metrics = OutputFile.None })) { }
        var e = Assert.Throws<SettingException>(() => new TextTraining(settings with { Hidden = 16, Text = Runtime.Data.Corpus.Default(), Device = "cpu" }));
        Assert.Equal("Hidden", e.Setting);
        Assert.Contains("the hidden size 16 contradicts checkpoint", e.Message);
    }
}
