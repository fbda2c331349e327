using System.Text;
using GpuLstm.Runtime;
using GpuLstm.Runtime.Checkpoints;
using GpuLstm.Runtime.Compute;
using GpuLstm.Runtime.Data;
using GpuLstm.Runtime.Files;
using GpuLstm.Runtime.Models;
using GpuLstm.Runtime.Sampling;
using GpuLstm.Runtime.Training;

namespace GpuLstm;

/// <summary>How a text model draws its tokens.</summary>
/// <param name="Temperature">Reweights the probabilities as log(p + 1e-8)/T (the notebook's sample()); must be &gt; 0.</param>
/// <param name="TopK">Draw only among the K most likely tokens (0: all).</param>
/// <param name="Greedy">Always take the most likely token (the temperature is then ignored).</param>
/// <param name="CarryState">
/// true: one step per token, carrying the state (char-rnn); false: re-run the last window from a zero state
/// for every token (the notebook); null: as the model was trained.
/// </param>
public sealed record SamplingOptions(double Temperature = 1.0, int TopK = 0, bool Greedy = false, ulong Seed = 42, bool? CarryState = null);

/// <summary>One step of training, or one evaluation, as a progress report.</summary>
/// <param name="Loss">The step's loss; for an evaluation, the mean training loss since the previous one.</param>
/// <param name="ValLoss">The validation loss, on evaluations when there is validation data; null otherwise.</param>
/// <param name="IsEvaluation">True for an evaluation (each epoch, or every EvalEvery steps), reported after its step's own report.</param>
public sealed record TrainingProgress(long Step, int Epoch, double Loss, double? ValLoss, double LearningRate, TimeSpan Elapsed, bool IsEvaluation = false);

/// <summary>
/// A character- or word-level language model (LSTM, GRU or RNN) ready to generate, score and save text:
/// trained here, or loaded from a checkpoint written by <c>gpulstm train</c> or this class.
/// <code>
/// using var model = TextModel.Train(new TextTrainingSettings { Corpus = "poems.txt", Hidden = 256, Epochs = 5 });
/// Console.WriteLine(model.Sample("The woods ", 200, new SamplingOptions(Temperature: 0.8)));
/// </code>
/// </summary>
public sealed class TextModel : IDisposable
{
    private readonly ComputeDevice _device;
    private readonly LanguageModel _model;
    private readonly ITokenizer _vocabulary;

    /// <summary>The prime the training run recorded: its corpus's first window of tokens (null when none).</summary>
    public string? DefaultPrime { get; }

    /// <summary>The tokens the model knows, by id: characters, or words with &lt;unk&gt; first.</summary>
    public IReadOnlyList<string> Vocabulary => _vocabulary.SymbolStrings;

    /// <summary>Characters or words.</summary>
    public TokenKind Tokens => _vocabulary.Kind == "word" ? TokenKind.Words : TokenKind.Characters;

    public RecurrentCell Cell => _model.Config.Cell;
    public int Hidden => _model.Config.Hidden;
    public int Layers => _model.Config.Layers;
    /// <summary>The window the model was trained on (T).</summary>
    public int SequenceLength => _model.Config.SeqLength;
    /// <summary>The device it runs on ("cpu: …").</summary>
    public string Device => _device.Description;

    internal bool TrainedOnStreams => _model.Config.Loss == LossPositions.All;

    internal TextModel(ComputeDevice device, LanguageModel model, ITokenizer vocabulary, string? prime)
    {
        _device = device; _model = model; _vocabulary = vocabulary; DefaultPrime = prime;
    }

    /// <summary>Loads a checkpoint (a file, or <c>-</c> for standard input) onto <paramref name="device"/> (cpu by default: any checkpoint runs there).</summary>
    public static TextModel Load(string checkpoint, string device = "cpu")
    {
        var loaded = Checkpoint.Load(checkpoint);
        var dev = ComputeDevice.Open(device);
        try
        {
            // Batch 32 serves sampling (1) and evaluation (up to 32 streams) without reallocating.
            var model = loaded.CreateModel(dev, 32);
            return new TextModel(dev, model, loaded.Vocabulary, loaded.DefaultPrime);
        }
        catch
        {
            dev.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Trains a model as <paramref name="settings"/> say (and saves its checkpoint, training state and metrics
    /// where they say), reporting every step to <paramref name="progress"/>; cancelling stops at the next step
    /// and saves. Returns the trained model. A run that diverges throws a <see cref="GpuLstmException"/>.
    /// </summary>
    public static TextModel Train(TextTrainingSettings settings, IProgress<TrainingProgress>? progress = null, CancellationToken cancel = default)
    {
        var run = new TextTraining(settings with { Plot = OutputFile.None });
        try
        {
            Report(run, progress);
            var result = run.Run(cancel).Training;
            if (result.End == TrainEnd.Diverged) throw new GpuLstmException($"training diverged at {result.DivergedWhat}; try a smaller learning rate or clipping");
            var (device, model) = run.Detach();
            return new TextModel(device, model, run.Vocabulary, run.Prime);
        }
        finally
        {
            run.Dispose();
        }
    }

    internal static void Report(TrainingRun run, IProgress<TrainingProgress>? progress)
    {
        if (progress is null) return;
        run.StepEnded += r => progress.Report(new TrainingProgress(r.Step, r.Epoch, r.Loss, null, r.LearningRate, r.Elapsed));
        run.Evaluated += r => progress.Report(new TrainingProgress(r.Step, r.Epoch, r.Loss, r.ValLoss, r.LearningRate, r.Elapsed, IsEvaluation: true));
    }

    /// <summary>Generates <paramref name="length"/> tokens after <paramref name="prime"/> (default: <see cref="DefaultPrime"/>); returns only the generated text.</summary>
    public string Sample(string? prime = null, int length = 200, SamplingOptions? options = null)
    {
        var text = new StringBuilder();
        foreach (var piece in SampleTokens(prime, length, options)) text.Append(piece);
        return text.ToString();
    }

    /// <summary>The same, one token's text at a time as it is drawn (lazily, as the sequence is read), in constant memory.</summary>
    public IEnumerable<string> SampleTokens(string? prime = null, int length = 200, SamplingOptions? options = null, CancellationToken cancel = default)
    {
        var o = options ?? new SamplingOptions();
        string start = prime ?? DefaultPrime ?? throw new GpuLstmException("the model records no prime text; give one");
        if (o.TopK > _vocabulary.Count) throw new SettingException(nameof(SamplingOptions.TopK), $"top-k {o.TopK} exceeds the vocabulary of {_vocabulary.Count}", "top-k");
        var sampler = new Sampler(_model, _vocabulary, o.TopK, o.Greedy);
        return sampler.Tokens(start, length, o.Temperature, Rng.ForPurpose(o.Seed, "sample"), o.CarryState ?? TrainedOnStreams, cancel);
    }

    /// <summary>
    /// <paramref name="count"/> independent samples after the same prime, sample i drawn from seed
    /// <c>options.Seed + i</c>: the text <see cref="Sample"/> gives with that seed. They are batched through the
    /// model (up to its batch of 32 streams a pass), not run one after another. Returns only the generated texts.
    /// </summary>
    public IReadOnlyList<string> SampleMany(int count, string? prime = null, int length = 200, SamplingOptions? options = null, CancellationToken cancel = default)
    {
        if (count < 1) throw new SettingException("Count", $"the count must be a positive integer, got {count}", "the count");
        var o = options ?? new SamplingOptions();
        string start = prime ?? DefaultPrime ?? throw new GpuLstmException("the model records no prime text; give one");
        if (o.TopK > _vocabulary.Count) throw new SettingException(nameof(SamplingOptions.TopK), $"top-k {o.TopK} exceeds the vocabulary of {_vocabulary.Count}", "top-k");
        var sampler = new Sampler(_model, _vocabulary, o.TopK, o.Greedy);
        var texts = new StringBuilder[count];
        for (int first = 0; first < count; first += _model.MaxBatch)
        {
            int batch = Math.Min(_model.MaxBatch, count - first);
            // Seeds wrap around at 2^64 as ulong arithmetic does: seed 2^64 − 1 is followed by 0.
            var rngs = Enumerable.Range(first, batch).Select(i => Rng.ForPurpose(unchecked(o.Seed + (ulong)i), "sample")).ToArray();
            for (int b = 0; b < batch; b++) texts[first + b] = new StringBuilder();
            foreach (var pieces in sampler.BatchTokens(start, length, o.Temperature, rngs, o.CarryState ?? TrainedOnStreams, cancel))
                for (int b = 0; b < batch; b++) texts[first + b].Append(pieces[b]);
        }
        return texts.Select(t => t.ToString()).ToArray();
    }

    /// <summary>
    /// The loss per token on <paramref name="text"/> (nats, with bits per token and perplexity): as B streams
    /// with the state carried across windows, or non-overlapping windows from a zero state.
    /// </summary>
    public EvalResult Evaluate(string text, EvalState state = EvalState.Carry, int batch = 32)
    {
        ArgumentNullException.ThrowIfNull(text);
        var tokens = _vocabulary.Encode(text, "the text");
        return Evaluate(tokens, 0, tokens.Length, state, batch);
    }

    private EvalResult Evaluate(int[] tokens, int start, int count, EvalState state, int batch)
    {
        if (batch < 1) throw new SettingException("BatchSize", $"the batch must be a positive integer, got {batch}", "the batch");
        // A notebook model scores each window's next token when reading streams; any model scores every position otherwise.
        var loss = !TrainedOnStreams && state == EvalState.Carry ? LossPositions.Last : LossPositions.All;
        using var scorer = new LanguageModel(_device, _model.Config with { Loss = loss }, batch);
        scorer.Parameters.SetValues(_model.Parameters.GetValues());
        return new Evaluator(scorer).Evaluate(tokens, start, count, state, batch, _model.Config.SeqLength);
    }

    /// <summary>
    /// The loss per token on the UTF-8 file at <paramref name="path"/> (<c>-</c>: standard input), or on its last
    /// <paramref name="lastFraction"/> (a training run's validation fraction holds out the same tail). A
    /// character the model never saw is an error naming the file; a word it never saw is &lt;unk&gt;, counted.
    /// </summary>
    public EvalResult EvaluateFile(string path, double lastFraction = 1, EvalState state = EvalState.Carry, int batch = 32)
    {
        if (!(lastFraction > 0 && lastFraction <= 1)) throw new SettingException("LastFraction", $"the last fraction must be in (0, 1], got {lastFraction}", "the last fraction");
        var tokens = Encode(InputSource.Open(path, "text file"));
        int count = (int)Math.Round(lastFraction * tokens.Length);
        int start = tokens.Length - count;
        var result = Evaluate(tokens, start, count, state, batch);
        long unknown = 0;
        if (_vocabulary is WordVocabulary words)
            foreach (int id in tokens.AsSpan(start, count)) if (id == words.UnknownId) unknown++;
        return result with { TextTokens = count, UnknownTokens = unknown };
    }

    /// <summary>A text input as this model's token ids.</summary>
    private int[] Encode(InputSource source)
    {
        if (_vocabulary is WordVocabulary words) return words.Encode(WordTokenizer.Tokenize(EncodedCorpus.ReadText(source)));
        var corpus = EncodedCorpus.Load(source);
        // Re-map the file's own ids onto the model's vocabulary; a character the model never saw is an error.
        var map = new int[corpus.Vocabulary.Count];
        var own = (Vocabulary)corpus.Vocabulary;
        var model = (Vocabulary)_vocabulary;
        for (int i = 0; i < map.Length; i++)
        {
            var rune = own.Symbols[i];
            if (!model.TryGetId(rune, out map[i]))
                throw new GpuLstmException($"{source.Describe()} contains {Runtime.Data.Vocabulary.Describe(rune)}, which is not in the model's vocabulary of {model.Count} characters");
        }
        var ids = corpus.Tokens;
        for (int i = 0; i < ids.Length; i++) ids[i] = map[ids[i]];
        return ids;
    }

    /// <summary>Saves the model as a checkpoint (PyTorch's state-dict names; see the README) that <see cref="Load"/> and <c>gpulstm sample</c> read.</summary>
    public void Save(string path)
    {
        new FilePlan().Output("the checkpoint", path).Check();
        var metadata = new Dictionary<string, string>();
        if (DefaultPrime is not null) metadata["prime"] = DefaultPrime;
        Checkpoint.Save(path, _model, _vocabulary, metadata);
    }

    public void Dispose()
    {
        _model.Dispose();
        _device.Dispose();
    }
}
