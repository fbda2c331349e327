using GpuLstm.Runtime.Data;
using GpuLstm.Runtime.Models;

namespace GpuLstm.Runtime.Sampling;

/// <summary>
/// The notebook's generation loop: predict from the last SeqLength tokens (from a zero state), reweight
/// with log(p + 1e-8)/T, renormalize, draw one token, append, repeat.
/// </summary>
public sealed class Sampler
{
    private readonly CharLstmModel _model;
    private readonly Vocabulary _vocab;
    private readonly double[] _weights;

    public Sampler(CharLstmModel model, Vocabulary vocab)
    {
        _model = model;
        _vocab = vocab;
        _weights = new double[vocab.Count];
    }

    public static void ValidateTemperature(double temperature)
    {
        if (!(temperature > 0) || double.IsInfinity(temperature))
            throw new GpuLstmException($"temperature must be a positive finite number, got {temperature}");
    }

    /// <summary>Generates <paramref name="length"/> tokens after <paramref name="prime"/>; returns only the generated text.</summary>
    public string Generate(string prime, int length, double temperature, Rng rng, Action<string>? onToken = null)
    {
        ValidateTemperature(temperature);
        if (length < 0) throw new GpuLstmException($"length must be 0 or more, got {length}");
        var primeIds = _vocab.Encode(prime, "the prime text");
        if (primeIds.Length == 0) throw new GpuLstmException("the prime text is empty; give at least one character");
        int window = _model.Config.SeqLength;
        var history = new List<int>(primeIds.Length + length);
        history.AddRange(primeIds);
        var generated = new int[length];
        for (int i = 0; i < length; i++)
        {
            int from = Math.Max(0, history.Count - window);
            var logits = _model.PredictNextLogits(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(history)[from..]);
            int next = Draw(Softmax(logits, _weights), temperature, rng, _weights);
            history.Add(next);
            generated[i] = next;
            onToken?.Invoke(_vocab.Decode(next));
        }
        return _vocab.Decode(generated);
    }

    /// <summary>
    /// char-rnn's generation loop: feed the prime one token at a time, carrying (h, c), then feed each drawn
    /// token back. One step of the LSTM per character instead of a whole window.
    /// </summary>
    public string GenerateCarryingState(string prime, int length, double temperature, Rng rng, Action<string>? onToken = null)
    {
        ValidateTemperature(temperature);
        if (length < 0) throw new GpuLstmException($"length must be 0 or more, got {length}");
        var primeIds = _vocab.Encode(prime, "the prime text");
        if (primeIds.Length == 0) throw new GpuLstmException("the prime text is empty; give at least one character");
        _model.ResetStream();
        ReadOnlySpan<float> logits = default;
        foreach (int id in primeIds) logits = _model.StreamNextLogits(id);
        var generated = new int[length];
        for (int i = 0; i < length; i++)
        {
            int next = Draw(Softmax(logits, _weights), temperature, rng, _weights);
            generated[i] = next;
            onToken?.Invoke(_vocab.Decode(next));
            if (i + 1 < length) logits = _model.StreamNextLogits(next);
        }
        return _vocab.Decode(generated);
    }

    /// <summary>The model's probabilities in float64 (the notebook casts predict's output to float64 first).</summary>
    public static double[] Softmax(ReadOnlySpan<float> logits, double[] p)
    {
        double max = double.NegativeInfinity;
        foreach (float l in logits) max = Math.Max(max, l);
        double sum = 0;
        for (int i = 0; i < logits.Length; i++) sum += p[i] = Math.Exp(logits[i] - max);
        for (int i = 0; i < logits.Length; i++) p[i] /= sum;
        return p;
    }

    /// <summary>
    /// The notebook's sample(): log(p + 1e-8)/T, exp, normalize, one multinomial draw. <paramref name="scratch"/>
    /// may be <paramref name="probabilities"/> itself.
    /// </summary>
    public static int Draw(double[] probabilities, double temperature, Rng rng, double[] scratch)
    {
        double max = double.NegativeInfinity;
        for (int i = 0; i < probabilities.Length; i++)
        {
            scratch[i] = Math.Log(probabilities[i] + 1e-8) / temperature;
            max = Math.Max(max, scratch[i]);
        }
        double sum = 0;
        for (int i = 0; i < probabilities.Length; i++) sum += scratch[i] = Math.Exp(scratch[i] - max);
        double u = rng.NextDouble() * sum;
        double cumulative = 0;
        for (int i = 0; i < probabilities.Length; i++)
        {
            cumulative += scratch[i];
            if (u < cumulative) return i;
        }
        // u landed in the rounding gap at the top: the last token with any weight.
        for (int i = probabilities.Length - 1; i >= 0; i--) if (scratch[i] > 0) return i;
        return probabilities.Length - 1;
    }
}
