using GpuLstm.Runtime.Data;
using GpuLstm.Runtime.Models;

namespace GpuLstm.Runtime.Training;

/// <summary>Where the trainer's batches come from, epoch by epoch.</summary>
internal interface IBatchSource
{
    int BatchesPerEpoch { get; }
    /// <summary>True when batch i+1 continues batch i's sequences, so the model carries (h, c) across them.</summary>
    bool CarriesState { get; }
    int MaxBatch { get; }
    int MaxSteps { get; }
    /// <summary>Called once per epoch, in order from 0 (a resumed run replays the epochs before its own).</summary>
    void BeginEpoch(int epoch);
    void FillBatch(int index, TokenBatch batch);
}

/// <summary>
/// Keras's fit: every window, shuffled each epoch by one seeded generator, in batches of B (the last one
/// partial). Each window starts from a zero state.
/// </summary>
internal sealed class ShuffledWindowBatches : IBatchSource
{
    private readonly WindowDataset _data;
    private readonly LossPositions _positions;
    private readonly Rng _shuffle;
    private readonly int[] _order;
    private int _nextEpoch;

    public ShuffledWindowBatches(WindowDataset data, int batchSize, LossPositions positions, ulong seed)
    {
        _data = data;
        _positions = positions;
        MaxBatch = Math.Min(batchSize, data.Count);
        _shuffle = Rng.ForPurpose(seed, "shuffle");
        _order = new int[data.Count];
    }

    public int BatchesPerEpoch => (_order.Length + MaxBatch - 1) / MaxBatch;
    public bool CarriesState => false;
    public int MaxBatch { get; }
    public int MaxSteps => _data.SeqLength;

    public void BeginEpoch(int epoch)
    {
        if (epoch != _nextEpoch) throw new InvalidOperationException($"epochs must begin in order: expected {_nextEpoch}, got {epoch}");
        _nextEpoch++;
        for (int i = 0; i < _order.Length; i++) _order[i] = i;
        _shuffle.Shuffle(_order);
    }

    public void FillBatch(int index, TokenBatch batch)
    {
        int start = index * MaxBatch;
        _data.FillBatch(_order.AsSpan(start, Math.Min(MaxBatch, _order.Length - start)), batch, _positions);
    }
}

/// <summary>char-rnn's truncated BPTT: B contiguous streams read in order, state carried across batches, reset each epoch.</summary>
internal sealed class StreamBatches(StreamDataset data) : IBatchSource
{
    public int BatchesPerEpoch => data.BatchesPerEpoch;
    public bool CarriesState => true;
    public int MaxBatch => data.Streams;
    public int MaxSteps => data.Steps;
    public void BeginEpoch(int epoch) { }
    public void FillBatch(int index, TokenBatch batch) => data.FillBatch(index, batch);
}
