using GpuLstm.Runtime.Compute;
using GpuLstm.Runtime.Models.Cells;
using ILGPU;
using ILGPU.Runtime;

namespace GpuLstm.Runtime.Models;

/// <summary>
/// The shape of a numeric-series forecaster: F features per time step, a window of T steps in, K steps
/// (horizon) out, L stacked levels of hidden size H of <see cref="Cell"/>, each level one direction or two,
/// and dropout between levels (training only). C# puts optional parameters last, so the required Hidden,
/// Window and Horizon come first.
/// </summary>
internal sealed record SeriesModelConfig(int Hidden, int Window, int Horizon, int Features = 1, int Layers = 1,
    bool Bidirectional = false, float Dropout = 0)
{
    /// <summary>The recurrent cell of every level and direction.</summary>
    public RecurrentCell Cell { get; init; } = RecurrentCell.Lstm;

    /// <summary>What the head predicts per horizon step and the loss it trains with (default: a point forecast, MSE).</summary>
    public SeriesHead Head { get; init; } = SeriesHead.Point;

    /// <summary>The head's outputs per window: K·(outputs per step), laid out as <see cref="SeriesHead"/> says.</summary>
    public int HeadOutputs => Horizon * Head.OutputsPerStep;

    /// <summary>1, or 2 when bidirectional.</summary>
    public int Directions => Bidirectional ? 2 : 1;

    public StackShape Stack => new(Cell, Hidden, Layers, Bidirectional, Dropout);

    public void Validate()
    {
        if (Features < 1) throw new GpuLstmException($"a series needs at least one feature per time step, got {Features}");
        if (Window < 1) throw new SettingException(nameof(Window), $"the input window must be at least one step, got {Window}", "the input window");
        if (Horizon < 1) throw new SettingException(nameof(Horizon), $"the forecast horizon must be at least one step, got {Horizon}", "the forecast horizon");
        Stack.Validate();
        long parameters = ParameterCount;
        if (parameters > LanguageModelConfig.MaxParameters)
            throw new SettingException(nameof(Hidden), $"the model would have {parameters:N0} parameters; the limit is {LanguageModelConfig.MaxParameters:N0} (use a smaller hidden size or fewer layers)");
    }

    /// <summary>Every parameter: the stack's levels and directions, and the head.</summary>
    public long ParameterCount => Stack.ParameterCount(Features) + (long)Directions * Hidden * HeadOutputs + HeadOutputs;
}

/// <summary>
/// Numeric-series forecasting: x (T,B,F) time-major dense floats → a <see cref="RecurrentStack"/> → a Dense
/// head on the top level's final state (B,D·H), PyTorch's h_n of the top level → K·M outputs (M per step, see
/// <see cref="SeriesHead"/>) → the head's loss against targets (B,K): mean squared error, Gaussian negative
/// log-likelihood or pinball. The two directions of a bidirectional level are independent recurrences, so
/// both forwards run before either backward; a GPU could overlap them on two streams (not done: every call
/// goes through the kernel set's one stream). Owns its parameters and every buffer a step needs, sized for
/// (Window, maxBatch) once; a call allocates nothing.
/// </summary>
internal sealed class SeriesModel : ITrainableModel, IDisposable
{
    private readonly ComputeDevice _device;
    private readonly IKernelSet _k;
    private readonly NormReducer _norm;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _inputs;       // (T,B,F)
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _targets;      // (B,K)
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _predictions;  // (B,K·M) head outputs, overwritten by dL/dpred when the loss runs
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _loss;         // (B) per-row loss (mean over the row's outputs)
    private readonly MemoryBuffer1D<float, Stride1D.Dense>? _levels;      // (Q) a quantile head's levels, for the pinball kernel
    private readonly float[] _lossHost;    // (B)
    private readonly float[] _headHost;    // (B,K·M) when M > 1: head outputs on their way to a point forecast

    public SeriesModelConfig Config { get; }
    public int MaxBatch { get; }
    public ParameterSet Parameters { get; }
    public IKernelSet Kernels => _k;
    public ComputeDevice Device => _device;
    public RecurrentStack Stack { get; }

    /// <summary>Level l's forward-direction layer, l = 0 (reading x) … L−1.</summary>
    public IReadOnlyList<RecurrentLayer> ForwardLayers => Stack.ForwardLayers;

    /// <summary>Level l's reverse-direction layer; empty when not bidirectional.</summary>
    public IReadOnlyList<RecurrentLayer> ReverseLayers => Stack.ReverseLayers;

    /// <summary>y (B,K·M) = final state (B,D·H) · W (D·H,K·M) + b.</summary>
    public DenseLayer Head { get; }

    private int T => Config.Window;
    private int K => Config.Horizon;
    private int Outputs => Config.HeadOutputs;
    private int F => Config.Features;

    public SeriesModel(ComputeDevice device, SeriesModelConfig config, int maxBatch)
    {
        config.Validate();
        if (maxBatch < 1) throw new SettingException("BatchSize", $"batch size must be positive, got {maxBatch}", "batch size");
        int d = config.Directions, h = config.Hidden, t = config.Window;
        long stepRows = (long)t * maxBatch;
        KernelLimits.Check($"a window of {t:N0} steps × batch {maxBatch:N0}", stepRows,
            ("a gate buffer (T·B·G·H)", stepRows * config.Cell.Gates * h), ("a level's output (T·B·D·H)", stepRows * d * h),
            ("the input (T·B·F)", stepRows * config.Features));
        _device = device;
        _k = device.Kernels;
        Config = config;
        MaxBatch = maxBatch;
        var acc = device.Accelerator;
        // Declaration order fixes the parameter layout: per level forward then reverse, then the head.
        Parameters = new ParameterSet();
        Stack = new RecurrentStack(config.Stack, _k, acc, Parameters, config.Features, t, maxBatch, topOutputs: false);
        Head = new DenseLayer(_k, Parameters, "head", d * h, config.HeadOutputs);
        Parameters.Allocate(acc);
        _norm = new NormReducer(_k, acc);
        _inputs = acc.Allocate1D<float>((long)t * maxBatch * config.Features);
        _targets = acc.Allocate1D<float>((long)maxBatch * config.Horizon);
        _predictions = acc.Allocate1D<float>((long)maxBatch * config.HeadOutputs);
        _loss = acc.Allocate1D<float>(maxBatch);
        _lossHost = new float[maxBatch];
        _headHost = config.Head.OutputsPerStep > 1 ? new float[(long)maxBatch * config.HeadOutputs] : [];
        if (config.Head.Likelihood == SeriesLikelihood.Quantile)
        {
            _levels = acc.Allocate1D<float>(config.Head.Quantiles.Count);
            _k.Upload<float>(config.Head.Quantiles.Select(q => (float)q).ToArray(), _levels.View);
        }
    }

    /// <summary>Keras's defaults for every layer (forward then reverse, level by level) and the head, from one seeded stream.</summary>
    public void InitializeKerasDefaults(ulong seed)
    {
        var rng = Rng.ForPurpose(seed, "init");
        Stack.InitializeKerasDefaults(rng);
        Head.InitializeKerasDefaults(rng);
        _k.Synchronize();
    }

    private LayerInput Input => LayerInput.FromDense(_inputs.Flat());

    /// <summary>Uploads x (and targets), runs every level and the head: predictions (B,K·M) hold the head's outputs.</summary>
    private void Forward(float[] inputs, float[]? targets, int batch, bool training = false, uint dropoutKey = 0)
    {
        CheckBatch(batch);
        int inputLength = T * batch * F, targetLength = batch * K;
        ArgumentNullException.ThrowIfNull(inputs);
        if (inputs.Length < inputLength)
            throw new ArgumentException($"inputs hold {inputs.Length} values; a batch of {batch} windows (T={T}, B={batch}, F={F}) needs {inputLength}", nameof(inputs));
        if (targets is not null && targets.Length < targetLength)
            throw new ArgumentException($"targets hold {targets.Length} values; a batch of {batch} forecasts (B={batch}, K={K}) needs {targetLength}", nameof(targets));
        _k.Upload<float>(inputs.AsSpan(0, inputLength), _inputs.Flat().SubView(0, inputLength));
        if (targets is not null) _k.Upload<float>(targets.AsSpan(0, targetLength), _targets.Flat().SubView(0, targetLength));
        Stack.Forward(Input, T, batch, training: training, dropoutKey: dropoutKey);
        Head.Forward(Stack.FinalState(T, batch), Predictions(batch), batch);
    }

    private void CheckBatch(int batch)
    {
        if (batch < 1 || batch > MaxBatch)
            throw new ArgumentOutOfRangeException(nameof(batch), $"batch of {batch}; the model takes 1 to {MaxBatch}");
    }

    private ArrayView<float> Predictions(int batch) => _predictions.Flat().SubView(0, (long)batch * Outputs);

    /// <summary>Forward to the per-row losses; leaves dL/dpred of the mean over B·K in the predictions buffer.</summary>
    private void ForwardLoss(float[] inputs, float[] targets, int batch, bool training, uint dropoutKey)
    {
        ArgumentNullException.ThrowIfNull(targets);
        Forward(inputs, targets, batch, training, dropoutKey);
        var predictions = Predictions(batch);
        var y = _targets.Flat().SubView(0, (long)batch * K);
        var loss = _loss.Flat().SubView(0, batch);
        // Row losses are means over the row's outputs already, so the mean over all of them is their mean over B: gradScale 1/B.
        switch (Config.Head.Likelihood)
        {
            case SeriesLikelihood.Gaussian:
                _k.GaussianNll(batch, K, predictions, y, predictions, loss, 1f / batch);
                break;
            case SeriesLikelihood.Quantile:
                _k.Pinball(batch, K, Config.Head.Quantiles.Count, predictions, y, _levels!.View, predictions, loss, 1f / batch);
                break;
            default:
                _k.MeanSquaredError(batch, K, predictions, y, predictions, loss, 1f / batch);
                break;
        }
    }

    private double ReadMeanLoss(int batch)
    {
        _k.Download(_loss.Flat().SubView(0, batch), _lossHost.AsSpan(0, batch));
        double sum = 0;
        for (int i = 0; i < batch; i++) sum += _lossHost[i];
        return sum / batch;
    }

    /// <summary>
    /// The head's loss (MSE, Gaussian NLL or pinball) over the B windows, without gradients or dropout. inputs: (T,B,F) time-major,
    /// element [(t·B + b)·F + f]; targets: (B,K). Only the first T·B·F and B·K values are read.
    /// </summary>
    public double Loss(float[] inputs, float[] targets, int batch)
    {
        ForwardLoss(inputs, targets, batch, training: false, 0);
        return ReadMeanLoss(batch);
    }

    /// <summary>
    /// The head's loss over the B windows, with the gradient of that mean written into
    /// <see cref="ParameterSet.Grads"/>. Dropout (when configured) draws its masks from <paramref name="dropoutKey"/>.
    /// </summary>
    public double LossAndGradients(float[] inputs, float[] targets, int batch, uint dropoutKey = 0)
    {
        ComputeGradients(inputs, targets, batch, dropoutKey);
        return ReadMeanLoss(batch);
    }

    /// <summary>
    /// <see cref="LossAndGradients"/> without waiting for the device: enqueues the step and leaves its B row losses
    /// in <see cref="RowLosses"/> (a training step reduces them on the device; see IKernelSet.FinishStep).
    /// </summary>
    public void ComputeGradients(float[] inputs, float[] targets, int batch, uint dropoutKey = 0)
    {
        ForwardLoss(inputs, targets, batch, training: true, dropoutKey);
        Head.Backward(Stack.FinalState(T, batch), Predictions(batch), Stack.FinalStateGradient(batch), batch);
        Stack.Backward(Input, T, batch, fromOutputs: false, default, computeInputGradient: false);
    }

    /// <summary>(B): the per-row losses of the last forward over <paramref name="batch"/> windows.</summary>
    public ArrayView<float> RowLosses(int batch) => _loss.Flat().SubView(0, batch);

    /// <summary>
    /// The forecast (B,K) for inputs (T,B,F) time-major, written into <paramref name="output"/> (at least B·K long):
    /// row b holds the K values after window b.
    /// </summary>
    public void Predict(float[] inputs, int batch, Span<float> output)
    {
        CheckBatch(batch);
        if (output.Length < batch * K)
            throw new ArgumentException($"the output holds {output.Length} values; a batch of {batch} forecasts of {K} needs {batch * K}", nameof(output));
        Forward(inputs, null, batch);
        if (Config.Head.OutputsPerStep == 1)
        {
            _k.Download(Predictions(batch), output[..(batch * K)]);
            return;
        }
        // The point forecast is one block of each head row: the mean, or the median.
        var head = _headHost.AsSpan(0, batch * Outputs);
        _k.Download(Predictions(batch), head);
        int block = Config.Head.PointBlock;
        for (int b = 0; b < batch; b++)
            head.Slice(b * Outputs + block * K, K).CopyTo(output.Slice(b * K, K));
    }

    /// <summary>
    /// The head's outputs (B,K·M) for inputs (T,B,F) time-major, written into <paramref name="output"/> (at least
    /// B·K·M long): row b is window b's M blocks of K, laid out as <see cref="SeriesHead"/> says.
    /// </summary>
    public void PredictHead(float[] inputs, int batch, Span<float> output)
    {
        CheckBatch(batch);
        if (output.Length < batch * Outputs)
            throw new ArgumentException($"the output holds {output.Length} values; a batch of {batch} head rows of {Outputs} needs {batch * Outputs}", nameof(output));
        Forward(inputs, null, batch);
        _k.Download(Predictions(batch), output[..(batch * Outputs)]);
    }

    /// <summary>Global L2 norm of the gradients, reduced in float64 on the host from fixed partials.</summary>
    public double GradientNorm() => _norm.Of(Parameters.Grads);

    public void Dispose()
    {
        Stack.Dispose();
        Parameters.Dispose();
        _norm.Dispose();
        _inputs.Dispose(); _targets.Dispose(); _predictions.Dispose(); _loss.Dispose(); _levels?.Dispose();
    }
}
