using GpuLstm.Runtime.Data;
using GpuLstm.Runtime.Models;

namespace GpuLstm.Runtime.Data;

/// <summary>
/// Every window of <c>SeqLength</c> tokens with stride 1 and the token that follows it: the notebook's
/// dataset (179 chars, T = 50 → 129 pairs). Batches are gathered straight into a reused <see cref="TokenBatch"/>.
/// </summary>
internal sealed class WindowDataset
{
    private readonly int[] _tokens;

    public int SeqLength { get; }
    public int Count => _tokens.Length - SeqLength;

    public WindowDataset(int[] tokens, int seqLength)
    {
        if (seqLength < 1) throw new GpuLstmException($"sequence length must be positive, got {seqLength}");
        if (tokens.Length < (long)seqLength + 1)
            throw new GpuLstmException($"the training text has {tokens.Length} tokens; it needs at least seq_length + 1 = {(long)seqLength + 1}");
        _tokens = tokens;
        SeqLength = seqLength;
    }

    /// <summary>Fills <paramref name="batch"/> with the windows starting at <paramref name="starts"/>, time-major.</summary>
    public void FillBatch(ReadOnlySpan<int> starts, TokenBatch batch, LossPositions positions)
    {
        int size = starts.Length, steps = SeqLength;
        batch.Steps = steps;
        batch.Size = size;
        for (int b = 0; b < size; b++)
        {
            int start = starts[b];
            for (int t = 0; t < steps; t++) batch.Inputs[t * size + b] = _tokens[start + t];
            if (positions == LossPositions.Last)
                batch.Targets[b] = _tokens[start + steps];
            else
                for (int t = 0; t < steps; t++) batch.Targets[t * size + b] = _tokens[start + t + 1];
        }
    }
}
