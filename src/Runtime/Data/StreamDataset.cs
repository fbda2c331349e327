using GpuLstm.Runtime.Data;
using GpuLstm.Runtime.Models;

namespace GpuLstm.Runtime.Data;

/// <summary>
/// char-rnn's batching for truncated BPTT: a token range cut into B contiguous streams of L tokens each
/// (the remainder dropped), read T tokens at a time. Batch i holds tokens i·T … i·T+T−1 of every stream,
/// with targets one token later, so batch i+1 continues each stream exactly where batch i ended and the
/// model can carry (h, c) across them. The last batch of a pass may be shorter than T.
/// </summary>
internal sealed class StreamDataset
{
    private readonly int[] _tokens;
    private readonly int _start;

    public int Streams { get; }        // B
    public int Steps { get; }          // T
    public int StreamLength { get; }   // L: predicted positions per stream and pass
    public int BatchesPerEpoch => (StreamLength + Steps - 1) / Steps;
    /// <summary>Predicted tokens per pass: B·L.</summary>
    public long Positions => (long)Streams * StreamLength;

    /// <param name="tokens">The whole corpus's ids.</param>
    /// <param name="start">First token of the range.</param>
    /// <param name="length">Tokens in the range (inputs and targets).</param>
    public StreamDataset(int[] tokens, int start, int length, int streams, int steps, string what = "the training text")
    {
        if (streams < 1) throw new GpuLstmException($"batch size must be positive, got {streams}");
        if (steps < 1) throw new GpuLstmException($"sequence length must be positive, got {steps}");
        if (start < 0 || length < 0 || (long)start + length > tokens.Length) throw new ArgumentOutOfRangeException(nameof(length));
        int streamLength = (length - 1) / streams;
        if (length < 2 || streamLength < 1)
            throw new SettingException("BatchSize", $"{what} has {length} tokens, too few for {streams} streams (it needs at least {(long)streams + 1}); use a smaller batch");
        _tokens = tokens;
        _start = start;
        Streams = streams;
        Steps = steps;
        StreamLength = streamLength;
    }

    /// <summary>Steps in batch <paramref name="index"/>: T, or what is left of the streams.</summary>
    public int StepsOf(int index) => Math.Min(Steps, StreamLength - index * Steps);

    /// <summary>Fills batch <paramref name="index"/> time-major, with targets at every position.</summary>
    public void FillBatch(int index, TokenBatch batch)
    {
        if (index < 0 || index >= BatchesPerEpoch) throw new ArgumentOutOfRangeException(nameof(index));
        int steps = StepsOf(index), size = Streams;
        batch.Steps = steps;
        batch.Size = size;
        for (int b = 0; b < size; b++)
        {
            int from = _start + b * StreamLength + index * Steps;
            for (int t = 0; t < steps; t++)
            {
                batch.Inputs[t * size + b] = _tokens[from + t];
                batch.Targets[t * size + b] = _tokens[from + t + 1];
            }
        }
    }
}
