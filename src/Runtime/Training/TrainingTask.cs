using ILGPU;
using GpuLstm.Runtime.Data;
using GpuLstm.Runtime.Models;
using GpuLstm.Runtime.Series;

namespace GpuLstm.Runtime.Training;

/// <summary>
/// One enqueued step: its per-row losses (still on the device, reduced there by the step's end), the rows
/// they are (the step's weight in an epoch's mean loss), and the tokens or samples it consumed (for throughput).
/// </summary>
internal readonly record struct StepWork(ArrayView<float> RowLosses, long Rows, long Items);

/// <summary>
/// A model and its training data as <see cref="Trainer"/> drives them, one batch at a time: the one thing text
/// and series training do differently. The trainer owns everything else (Adam, clipping, divergence checks,
/// early stopping, evaluation, checkpoints, resume, cancellation).
/// </summary>
internal interface ITrainingTask
{
    ITrainableModel Model { get; }
    int BatchesPerEpoch { get; }
    /// <summary>True when batch i+1 continues batch i's sequences, so the state is carried across them (truncated BPTT).</summary>
    bool CarriesState { get; }
    /// <summary>Called once per epoch, in order from 0 (a resumed run replays the epochs before its own).</summary>
    void BeginEpoch(int epoch);
    /// <summary>
    /// Enqueues forward and backward on batch <paramref name="index"/> of the current epoch, without waiting for
    /// the device: the gradient of the mean loss goes into the model's parameter set, the per-row losses stay
    /// on the device.
    /// </summary>
    StepWork Step(int index, bool fromCarriedState, uint dropoutKey);
    /// <summary>After a step, when <see cref="CarriesState"/>: its final state becomes the next batch's initial state.</summary>
    void CarryState();
    /// <summary>Floats in the carried state (0 when nothing is carried), for a resumable checkpoint.</summary>
    int StateLength { get; }
    void ReadState(Span<float> destination);
    void WriteState(ReadOnlySpan<float> source);
}

/// <summary>A language model over token batches from an <see cref="IBatchSource"/>: shuffled windows or carried streams.</summary>
internal sealed class LanguageModelTask : ITrainingTask
{
    private readonly LanguageModel _model;
    private readonly IBatchSource _source;
    private readonly TokenBatch _batch;

    public LanguageModelTask(LanguageModel model, IBatchSource source)
    {
        if (source.MaxBatch > model.MaxBatch || source.MaxSteps > model.Config.SeqLength)
            throw new ArgumentException($"batches ({source.MaxSteps} × {source.MaxBatch}) exceed the model's capacity ({model.Config.SeqLength} × {model.MaxBatch})");
        _model = model;
        _source = source;
        _batch = new TokenBatch(source.MaxSteps, source.MaxBatch);
    }

    public ITrainableModel Model => _model;
    public int BatchesPerEpoch => _source.BatchesPerEpoch;
    public bool CarriesState => _source.CarriesState;
    public void BeginEpoch(int epoch) => _source.BeginEpoch(epoch);

    public StepWork Step(int index, bool fromCarriedState, uint dropoutKey)
    {
        _source.FillBatch(index, _batch);
        int rows = _model.ComputeGradients(_batch, fromCarriedState, dropoutKey);
        return new StepWork(_model.RowLosses(rows), rows, (long)_batch.Steps * _batch.Size);
    }

    public void CarryState() => _model.CarryState(_batch.Steps, _batch.Size);
    public int StateLength => CarriesState ? _model.StateLength(_source.MaxBatch) : 0;
    public void ReadState(Span<float> destination) => _model.ReadState(_source.MaxBatch, destination);
    public void WriteState(ReadOnlySpan<float> source) => _model.WriteState(_source.MaxBatch, source);
}

/// <summary>
/// A series model over the training windows of a <see cref="SeriesPanel"/> (one series or many), in batches of B,
/// shuffled each epoch by one seeded generator that runs for the whole training (epoch e's order depends on every
/// earlier shuffle, so a resumed run replays them). A batch may mix series. Each window starts from a zero state.
/// </summary>
internal sealed class SeriesTask : ITrainingTask
{
    private readonly SeriesModel _model;
    private readonly SeriesPanel _panel;
    private readonly int _batch;
    private readonly PanelSample[] _order;
    private readonly Rng _shuffle;
    private readonly float[] _inputs, _targets;
    private int _nextEpoch;

    public SeriesTask(SeriesModel model, SeriesProblem problem, int batch, ulong seed) : this(model, new SeriesPanel([problem], ["series"]), batch, seed) { }

    public SeriesTask(SeriesModel model, SeriesPanel panel, int batch, ulong seed)
    {
        if (batch < 1 || batch > model.MaxBatch) throw new SettingException("BatchSize", $"the batch must be 1 to {model.MaxBatch}, got {batch}", "the batch");
        _order = panel.Samples(SeriesPart.Train);
        if (_order.Length == 0) throw new GpuLstmException("the train part has no samples");
        _model = model;
        _panel = panel;
        _batch = batch;
        _shuffle = Rng.ForPurpose(seed, "shuffle");
        _inputs = new float[panel.Window * batch * panel.InputWidth];
        _targets = new float[batch * panel.Horizon];
    }

    public ITrainableModel Model => _model;
    public int BatchesPerEpoch => (_order.Length + _batch - 1) / _batch;
    public bool CarriesState => false;

    public void BeginEpoch(int epoch)
    {
        if (epoch != _nextEpoch) throw new InvalidOperationException($"epochs must begin in order: expected {_nextEpoch}, got {epoch}");
        _nextEpoch++;
        _shuffle.Shuffle(_order.AsSpan());
    }

    public StepWork Step(int index, bool fromCarriedState, uint dropoutKey)
    {
        int start = index * _batch, size = Math.Min(_batch, _order.Length - start);
        _panel.FillBatch(_order.AsSpan(start, size), _inputs, _targets);
        _model.ComputeGradients(_inputs, _targets, size, dropoutKey);
        return new StepWork(_model.RowLosses(size), size, size);
    }

    public void CarryState() => throw new InvalidOperationException("series windows carry no state");
    public int StateLength => 0;
    public void ReadState(Span<float> destination) { }
    public void WriteState(ReadOnlySpan<float> source) { }
}
