namespace GpuLstm;

/// <summary>How evaluation treats the state between windows.</summary>
public enum EvalState
{
    /// <summary>B streams read in order with (h, c) carried across windows, as training runs (char-rnn).</summary>
    Carry,
    /// <summary>Non-overlapping windows of T+1 tokens, each from a zero state (the TorchSharp peer's val_bpc).</summary>
    Reset,
}

/// <summary>
/// Mean loss per predicted token over a token range, and its bits per token and perplexity. For a word model,
/// <see cref="UnknownTokens"/> of the text's <see cref="TextTokens"/> were outside the vocabulary (scored as
/// &lt;unk&gt;): a perplexity over unknown words is not comparable across vocabularies.
/// </summary>
public sealed record EvalResult(double Loss, long Tokens, long TextTokens = 0, long UnknownTokens = 0)
{
    public double BitsPerToken => Loss / Math.Log(2);
    public double Perplexity => Math.Exp(Loss);
}
