using GpuLstm.Runtime.Compute;
using ILGPU;
using ILGPU.Runtime;

namespace GpuLstm.Runtime.Models;

/// <summary>
/// The shape of a numeric-series forecaster: F features per time step, a window of T steps in, K steps
/// (horizon) out, L stacked recurrent levels of hidden size H, each level one direction or two.
/// C# puts optional parameters last, so the required Hidden, Window and Horizon come first.
/// </summary>
public sealed record SeriesModelConfig(int Hidden, int Window, int Horizon, int Features = 1, int Layers = 1,
    bool Bidirectional = false, string Cell = "lstm")
{
    /// <summary>1, or 2 when bidirectional.</summary>
    public int Directions => Bidirectional ? 2 : 1;

    /// <summary>The cell's name as layers are created and named: trimmed, lower case.</summary>
    public string CellName => (Cell ?? "").Trim().ToLowerInvariant();

    public void Validate()
    {
        if (Features < 1) throw new GpuLstmException($"a series needs at least one feature per time step, got {Features}");
        if (Hidden < 1) throw new GpuLstmException($"hidden size must be positive, got {Hidden}");
        if (Window < 1) throw new GpuLstmException($"the input window must be at least one step, got {Window}");
        if (Horizon < 1) throw new GpuLstmException($"the forecast horizon must be at least one step, got {Horizon}");
        if (Layers < 1) throw new GpuLstmException($"layers must be positive, got {Layers}");
        if (CellName.Length == 0) throw new GpuLstmException("the recurrent cell must be named (for example 'lstm')");
        long parameters = ParameterCount;
        if (parameters > ModelConfig.MaxParameters)
            throw new SettingException("Hidden", $"the model would have {parameters:N0} parameters; the limit is {ModelConfig.MaxParameters:N0} (use a smaller hidden size or fewer layers)");
    }

    /// <summary>Parameters with an LSTM's four gates per level and direction (an upper bound for cells with fewer), plus the head.</summary>
    public long ParameterCount
    {
        get
        {
            long h = Hidden, total = 0;
            for (int l = 0; l < Layers; l++)
            {
                long input = l == 0 ? Features : Directions * h;
                total += Directions * (input * 4 * h + h * 4 * h + 4 * h);
            }
            return total + Directions * h * Horizon + Horizon;
        }
    }
}

/// <summary>
/// Numeric-series forecasting: x (T,B,F) time-major dense floats → L recurrent levels → a Dense head on the
/// top level's final state → K outputs → mean squared error against targets (B,K).
/// <para>
/// Bidirectional levels follow PyTorch: each level has a forward layer and a reverse layer that both read the
/// level's input; the next level reads concat(fwd_t, rev_t) (T,B,2H), and the head reads
/// concat(final forward state, final reverse state) (B,2H), PyTorch's h_n of the top level. The two directions
/// are independent recurrences, so both forwards run before either backward; a GPU could overlap them on two
/// streams (not done: every call goes through the kernel set's one stream).
/// </para>
/// Owns its parameters and every buffer a step needs, sized for (Window, maxBatch) once; a call allocates nothing.
/// </summary>
public sealed class SeriesModel : ITrainableModel, IDisposable
{
    private const int NormPartials = 256;

    private readonly ComputeDevice _device;
    private readonly IKernelSet _k;
    private readonly IRecurrentLayer[] _forward;  // L
    private readonly IRecurrentLayer[] _reverse;  // L when bidirectional, else empty
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _inputs;       // (T,B,F)
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _targets;      // (B,K)
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _predictions;  // (B,K), overwritten by dL/dpred when the loss runs
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _loss;         // (B) per-row mean squared error
    // Bidirectional only, length 1 otherwise:
    private readonly MemoryBuffer1D<float, Stride1D.Dense>[] _joined;     // L−1 × (T,B,2H): concat(fwd_t, rev_t) of level l, level l+1's input
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _headInput;    // (B,2H) concat of the top level's final states
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _dHeadInput;   // (B,2H) dL/d(head input)
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _dForward;     // (T,B,H) dL/d(forward outputs) of a level below the top
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _dReverse;     // (T,B,H) dL/d(reverse outputs) of a level below the top
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _dxReverse;    // (T,B,2H) the reverse direction's dx, before it is added to the forward's
    // L > 1 only, length 1 otherwise:
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _dOutputs;     // (T,B,D·H) dL/d(outputs of level l), = dL/dx of level l+1
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _normPartials; // (256)
    private readonly float[] _lossHost;    // (B)
    private readonly float[] _normHost = new float[NormPartials];

    public SeriesModelConfig Config { get; }
    public int MaxBatch { get; }
    public ParameterSet Parameters { get; }
    public IKernelSet Kernels => _k;
    public ComputeDevice Device => _device;

    /// <summary>Level l's forward-direction layer, l = 0 (reading x) … L−1.</summary>
    public IReadOnlyList<IRecurrentLayer> ForwardLayers => _forward;

    /// <summary>Level l's reverse-direction layer; empty when not bidirectional.</summary>
    public IReadOnlyList<IRecurrentLayer> ReverseLayers => _reverse;

    /// <summary>y (B,K) = final state (B,D·H) · W (D·H,K) + b.</summary>
    public DenseLayer Head { get; }

    private bool Bidirectional => Config.Bidirectional;
    private int H => Config.Hidden;
    private int T => Config.Window;
    private int K => Config.Horizon;
    private int F => Config.Features;

    public SeriesModel(ComputeDevice device, SeriesModelConfig config, int maxBatch)
    {
        config.Validate();
        if (maxBatch < 1) throw new GpuLstmException($"batch size must be positive, got {maxBatch}");
        int d = config.Directions, h = config.Hidden, t = config.Window;
        long widest = (long)t * maxBatch * Math.Max(config.Features, Math.Max(d * h, 4 * h));
        if (widest > int.MaxValue)
            throw new SettingException("BatchSize", $"a window of {t} steps × batch {maxBatch} is too large for one buffer (use a smaller batch or window)");
        _device = device;
        _k = device.Kernels;
        Config = config;
        MaxBatch = maxBatch;
        var acc = device.Accelerator;
        Parameters = new ParameterSet();
        string cell = config.CellName;
        _forward = new IRecurrentLayer[config.Layers];
        _reverse = new IRecurrentLayer[config.Bidirectional ? config.Layers : 0];
        // Declaration order fixes the parameter layout: per level forward then reverse, then the head.
        for (int l = 0; l < config.Layers; l++)
        {
            int inputSize = l == 0 ? config.Features : d * h;
            _forward[l] = CreateLayer(cell, $"{cell}{l}", inputSize, reverse: false);
            if (config.Bidirectional) _reverse[l] = CreateLayer(cell, $"{cell}{l}_reverse", inputSize, reverse: true);
        }
        Head = new DenseLayer(_k, Parameters, "head", d * h, config.Horizon);
        Parameters.Allocate(acc);

        long rows = (long)t * maxBatch;
        bool stacked = config.Layers > 1;
        _inputs = acc.Allocate1D<float>(rows * config.Features);
        _targets = acc.Allocate1D<float>((long)maxBatch * config.Horizon);
        _predictions = acc.Allocate1D<float>((long)maxBatch * config.Horizon);
        _loss = acc.Allocate1D<float>(maxBatch);
        _joined = new MemoryBuffer1D<float, Stride1D.Dense>[config.Bidirectional ? config.Layers - 1 : 0];
        for (int l = 0; l < _joined.Length; l++) _joined[l] = acc.Allocate1D<float>(rows * 2 * h);
        _headInput = acc.Allocate1D<float>(config.Bidirectional ? (long)maxBatch * 2 * h : 1);
        _dHeadInput = acc.Allocate1D<float>(config.Bidirectional ? (long)maxBatch * 2 * h : 1);
        bool split = config.Bidirectional && stacked;
        _dForward = acc.Allocate1D<float>(split ? rows * h : 1);
        _dReverse = acc.Allocate1D<float>(split ? rows * h : 1);
        _dxReverse = acc.Allocate1D<float>(split ? rows * 2 * h : 1);
        _dOutputs = acc.Allocate1D<float>(stacked ? rows * d * h : 1);
        _normPartials = acc.Allocate1D<float>(NormPartials);
        _lossHost = new float[maxBatch];
    }

    /// <summary>
    /// The one place a recurrent layer is made, so another cell plugs in here. Throws for a cell this build
    /// does not know, before anything is allocated (level 0's forward layer is created first).
    /// </summary>
    private IRecurrentLayer CreateLayer(string cell, string prefix, int inputSize, bool reverse) => cell switch
    {
        "lstm" => new LstmLayer(_k, _device.Accelerator, Parameters, prefix, inputSize, Config.Hidden, Config.Window, MaxBatch, reverse),
        "gru" => new GruLayer(_k, _device.Accelerator, Parameters, prefix, inputSize, Config.Hidden, Config.Window, MaxBatch, reverse),
        _ => throw new GpuLstmException($"unknown recurrent cell '{Config.Cell}'; known cells: lstm, gru"),
    };

    /// <summary>Keras's defaults for every layer (forward then reverse, level by level) and the head, from one seeded stream.</summary>
    public void InitializeKerasDefaults(ulong seed)
    {
        var rng = Rng.ForPurpose(seed, "init");
        for (int l = 0; l < _forward.Length; l++)
        {
            _forward[l].InitializeKerasDefaults(rng);
            if (Bidirectional) _reverse[l].InitializeKerasDefaults(rng);
        }
        Head.InitializeKerasDefaults(rng);
        _k.Synchronize();
    }

    /// <summary>Level l's input: x (T,B,F) for level 0; above it, level l−1's outputs (T,B,H), or their concatenation (T,B,2H).</summary>
    private LayerInput InputOf(int level, int batch) =>
        level == 0 ? LayerInput.FromDense(_inputs.Flat())
        : Bidirectional ? LayerInput.FromDense(_joined[level - 1].Flat())
        : LayerInput.FromDense(_forward[level - 1].Outputs(T, batch));

    /// <summary>(B,D·H): what the head reads, the top level's final state(s).</summary>
    private ArrayView<float> HeadInput(int batch) =>
        Bidirectional ? _headInput.Flat().SubView(0, (long)batch * 2 * H) : _forward[^1].LastOutput(T, batch);

    /// <summary>destination (R,2H) = concat(left (R,H), right (R,H)) along columns.</summary>
    private void Join(ArrayView<float> left, ArrayView<float> right, ArrayView<float> destination, int rows)
    {
        _k.CopyColumns(rows, H, left, H, 0, destination, 2 * H, 0);
        _k.CopyColumns(rows, H, right, H, 0, destination, 2 * H, H);
    }

    /// <summary>left (R,H), right (R,H) = the two column halves of source (R,2H).</summary>
    private void Split(ArrayView<float> source, ArrayView<float> left, ArrayView<float> right, int rows)
    {
        _k.CopyColumns(rows, H, source, 2 * H, 0, left, H, 0);
        _k.CopyColumns(rows, H, source, 2 * H, H, right, H, 0);
    }

    /// <summary>Uploads x (and targets), runs every level and the head: predictions (B,K) hold the forecast.</summary>
    private void Forward(float[] inputs, float[]? targets, int batch)
    {
        CheckBatch(batch);
        int inputLength = T * batch * F, targetLength = batch * K;
        ArgumentNullException.ThrowIfNull(inputs);
        if (inputs.Length < inputLength)
            throw new ArgumentException($"inputs hold {inputs.Length} values; a batch of {batch} windows (T={T}, B={batch}, F={F}) needs {inputLength}", nameof(inputs));
        if (targets is not null && targets.Length < targetLength)
            throw new ArgumentException($"targets hold {targets.Length} values; a batch of {batch} forecasts (B={batch}, K={K}) needs {targetLength}", nameof(targets));
        _inputs.Flat().SubView(0, inputLength).CopyFromCPU(inputs.AsSpan(0, inputLength));
        if (targets is not null) _targets.Flat().SubView(0, targetLength).CopyFromCPU(targets.AsSpan(0, targetLength));
        int rows = T * batch;
        for (int l = 0; l < _forward.Length; l++)
        {
            var input = InputOf(l, batch);
            _forward[l].Forward(input, T, batch);
            if (!Bidirectional) continue;
            _reverse[l].Forward(input, T, batch);
            if (l < _forward.Length - 1)
                Join(_forward[l].Outputs(T, batch), _reverse[l].Outputs(T, batch), _joined[l].Flat().SubView(0, (long)rows * 2 * H), rows);
        }
        if (Bidirectional)
            Join(_forward[^1].LastOutput(T, batch), _reverse[^1].LastOutput(T, batch), HeadInput(batch), batch);
        Head.Forward(HeadInput(batch), Predictions(batch), batch);
    }

    private void CheckBatch(int batch)
    {
        if (batch < 1 || batch > MaxBatch)
            throw new ArgumentOutOfRangeException(nameof(batch), $"batch of {batch}; the model takes 1 to {MaxBatch}");
    }

    private ArrayView<float> Predictions(int batch) => _predictions.Flat().SubView(0, (long)batch * K);

    /// <summary>Forward to the per-row losses; leaves dL/dpred of the mean over B·K in the predictions buffer.</summary>
    private void ForwardLoss(float[] inputs, float[] targets, int batch)
    {
        ArgumentNullException.ThrowIfNull(targets);
        Forward(inputs, targets, batch);
        var predictions = Predictions(batch);
        // Row losses are means over K already, so the mean over B·K is their mean over B: gradScale 1/B.
        _k.MeanSquaredError(batch, K, predictions, _targets.Flat().SubView(0, (long)batch * K), predictions,
            _loss.Flat().SubView(0, batch), 1f / batch);
    }

    private double ReadMeanLoss(int batch)
    {
        _loss.Flat().SubView(0, batch).CopyToCPU(_lossHost.AsSpan(0, batch));
        double sum = 0;
        for (int i = 0; i < batch; i++) sum += _lossHost[i];
        return sum / batch;
    }

    /// <summary>
    /// Mean squared error over the B·K forecasts, without gradients. inputs: (T,B,F) time-major, element
    /// [(t·B + b)·F + f]; targets: (B,K). Only the first T·B·F and B·K values are read.
    /// </summary>
    public double Loss(float[] inputs, float[] targets, int batch)
    {
        ForwardLoss(inputs, targets, batch);
        return ReadMeanLoss(batch);
    }

    /// <summary>Mean squared error over the B·K forecasts, with the gradient of that mean written into <see cref="ParameterSet.Grads"/>.</summary>
    public double LossAndGradients(float[] inputs, float[] targets, int batch)
    {
        ForwardLoss(inputs, targets, batch);
        var dPred = Predictions(batch);
        int top = _forward.Length - 1;
        int rows = T * batch;
        var dOutputs = _dOutputs.Flat();
        if (!Bidirectional)
        {
            Head.Backward(HeadInput(batch), dPred, _forward[top].LastOutputGradient(batch), batch);
            // Level l reads dL/d(its outputs) from dOutputs in its time loop and only afterwards writes its dL/dx
            // (level l−1's output gradient) into the same buffer, so one buffer serves every level.
            for (int l = top; l >= 0; l--)
                _forward[l].Backward(InputOf(l, batch), T, batch, dOutputs, hasOutputGradients: l < top, dOutputs, computeInputGradient: l > 0);
        }
        else
        {
            var dHead = _dHeadInput.Flat().SubView(0, (long)batch * 2 * H);
            Head.Backward(HeadInput(batch), dPred, dHead, batch);
            Split(dHead, _forward[top].LastOutputGradient(batch), _reverse[top].LastOutputGradient(batch), batch);
            long width = (long)rows * 2 * H;
            var dForward = _dForward.Flat();
            var dReverse = _dReverse.Flat();
            var dxReverse = _dxReverse.Flat();
            for (int l = top; l >= 0; l--)
            {
                bool hasOutputGradients = l < top;
                // dOutputs (T,B,2H) is consumed by the split, so it is free for this level's dx.
                if (hasOutputGradients)
                    Split(dOutputs.SubView(0, width), dForward.SubView(0, (long)rows * H), dReverse.SubView(0, (long)rows * H), rows);
                var input = InputOf(l, batch);
                bool dx = l > 0;
                _forward[l].Backward(input, T, batch, dForward, hasOutputGradients, dOutputs, dx);
                _reverse[l].Backward(input, T, batch, dReverse, hasOutputGradients, dxReverse, dx);
                // Both directions read the same input: its gradient is the sum of theirs.
                if (dx) _k.Accumulate(dxReverse.SubView(0, width), dOutputs.SubView(0, width));
            }
        }
        return ReadMeanLoss(batch);
    }

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
        Predictions(batch).CopyToCPU(output[..(batch * K)]);
    }

    /// <summary>Global L2 norm of the gradients, reduced in float64 on the host from fixed partials.</summary>
    public double GradientNorm()
    {
        _k.SumOfSquaresPartials(Parameters.Grads, _normPartials.Flat());
        _normPartials.Flat().CopyToCPU(_normHost.AsSpan());
        double sum = 0;
        foreach (float p in _normHost) sum += p;
        return Math.Sqrt(sum);
    }

    public void Dispose()
    {
        foreach (var layer in _forward) layer.Dispose();
        foreach (var layer in _reverse) layer.Dispose();
        foreach (var buffer in _joined) buffer.Dispose();
        Parameters.Dispose();
        _inputs.Dispose(); _targets.Dispose(); _predictions.Dispose(); _loss.Dispose();
        _headInput.Dispose(); _dHeadInput.Dispose(); _dForward.Dispose(); _dReverse.Dispose(); _dxReverse.Dispose();
        _dOutputs.Dispose(); _normPartials.Dispose();
    }
}
