namespace GpuLstm.Runtime.Data;

/// <summary>Which positions of a window the loss sees.</summary>
internal enum LossPositions
{
    /// <summary>Only the token after the window, from h_T (the Keras notebook).</summary>
    Last,
    /// <summary>The next token at every position (char-rnn).</summary>
    All,
}

/// <summary>
/// Host-side token ids for one batch, time-major: Inputs[t·B + b] is step t of sequence b. Targets are
/// (B) in Last mode, (T,B) in All mode. Arrays are sized once for the model's capacity.
/// </summary>
internal sealed class TokenBatch
{
    public int[] Inputs { get; }
    public int[] Targets { get; }
    public int Steps { get; set; }
    public int Size { get; set; }

    public TokenBatch(int maxSteps, int maxBatch)
    {
        Inputs = new int[maxSteps * maxBatch];
        Targets = new int[maxSteps * maxBatch];
    }
}
