using GpuLstm.Runtime.Data;
using GpuLstm.Runtime.Training;

namespace GpuLstm;

/// <summary>How a text model is trained.</summary>
public enum TrainingMode
{
    /// <summary>The Keras notebook: every window of T tokens is a sample, shuffled each epoch; the loss is on the token after each window, from a zero state.</summary>
    Windows,
    /// <summary>char-rnn's truncated BPTT: B contiguous streams, the loss at every position, the state carried from batch to batch and reset each epoch.</summary>
    Streams,
}

/// <summary>What a text is cut into.</summary>
public enum TokenKind
{
    /// <summary>Unicode scalar values (a Rune each).</summary>
    Characters,
    /// <summary>Words, newlines and punctuation (<see cref="WordTokenizer"/>), with a capped vocabulary and &lt;unk&gt;.</summary>
    Words,
}

/// <summary>
/// Every setting of a text training run, checked in one place (<see cref="Validate"/>; errors name the setting
/// by its property name). The defaults are the Keras notebook's; a null picks the mode's default (Windows
/// without a corpus, Streams with one, and their learning rate, clipping and validation fraction).
/// </summary>
public sealed record TextTrainingSettings
{
    /// <summary>A UTF-8 text file, <c>-</c> for standard input, or null for the notebook's poem (embedded).</summary>
    public string? Corpus { get; init; }
    /// <summary>The training text itself, instead of a <see cref="Corpus"/> file (a resumed run needs the same text again).</summary>
    public string? Text { get; init; }
    public TrainingMode? Mode { get; init; }
    public TokenKind Tokens { get; init; } = TokenKind.Characters;
    /// <summary>Words: keep the N−1 most frequent plus &lt;unk&gt; (0: every word).</summary>
    public int VocabSize { get; init; } = 10000;
    public RecurrentCell Cell { get; init; } = RecurrentCell.Lstm;
    public int Hidden { get; init; } = 128;
    public int Layers { get; init; } = 1;
    /// <summary>An embedding of this width in front of the stack (0: one-hot rows); null: 0 for characters, 128 for words.</summary>
    public int? Embedding { get; init; }
    public float Dropout { get; init; }
    public int SeqLength { get; init; } = 50;
    public int BatchSize { get; init; } = 16;
    public int Epochs { get; init; } = 50;
    /// <summary>Stop after this many steps in all (0: no limit).</summary>
    public long MaxSteps { get; init; }
    /// <summary>Adam's rate; null: 1e-3 for Windows, 2e-3 for Streams.</summary>
    public double? LearningRate { get; init; }
    public double LrDecay { get; init; } = 1;
    public int LrDecayAfter { get; init; } = 10;
    /// <summary>Global-norm clipping (0: off); null: 0 for Windows, 5 for Streams.</summary>
    public double? ClipNorm { get; init; }
    /// <summary>The held-out tail; null: 0 for Windows, 0.05 for Streams.</summary>
    public double? ValFraction { get; init; }
    /// <summary>Steps between evaluations (0: each epoch).</summary>
    public int EvalEvery { get; init; }
    /// <summary>null: ValLoss when there is validation data, else Loss.</summary>
    public MonitoredLoss? Monitor { get; init; }
    public int Patience { get; init; } = 5;
    public double MinDelta { get; init; }
    public bool RestoreBest { get; init; }
    public ulong Seed { get; init; } = 42;
    /// <summary>auto, cpu, ilgpu-cpu, cuda, cuda:N, opencl, opencl:N.</summary>
    public string Device { get; init; } = "auto";
    public string Checkpoint { get; init; } = "gpulstm-model.safetensors";
    /// <summary>Steps between resumable checkpoints (0: only at the end).</summary>
    public int CheckpointEvery { get; init; }
    public OutputFile Metrics { get; init; } = OutputFile.Default;
    public OutputFile Plot { get; init; } = OutputFile.Default;
    /// <summary>Continue the run saved at <see cref="Checkpoint"/>; its saved settings must equal these.</summary>
    public bool Resume { get; init; }
    /// <summary>
    /// Fine-tuning: start a new run (fresh Adam, step 0, new corpus and settings) from the weights of this
    /// checkpoint. The model's shape (Cell, Hidden, Layers, Embedding, Tokens) must be the checkpoint's; see
    /// <see cref="InitializedFrom"/>, which copies it. Tokens of the corpus outside the checkpoint's vocabulary
    /// are refused unless <see cref="ExtendVocab"/>.
    /// </summary>
    public string? InitFrom { get; init; }
    /// <summary>With <see cref="InitFrom"/>: add the corpus's new tokens to the vocabulary (new rows initialized as a new model's, trained rows kept).</summary>
    public bool ExtendVocab { get; init; }

    /// <summary>Settings that fine-tune the model at <paramref name="checkpoint"/>: its shape, every other setting the default.</summary>
    public static TextTrainingSettings InitializedFrom(string checkpoint) => Runtime.Training.TextTraining.ShapeOf(checkpoint) with { InitFrom = checkpoint };

    public TrainingMode ResolvedMode => Mode ?? (Corpus is null && Text is null ? TrainingMode.Windows : TrainingMode.Streams);
    private bool Streams => ResolvedMode == TrainingMode.Streams;

    /// <summary>The settings with every null resolved to its mode's default.</summary>
    public TextTrainingSettings Resolved()
    {
        var mode = ResolvedMode;
        double val = ValFraction ?? (Streams ? 0.05 : 0);
        return this with
        {
            Mode = mode,
            Embedding = Embedding ?? (Tokens == TokenKind.Words ? 128 : 0),
            LearningRate = LearningRate ?? (Streams ? 2e-3 : 1e-3),
            ClipNorm = ClipNorm ?? (Streams ? 5 : 0),
            ValFraction = val,
            Monitor = Monitor ?? (val > 0 ? MonitoredLoss.ValLoss : MonitoredLoss.Loss),
        };
    }

    /// <summary>Every setting, with the mode's defaults resolved; the first problem is a <see cref="SettingException"/> naming the setting.</summary>
    public void Validate()
    {
        var s = Resolved();
        static void Positive(int value, string setting, string what)
        {
            if (value < 1) throw new SettingException(setting, $"{what} must be a positive integer, got {value}", what);
        }
        if (s.Corpus is not null && string.IsNullOrWhiteSpace(s.Corpus)) throw new SettingException(nameof(Corpus), "the corpus path is empty");
        if (s.Corpus is not null && s.Text is not null) throw new SettingException(nameof(Text), "give the training text as a corpus file or as text, not both");
        if (s.InitFrom is not null && s.Resume)
            throw new SettingException(nameof(InitFrom), "fine-tuning from a checkpoint starts a new run, and resuming continues the saved one; give one or the other", "fine-tuning from a checkpoint");
        if (s.ExtendVocab && s.InitFrom is null)
            throw new SettingException(nameof(ExtendVocab), "extending the vocabulary applies only with a checkpoint to fine-tune from", "extending the vocabulary");
        if (string.IsNullOrWhiteSpace(s.Checkpoint)) throw new SettingException(nameof(Checkpoint), "the checkpoint path is empty");
        Positive(s.Hidden, nameof(Hidden), "the hidden size");
        Positive(s.Layers, nameof(Layers), "the number of layers");
        Positive(s.SeqLength, nameof(SeqLength), "the sequence length");
        Positive(s.BatchSize, nameof(BatchSize), "the batch size");
        Positive(s.Epochs, nameof(Epochs), "the number of epochs");
        if (s.Embedding < 0) throw new SettingException(nameof(Embedding), $"the embedding size must be 0 (one-hot) or positive, got {s.Embedding}", "the embedding size");
        if (s.Tokens == TokenKind.Words && s.Embedding == 0) throw new SettingException(nameof(Embedding), "word-level models need an embedding (a size above 0)");
        if (!(s.Dropout >= 0 && s.Dropout < 1)) throw new SettingException(nameof(Dropout), $"dropout must be in [0, 1), got {s.Dropout}", "dropout");
        if (s.Dropout > 0 && s.Layers < 2) throw new SettingException(nameof(Dropout), "dropout applies between stacked layers; it needs 2 layers or more", "dropout");
        if (!(s.ValFraction >= 0 && s.ValFraction < 1)) throw new SettingException(nameof(ValFraction), $"the validation fraction must be in [0, 1), got {s.ValFraction}", "the validation fraction");
        if (s.Monitor == MonitoredLoss.ValLoss && s.ValFraction == 0)
            throw new SettingException(nameof(Monitor), "early stopping on val_loss needs validation data (a validation fraction above 0)");
        if (s.VocabSize < 0 || s.VocabSize == 1) throw new SettingException(nameof(VocabSize), $"the vocabulary size must be 0 (no cap) or at least 2, got {s.VocabSize}", "the vocabulary size");
        if (s.LrDecayAfter < 1) throw new SettingException(nameof(LrDecayAfter), $"the first decaying epoch must be 1 or more, got {s.LrDecayAfter}", "the first decaying epoch");
        s.AdamOptions.Validate();
        s.StoppingOptions.Validate();
        s.TrainOptions.Validate();
    }

    internal AdamOptions AdamOptions => new(LearningRate: LearningRate ?? 1e-3, ClipNorm: ClipNorm ?? 0);
    internal EarlyStoppingOptions StoppingOptions => new(Monitor ?? MonitoredLoss.Loss, Patience, MinDelta, RestoreBest);
    internal TrainOptions TrainOptions => new(Epochs, Seed, MaxSteps, EvalEvery, CheckpointEvery, LrDecay, LrDecayAfter);
}
