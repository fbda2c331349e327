using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using GpuLstm.Runtime.Checkpoints;
using GpuLstm.Runtime.Compute;
using GpuLstm.Runtime.Data;
using GpuLstm.Runtime.Files;
using GpuLstm.Runtime.Models;
using GpuLstm.Runtime.Models.Cells;

namespace GpuLstm.Runtime.Training;

/// <summary>What a text run trains on and with, for a front end to show before training starts.</summary>
/// <param name="CorpusName">The corpus's path, "standard input", or the embedded poem's name.</param>
/// <param name="DataDescription">"16 streams of 1,234 tokens, 12 batches of 100 per epoch" or "1,432 windows of 50".</param>
internal sealed record TextRunInfo(string CorpusName, long Tokens, int Vocabulary, long TrainTokens, long ValidationTokens, string DataDescription,
    string InputDescription, string StackDescription, string DeviceDescription);

/// <summary>
/// A text training run from its settings to its saved files: reads the corpus (once, streamed, or from a
/// pipe), checks every file it will write before doing any work, builds the model on the device (resuming
/// exactly from the saved state when asked), and on <see cref="TrainingRun.Run"/> trains and saves the
/// checkpoint, the training state, the metrics and the loss plot. The model stays usable afterwards (sampling).
/// </summary>
internal sealed class TextTraining : TrainingRun
{
    public const string DefaultCheckpoint = "gpulstm-model.safetensors";

    private readonly SavedTextSetup _setup;

    public TextTrainingSettings Settings { get; }
    internal LanguageModel Model { get; }
    internal ITokenizer Vocabulary { get; }
    /// <summary>The corpus's first T tokens: the notebook's sampling prime, stored in the checkpoint.</summary>
    public string Prime { get; }
    public TextRunInfo Info { get; }

    /// <summary>The saved settings of the run at <paramref name="checkpoint"/>, for a front end that resumes it (the run itself refuses, with <see cref="RunFinishedException"/>, a finished run that cannot go on under the new epoch and step limits).</summary>
    public static TextTrainingSettings SavedSettings(string checkpoint)
    {
        var (_, json) = ReadSaved(checkpoint);
        var setup = SavedTextSetup.FromJson(json) ?? throw new GpuLstmException($"training state '{TrainingStateFile.PathFor(checkpoint)}' has no readable settings");
        return setup.ToSettings() with { Checkpoint = checkpoint, Resume = true };
    }

    public TextTraining(TextTrainingSettings settings, FileLabels? labels = null)
        : this(settings.Resolved(), labels ?? new FileLabels("the corpus"), OpenDevice(settings)) { }

    private static ComputeDevice OpenDevice(TextTrainingSettings settings)
    {
        settings.Validate();
        return ComputeDevice.Open(settings.Device);
    }

    private TextTraining(TextTrainingSettings s, FileLabels labels, ComputeDevice device)
        : base(device, s.Checkpoint, s.Metrics.Resolve(s.Checkpoint, ".metrics.csv"), s.Plot.Resolve(s.Checkpoint, ".loss.png"))
    {
        try
        {
            Settings = s;
            bool streams = s.ResolvedMode == TrainingMode.Streams;
            LoadedCheckpoint? savedModel = null;
            SavedTextSetup? saved = null;
            if (s.Resume)
            {
                var (position, json) = ReadSaved(s.Checkpoint);
                saved = SavedTextSetup.FromJson(json) ?? throw new GpuLstmException($"training state '{StatePath}' has no readable settings");
                // The text first: without it every other saved setting (the mode, from the corpus) would look changed.
                if (s.Corpus is null && s.Text is null && saved.CorpusIsStream)
                    throw new SettingException(nameof(s.Corpus), saved.Corpus switch
                    {
                        null => "cannot resume: the run trained on a text given in memory; give the same text again",
                        InputSource.StandardInput => "cannot resume: the run read its corpus from standard input; give the same text again",
                        _ => $"cannot resume: the run read its corpus from the pipe '{saved.Corpus}'; give the same text again",
                    });
                saved.CheckSameTrajectory(s);
                CheckResumable(position, s.TrainOptions);
                savedModel = Checkpoint.Load(s.Checkpoint);
            }
            string? corpusPath = s.Text is not null ? null : s.Corpus ?? saved?.Corpus;
            CheckFiles(labels, corpusPath == InputSource.StandardInput ? null : corpusPath, CheckpointPath, MetricsPath, PlotPath, s.Resume, s.InitFrom);
            // Fine-tuning: the weights (and the vocabulary they index) come from another run's checkpoint.
            LoadedCheckpoint? initFrom = null;
            if (s.InitFrom is not null)
            {
                initFrom = Checkpoint.Load(s.InitFrom);
                CheckShape(s, initFrom);
            }

            // The data.
            InputSource? source = null;
            string digest = "";
            if (s.Text is not null)
            {
                digest = Convert.ToHexString(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(s.Text)));
                if (saved is not null && digest != saved.CorpusDigest)
                    throw new SettingException(nameof(s.Text), "cannot resume with this text: it is not the text the run started with");
            }
            else if (corpusPath is not null)
            {
                if (s.Resume && s.Corpus is null && !File.Exists(corpusPath)) throw new GpuLstmException($"cannot resume: the run's corpus '{corpusPath}' is gone");
                source = InputSource.Open(corpusPath, "corpus file");
                digest = Digest(source);
                if (saved is not null && digest != saved.CorpusDigest)
                    throw new SettingException(nameof(s.Corpus), s.Corpus is null
                        ? $"cannot resume: the corpus '{corpusPath}' changed since the run started"
                        : $"cannot resume with '{s.Corpus}': it is not the text the run started with ({(saved.Corpus == InputSource.StandardInput ? "standard input" : $"'{saved.Corpus}'")})");
            }
            bool words = s.Tokens == TokenKind.Words;
            string? text = s.Text ?? (source is null ? Corpus.Default() : null);
            EncodedCorpus corpus = text is not null
                ? (words ? EncodedCorpus.FromWords(text, s.VocabSize, s.Text is null ? "the corpus" : "the text") : EncodedCorpus.FromText(text))
                : words ? EncodedCorpus.LoadWords(source!, s.VocabSize) : EncodedCorpus.Load(source!);
            // A fine-tuning run reads its corpus in the checkpoint's vocabulary (extended, or refused, where the
            // corpus goes outside it); resuming one reads it in the vocabulary its own checkpoint holds.
            var vocabularyFrom = initFrom ?? (saved?.InitFrom is not null ? savedModel : null);
            if (vocabularyFrom is not null)
                corpus = VocabularyMerge.Recode(corpus, vocabularyFrom.Vocabulary, extend: s.ExtendVocab && initFrom is not null,
                    s.Text is not null ? "the text" : source?.Describe() ?? "the corpus", $"checkpoint '{vocabularyFrom.Path}'");
            Vocabulary = corpus.Vocabulary;
            if (Vocabulary.Count < 2) throw new GpuLstmException($"the corpus has {Vocabulary.Count} distinct {(words ? "word" : "character")}; it needs at least 2");
            var split = CorpusSplit.Create(corpus.Tokens.Length, s.ValFraction!.Value);
            int t = s.SeqLength;
            IBatchSource batches;
            string dataLine;
            if (streams)
            {
                var data = new StreamDataset(corpus.Tokens, split.TrainStart, split.TrainLength, s.BatchSize, t);
                batches = new StreamBatches(data);
                dataLine = $"{data.Streams} streams of {data.StreamLength:N0} tokens, {data.BatchesPerEpoch} batches of {t} per epoch";
            }
            else
            {
                var data = new WindowDataset(corpus.Tokens.AsSpan(split.TrainStart, split.TrainLength).ToArray(), t);
                batches = new ShuffledWindowBatches(data, s.BatchSize, LossPositions.Last, s.Seed);
                dataLine = $"{data.Count:N0} windows of {t}";
            }
            if (split.HasValidation && split.ValLength < t + 1)
                throw new SettingException(nameof(s.ValFraction), $"the validation part has {split.ValLength} tokens, fewer than one window of {t + 1}; raise the validation fraction or shorten the sequence length");

            // The model.
            var config = new LanguageModelConfig(Vocabulary.Count, s.Hidden, t, streams ? LossPositions.All : LossPositions.Last, s.Layers, s.Embedding!.Value, s.Dropout)
                { Cell = s.Cell };
            config.Validate();
            if (savedModel is not null && savedModel.Config != config)
                throw new GpuLstmException($"cannot resume: checkpoint '{CheckpointPath}' holds a different model than its training state describes");
            Model = new LanguageModel(device, config, batches.MaxBatch);
            Model.InitializeKerasDefaults(s.Seed);
            savedModel?.CopyInto(Model);
            if (initFrom is not null) VocabularyMerge.CopyTrainedRows(initFrom, Model, Vocabulary);
            Prime = corpus.Prefix(t);
            // A text given in memory is, like a pipe, gone after the run: resuming needs it again.
            _setup = SavedTextSetup.From(s, corpusPath, digest, source?.IsSpooled ?? s.Text is not null) with
            {
                InitFrom = s.InitFrom is null ? saved?.InitFrom : System.IO.Path.GetFullPath(s.InitFrom),
            };
            var evaluator = new Evaluator(Model);
            Func<double>? validate = split.HasValidation
                ? () => evaluator.Evaluate(corpus.Tokens, split.ValStart, split.ValLength, EvalState.Carry, s.BatchSize, t, preserveTrainingState: streams).Loss
                : null;
            Start(new LanguageModelTask(Model, batches), s.AdamOptions, s.StoppingOptions, s.TrainOptions, validate,
                savedModel?.Metadata.GetValueOrDefault("step"), s.Resume);

            string corpusName = s.Text is not null ? "the given text" : corpusPath is null ? Data.Corpus.DefaultName : corpusPath == InputSource.StandardInput ? "standard input" : corpusPath;
            string input = config.Embedding > 0 ? $"Embedding({Vocabulary.Count}, {config.Embedding})" : $"one-hot({Vocabulary.Count})";
            string layer = $"{s.Cell.Name.ToUpperInvariant()}({s.Hidden})";
            string stack = string.Join(s.Dropout > 0 ? string.Create(CultureInfo.InvariantCulture, $" -> Dropout({s.Dropout}) -> ") : " -> ", Enumerable.Repeat(layer, s.Layers));
            Info = new TextRunInfo(corpusName, corpus.Tokens.Length, Vocabulary.Count, split.TrainLength, split.ValLength, dataLine, input, stack, device.Description);
        }
        catch
        {
            base.Dispose();
            throw;
        }
    }

    /// <summary>Default settings with the shape of the model at <paramref name="checkpoint"/> (for fine-tuning it).</summary>
    public static TextTrainingSettings ShapeOf(string checkpoint) => ShapeOf(Checkpoint.Load(checkpoint));

    internal static TextTrainingSettings ShapeOf(LoadedCheckpoint c)
    {
        return new TextTrainingSettings
        {
            Cell = c.Config.Cell, Hidden = c.Config.Hidden, Layers = c.Config.Layers, Embedding = c.Config.Embedding,
            Tokens = c.Vocabulary.Kind == "word" ? TokenKind.Words : TokenKind.Characters,
        };
    }

    /// <summary>A fine-tuning run's shape settings must be the checkpoint's: one line naming the first that is not.</summary>
    internal static void CheckShape(TextTrainingSettings s, LoadedCheckpoint from)
    {
        var c = from.Config;
        void Same(string setting, string words, string given, string theirs)
        {
            if (given != theirs)
                throw new SettingException(setting, $"{words} {given} contradicts checkpoint '{from.Path}' to fine-tune from, whose model has {words} {theirs}; " +
                    "the model's shape comes from that checkpoint, so leave it out or give the same", words);
        }
        Same(nameof(s.Tokens), "the tokens", s.Tokens == TokenKind.Words ? "word" : "char", from.Vocabulary.Kind);
        Same(nameof(s.Cell), "the cell", s.Cell.Name, c.Cell.Name);
        Same(nameof(s.Hidden), "the hidden size", s.Hidden.ToString(CultureInfo.InvariantCulture), c.Hidden.ToString(CultureInfo.InvariantCulture));
        Same(nameof(s.Layers), "the layers", s.Layers.ToString(CultureInfo.InvariantCulture), c.Layers.ToString(CultureInfo.InvariantCulture));
        Same(nameof(s.Embedding), "the embedding size", s.Embedding!.Value.ToString(CultureInfo.InvariantCulture), c.Embedding.ToString(CultureInfo.InvariantCulture));
    }

    private protected override string SetupJson => _setup.ToJson();

    private protected override Action<Stream> CheckpointWriter(long step, int epochs, double finalLoss)
    {
        // In this order: the metadata keys of every text checkpoint so far.
        var metadata = new Dictionary<string, string>
        {
            ["prime"] = Prime,
            ["seed"] = Settings.Seed.ToString(CultureInfo.InvariantCulture),
            ["step"] = step.ToString(CultureInfo.InvariantCulture),
            ["epochs_trained"] = epochs.ToString(CultureInfo.InvariantCulture),
        };
        metadata["corpus"] = _setup.Corpus switch
        {
            null => _setup.CorpusIsStream ? "<text>" : Data.Corpus.DefaultName,
            InputSource.StandardInput => "<stdin>",
            _ => Path.GetFileName(_setup.Corpus),
        };
        // The validation fraction (the held-out tail whose loss is final_loss's companion), so a user can re-score it.
        metadata["val_fraction"] = Settings.ValFraction!.Value.ToString("R", CultureInfo.InvariantCulture);
        if (_setup.InitFrom is not null) metadata["init_from"] = Path.GetFileName(_setup.InitFrom);
        if (double.IsFinite(finalLoss)) metadata["final_loss"] = finalLoss.ToString("R", CultureInfo.InvariantCulture);
        return Checkpoint.Serializer(Model, Vocabulary, metadata);
    }

    /// <summary>SHA-256 of the corpus, to check that a resumed run reads the same text.</summary>
    private static string Digest(InputSource source)
    {
        using var stream = source.OpenRead();
        try { return Convert.ToHexString(SHA256.HashData(stream)); }
        catch (IOException x) { throw new GpuLstmException($"{source.Describe()} cannot be read: {IoErrors.Describe(x)}"); }
    }

    private bool _modelDetached;

    /// <summary>The trained model and its device, for the caller to keep (and dispose) after the run is disposed.</summary>
    internal (ComputeDevice Device, LanguageModel Model) Detach()
    {
        _modelDetached = true;
        return (DetachDevice(), Model);
    }

    public override void Dispose()
    {
        if (!_modelDetached) Model?.Dispose();
        base.Dispose();
    }
}

/// <summary>The settings a resumed run may not change, in words, for its error messages.</summary>
internal static class ResumeSettings
{
    private static readonly Dictionary<string, string> Words = new(StringComparer.Ordinal)
    {
        ["Mode"] = "the mode", ["Cell"] = "the cell", ["Tokens"] = "the tokens", ["VocabSize"] = "the vocabulary size", ["Hidden"] = "the hidden size",
        ["Layers"] = "the layers", ["Embedding"] = "the embedding size", ["Dropout"] = "the dropout", ["SeqLength"] = "the sequence length",
        ["BatchSize"] = "the batch size", ["LearningRate"] = "the learning rate", ["LrDecay"] = "the learning-rate decay",
        ["LrDecayAfter"] = "the first decaying epoch", ["ClipNorm"] = "the clip norm", ["ValFraction"] = "the validation fraction",
        ["EvalEvery"] = "the evaluation interval", ["Monitor"] = "the monitor", ["Patience"] = "the patience", ["MinDelta"] = "the min delta",
        ["RestoreBest"] = "restore-best", ["Seed"] = "the seed", ["Csv"] = "the CSV", ["Column"] = "the column", ["DateColumn"] = "the date column",
        ["Scale"] = "the scaling", ["Difference"] = "differencing", ["Window"] = "the window", ["Horizon"] = "the horizon",
        ["TestFraction"] = "the test fraction", ["Season"] = "the season", ["Bidirectional"] = "bidirectional",
    };

    /// <summary>"cannot resume with the dropout 0.5: the run was started with 0.25; …", naming the setting so a front end can say it its way.</summary>
    public static SettingException ResumeConflict(string setting, string given, string saved)
    {
        string words = Words.GetValueOrDefault(setting, setting);
        return new SettingException(setting, $"cannot resume with {words} {given}: the run was started with {saved}; keep it as it was to continue the run", words);
    }
}

/// <summary>
/// The settings that decide a text run's trajectory, as the state file keeps them (JSON, in the names and
/// spellings of every state file written so far). A resumed run takes them from there and must not change
/// them. CorpusIsStream: the corpus came from standard input or a pipe, so a resumed run needs it given again.
/// </summary>
internal sealed record SavedTextSetup(string Mode, string Cell, string Tokens, string? Corpus, string CorpusDigest, int VocabSize, int Hidden, int Layers,
    int Embedding, float Dropout, int SeqLength, int Batch, double Lr, double Clip, double LrDecay, int LrDecayAfter, ulong Seed,
    double ValFraction, string Monitor, int Patience, double MinDelta, bool RestoreBest, int EvalEvery, bool CorpusIsStream = false)
{
    /// <summary>The checkpoint a fine-tuning run started from (full path), or null: a resumed fine-tuning run reads its corpus in its checkpoint's vocabulary.</summary>
    public string? InitFrom { get; init; }

    public string ToJson() => JsonSerializer.Serialize(this);

    public static SavedTextSetup? FromJson(string json)
    {
        try { return JsonSerializer.Deserialize<SavedTextSetup>(json); }
        catch (JsonException) { return null; }
    }

    public static SavedTextSetup From(TextTrainingSettings s, string? corpusPath, string digest, bool spooled) => new(
        s.ResolvedMode == TrainingMode.Streams ? "tbptt" : "last", s.Cell.Name, s.Tokens == TokenKind.Words ? "word" : "char",
        corpusPath is null ? null : corpusPath == InputSource.StandardInput ? corpusPath : System.IO.Path.GetFullPath(corpusPath), digest,
        s.VocabSize, s.Hidden, s.Layers, s.Embedding!.Value, s.Dropout, s.SeqLength, s.BatchSize, s.LearningRate!.Value, s.ClipNorm!.Value,
        s.LrDecay, s.LrDecayAfter, s.Seed, s.ValFraction!.Value, s.Monitor!.Value.KerasName(), s.Patience, s.MinDelta, s.RestoreBest, s.EvalEvery, spooled);

    /// <summary>The settings this setup was made from (the corpus as recorded).</summary>
    public TextTrainingSettings ToSettings() => new()
    {
        Corpus = null,
        Mode = Mode == "tbptt" ? TrainingMode.Streams : TrainingMode.Windows,
        Tokens = Tokens == "word" ? TokenKind.Words : TokenKind.Characters,
        VocabSize = VocabSize, Cell = RecurrentCell.Parse(Cell), Hidden = Hidden, Layers = Layers, Embedding = Embedding, Dropout = Dropout,
        SeqLength = SeqLength, BatchSize = Batch, LearningRate = Lr, ClipNorm = Clip, LrDecay = LrDecay, LrDecayAfter = LrDecayAfter, Seed = Seed,
        ValFraction = ValFraction, Monitor = MonitorNames.Parse(Monitor) ?? MonitoredLoss.Loss, Patience = Patience, MinDelta = MinDelta,
        RestoreBest = RestoreBest, EvalEvery = EvalEvery,
    };

    /// <summary>A resumed run's settings must be the saved ones, except those a run may change (its limits, device and files).</summary>
    public void CheckSameTrajectory(TextTrainingSettings given)
    {
        static SettingException ResumeConflict(string setting, string value, string saved) => ResumeSettings.ResumeConflict(setting, value, saved);
        var saved = ToSettings().Resolved();
        void Same<T>(string setting, T value, T expected)
        {
            if (!EqualityComparer<T>.Default.Equals(value, expected))
                throw ResumeConflict(setting, Show(value), Show(expected));
        }
        static string Show(object? v) => v switch
        {
            null => "none",
            double d => d.ToString("R", CultureInfo.InvariantCulture),
            float f => f.ToString("R", CultureInfo.InvariantCulture),
            TrainingMode m => m == TrainingMode.Streams ? "tbptt" : "last",
            TokenKind k => k == TokenKind.Words ? "word" : "char",
            MonitoredLoss m => m.KerasName(),
            bool b => b ? "true" : "false",
            _ => Convert.ToString(v, CultureInfo.InvariantCulture) ?? "none",
        };
        Same(nameof(TextTrainingSettings.Mode), given.ResolvedMode, saved.ResolvedMode);
        Same(nameof(TextTrainingSettings.Cell), given.Cell.Name, saved.Cell.Name);
        Same(nameof(TextTrainingSettings.Tokens), given.Tokens, saved.Tokens);
        Same(nameof(TextTrainingSettings.VocabSize), given.VocabSize, saved.VocabSize);
        Same(nameof(TextTrainingSettings.Hidden), given.Hidden, saved.Hidden);
        Same(nameof(TextTrainingSettings.Layers), given.Layers, saved.Layers);
        Same(nameof(TextTrainingSettings.Embedding), given.Embedding, saved.Embedding);
        Same(nameof(TextTrainingSettings.Dropout), given.Dropout, saved.Dropout);
        Same(nameof(TextTrainingSettings.SeqLength), given.SeqLength, saved.SeqLength);
        Same(nameof(TextTrainingSettings.BatchSize), given.BatchSize, saved.BatchSize);
        Same(nameof(TextTrainingSettings.LearningRate), given.LearningRate, saved.LearningRate);
        Same(nameof(TextTrainingSettings.LrDecay), given.LrDecay, saved.LrDecay);
        Same(nameof(TextTrainingSettings.LrDecayAfter), given.LrDecayAfter, saved.LrDecayAfter);
        Same(nameof(TextTrainingSettings.ClipNorm), given.ClipNorm, saved.ClipNorm);
        Same(nameof(TextTrainingSettings.ValFraction), given.ValFraction, saved.ValFraction);
        Same(nameof(TextTrainingSettings.EvalEvery), given.EvalEvery, saved.EvalEvery);
        Same(nameof(TextTrainingSettings.Monitor), given.Monitor, saved.Monitor);
        Same(nameof(TextTrainingSettings.Patience), given.Patience, saved.Patience);
        Same(nameof(TextTrainingSettings.MinDelta), given.MinDelta, saved.MinDelta);
        Same(nameof(TextTrainingSettings.RestoreBest), given.RestoreBest, saved.RestoreBest);
        Same(nameof(TextTrainingSettings.Seed), given.Seed, saved.Seed);
    }
}
