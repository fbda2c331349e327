using GpuLstm.Runtime.Data;
using GpuLstm.Runtime.Models;

namespace GpuLstm.Runtime.Sampling;

/// <summary>
/// The notebook's generation loop: predict from the last SeqLength tokens (from a zero state), reweight
/// with log(p + 1e-8)/T, renormalize, draw one token, append, repeat.
/// </summary>
internal sealed class Sampler
{
    private readonly LanguageModel _model;
    private readonly ITokenizer _vocab;
    private readonly float[] _weights;
    private readonly float[] _selection;

    /// <summary>Top-k: draw only among the k most likely tokens (0: all). Greedy: always the most likely (temperature ignored).</summary>
    public int TopK { get; init; }
    public bool Greedy { get; init; }

    public Sampler(LanguageModel model, ITokenizer vocab, int topK = 0, bool greedy = false)
    {
        if (topK < 0) throw new SettingException(nameof(TopK), $"top-k must be 0 (off) or positive, got {topK}", "top-k");
        _model = model;
        _vocab = vocab;
        _weights = new float[vocab.Count];
        _selection = new float[vocab.Count];
        TopK = topK;
        Greedy = greedy;
    }

    /// <summary>The next token from the model's logits, by the configured rule (<see cref="TokenDraw"/>).</summary>
    private int Next(ReadOnlySpan<float> logits, double temperature, Rng rng) =>
        Greedy ? TokenDraw.ArgMax(logits) : TokenDraw.Draw(logits, temperature, TopK, rng, _weights, _selection);

    public static void ValidateTemperature(double temperature)
    {
        if (!(temperature > 0) || double.IsInfinity(temperature))
            throw new SettingException("Temperature", $"temperature must be a positive number, got {temperature}", "temperature");
    }

    /// <summary>Generates <paramref name="length"/> tokens after <paramref name="prime"/>; returns only the generated text.</summary>
    public string Generate(string prime, int length, double temperature, Rng rng) =>
        string.Concat(Tokens(prime, length, temperature, rng, carryState: false));

    /// <summary>The notebook's loop, streaming each token's text to <paramref name="onToken"/> as it is drawn; see <see cref="Tokens"/>.</summary>
    public void Generate(string prime, int length, double temperature, Rng rng, Action<string> onToken, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(onToken);
        foreach (var piece in Tokens(prime, length, temperature, rng, carryState: false, cancel)) onToken(piece);
    }

    /// <summary>char-rnn's loop: one step per token, carrying the state. Returns the generated text.</summary>
    public string GenerateCarryingState(string prime, int length, double temperature, Rng rng) =>
        string.Concat(Tokens(prime, length, temperature, rng, carryState: true));

    /// <summary>char-rnn's loop, streaming each token's text to <paramref name="onToken"/>; see <see cref="Tokens"/>.</summary>
    public void GenerateCarryingState(string prime, int length, double temperature, Rng rng, Action<string> onToken, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(onToken);
        foreach (var piece in Tokens(prime, length, temperature, rng, carryState: true, cancel)) onToken(piece);
    }

    /// <summary>
    /// The text of each of <paramref name="length"/> tokens after <paramref name="prime"/>, drawn one at a time as
    /// the sequence is enumerated, in constant memory whatever the length (a sampler holds one window at most).
    /// Without <paramref name="carryState"/>, the notebook's loop: every token re-runs the last SeqLength tokens
    /// from a zero state. With it, char-rnn's: the prime is fed one token at a time carrying the state, then each
    /// drawn token is fed back. Cancelling stops with <see cref="OperationCanceledException"/> before the next token.
    /// The settings are checked when the sequence is made, not when it is first read.
    /// </summary>
    public IEnumerable<string> Tokens(string prime, int length, double temperature, Rng rng, bool carryState, CancellationToken cancel = default)
    {
        var primeIds = Start(prime, length, temperature);
        return carryState ? CarryingState(primeIds, length, temperature, rng, cancel) : Windows(primeIds, length, temperature, rng, cancel);
    }

    private IEnumerable<string> Windows(int[] primeIds, int length, double temperature, Rng rng, CancellationToken cancel)
    {
        int window = _model.Config.SeqLength;
        // The last `window` tokens, kept in a buffer that is compacted when full: no growth with length.
        var history = new int[Math.Max(2 * window, primeIds.Length)];
        primeIds.CopyTo(history, 0);
        int count = primeIds.Length;
        for (int i = 0; i < length; i++)
        {
            cancel.ThrowIfCancellationRequested();
            if (count == history.Length)
            {
                Array.Copy(history, count - window, history, 0, window);
                count = window;
            }
            int from = Math.Max(0, count - window);
            int next = Next(_model.PredictNextLogits(history.AsSpan(from, count - from)), temperature, rng);
            string piece = _vocab.Append(history[count - 1], next);
            history[count++] = next;
            yield return piece;
        }
    }

    private IEnumerable<string> CarryingState(int[] primeIds, int length, double temperature, Rng rng, CancellationToken cancel)
    {
        _model.ResetStream();
        foreach (int id in primeIds)
        {
            cancel.ThrowIfCancellationRequested();
            _model.StreamNextLogits(id);
        }
        int previous = primeIds[^1];
        for (int i = 0; i < length; i++)
        {
            cancel.ThrowIfCancellationRequested();
            // The logits of the last fed token are in the model's host buffer until the next step.
            int next = Next(_model.LastStreamLogits, temperature, rng);
            string piece = _vocab.Append(previous, next);
            previous = next;
            if (i + 1 < length) _model.StreamNextLogits(next);
            yield return piece;
        }
    }

    /// <summary>
    /// <see cref="Tokens"/> for several samples at once, one per generator in <paramref name="rngs"/> (at most the
    /// model's batch), batched through the model: each step runs every stream in one forward and yields the
    /// text of each stream's new token. Stream b draws from rngs[b] exactly as a single sample would.
    /// </summary>
    public IEnumerable<string[]> BatchTokens(string prime, int length, double temperature, IReadOnlyList<Rng> rngs, bool carryState, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(rngs);
        if (rngs.Count < 1 || rngs.Count > _model.MaxBatch)
            throw new ArgumentOutOfRangeException(nameof(rngs), $"{rngs.Count} streams; the model takes 1 to {_model.MaxBatch}");
        var primeIds = Start(prime, length, temperature);
        return carryState ? BatchCarryingState(primeIds, length, temperature, rngs, cancel) : BatchWindows(primeIds, length, temperature, rngs, cancel);
    }

    private IEnumerable<string[]> BatchWindows(int[] primeIds, int length, double temperature, IReadOnlyList<Rng> rngs, CancellationToken cancel)
    {
        int window = _model.Config.SeqLength, batch = rngs.Count, v = _vocab.Count;
        // Every stream has the same length at every step, so the last `window` tokens of all streams form one
        // (T,B) time-major block: history[t·B + b] is token t of stream b, compacted when full as in Windows.
        int capacity = Math.Max(2 * window, primeIds.Length);
        var history = new int[capacity * batch];
        for (int t = 0; t < primeIds.Length; t++) history.AsSpan(t * batch, batch).Fill(primeIds[t]);
        int count = primeIds.Length;
        for (int i = 0; i < length; i++)
        {
            cancel.ThrowIfCancellationRequested();
            if (count == capacity)
            {
                Array.Copy(history, (count - window) * batch, history, 0, window * batch);
                count = window;
            }
            int from = Math.Max(0, count - window);
            var logits = _model.PredictNextLogits(history.AsSpan(from * batch, (count - from) * batch), batch);
            var pieces = new string[batch];
            for (int b = 0; b < batch; b++)
            {
                int next = Next(logits.Slice(b * v, v), temperature, rngs[b]);
                pieces[b] = _vocab.Append(history[(count - 1) * batch + b], next);
                history[count * batch + b] = next;
            }
            count++;
            yield return pieces;
        }
    }

    private IEnumerable<string[]> BatchCarryingState(int[] primeIds, int length, double temperature, IReadOnlyList<Rng> rngs, CancellationToken cancel)
    {
        int batch = rngs.Count, v = _vocab.Count;
        var fed = new int[batch];
        _model.ResetStreams(batch);
        foreach (int id in primeIds)
        {
            cancel.ThrowIfCancellationRequested();
            Array.Fill(fed, id);
            _model.StreamNextLogits(fed);
        }
        var previous = new int[batch];
        Array.Fill(previous, primeIds[^1]);
        var next = new int[batch];
        for (int i = 0; i < length; i++)
        {
            cancel.ThrowIfCancellationRequested();
            var logits = _model.LastBatchLogits(batch);
            var pieces = new string[batch];
            for (int b = 0; b < batch; b++)
            {
                next[b] = Next(logits.Slice(b * v, v), temperature, rngs[b]);
                pieces[b] = _vocab.Append(previous[b], next[b]);
            }
            (previous, next) = (next, previous);
            if (i + 1 < length) _model.StreamNextLogits(previous);
            yield return pieces;
        }
    }

    /// <summary>Checks the settings and encodes the prime.</summary>
    private int[] Start(string prime, int length, double temperature)
    {
        ValidateTemperature(temperature);
        if (length < 0) throw new SettingException("Length", $"the length must be 0 or more, got {length}", "the length");
        var primeIds = _vocab.Encode(prime, "the prime text");
        if (primeIds.Length == 0) throw new SettingException("Prime", "the prime text is empty; give at least one token");
        return primeIds;
    }
}
