using GpuLstm.Runtime.Compute;
using ILGPU;
using ILGPU.Runtime;

namespace GpuLstm.Runtime.Models;

/// <summary>Which positions of a window the loss sees.</summary>
public enum LossPositions
{
    /// <summary>Only the token after the window, from h_T (the Keras notebook).</summary>
    Last,
    /// <summary>The next token at every position (char-rnn).</summary>
    All,
}

/// <summary>
/// The shape of a token model: vocabulary V, hidden size H, the longest window T it is built for, L stacked
/// LSTM layers, an Embedding of width D in front of them (0: one-hot input), and the dropout rate between
/// stacked layers (training only).
/// </summary>
public sealed record ModelConfig(int VocabSize, int Hidden, int SeqLength, LossPositions Loss = LossPositions.Last, int Layers = 1,
    int Embedding = 0, float Dropout = 0, string Cell = "lstm")
{
    /// <summary>Gate blocks per cell: 4 for an LSTM (i, f, g, o), 3 for a GRU (r, z, n).</summary>
    public int Gates => Cell == "gru" ? 3 : 4;

    /// <summary>X of layer 0: D with an embedding, V for one-hot rows.</summary>
    public int InputWidth => Embedding > 0 ? Embedding : VocabSize;

    public void Validate()
    {
        if (Embedding < 0) throw new GpuLstmException($"embedding size must be 0 (one-hot input) or positive, got {Embedding}");
        if (!(Dropout >= 0 && Dropout < 1)) throw new GpuLstmException($"dropout must be in [0, 1), got {Dropout}");
        if (VocabSize < 2) throw new GpuLstmException($"the vocabulary needs at least 2 symbols, got {VocabSize}");
        if (Hidden < 1) throw new GpuLstmException($"hidden size must be positive, got {Hidden}");
        if (SeqLength < 1) throw new GpuLstmException($"sequence length must be positive, got {SeqLength}");
        if (Layers < 1) throw new GpuLstmException($"layers must be positive, got {Layers}");
        if (Cell is not ("lstm" or "gru")) throw new GpuLstmException($"unknown cell '{Cell}'; known cells: lstm, gru");
        long g = Gates;
        long parameters = (long)VocabSize * Embedding + (long)InputWidth * g * Hidden + (Layers - 1L) * Hidden * g * Hidden + Layers * (Hidden * g * Hidden + 2 * g * Hidden)
            + (long)Hidden * VocabSize + VocabSize;
        if (parameters > MaxParameters)
            throw new SettingException("Hidden", $"the model would have {parameters:N0} parameters; the limit is {MaxParameters:N0} (use a smaller hidden size or fewer layers)");
    }

    /// <summary>Parameters live in one flat buffer indexed by int, and a GEMM's operands too.</summary>
    public const long MaxParameters = int.MaxValue / 8;

    /// <summary>
    /// FLOPs of one training step at (T, B), counted as the TorchSharp peer counts them: 3 × the forward
    /// GEMMs (forward, input gradient, weight gradient), each LSTM layer 2·B·T·4H·(H + X), the output layer
    /// 2·B·R·H·V with R = T (all positions) or 1 (last).
    /// </summary>
    public double TrainingFlops(int steps, int batch)
    {
        double flops = 0;
        for (int l = 0; l < Layers; l++)
            flops += 3.0 * 2 * batch * steps * Gates * Hidden * (Hidden + (l == 0 ? InputWidth : Hidden));
        flops += 3.0 * 2 * batch * (Loss == LossPositions.All ? steps : 1) * Hidden * VocabSize;
        return flops;
    }
}

/// <summary>
/// Host-side token ids for one batch, time-major: Inputs[t·B + b] is step t of sequence b. Targets are
/// (B) in Last mode, (T,B) in All mode. Arrays are sized once for the model's capacity.
/// </summary>
public sealed class TokenBatch
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

/// <summary>
/// Tokens → [Embedding] → L stacked LSTM layers [with dropout between them] → Dense → softmax cross-entropy.
/// The one-hot input is never materialized: layer 0's input GEMM (or the embedding lookup) is a gather of
/// table rows and its gradient a deterministic scatter-add. Owns its parameters and every buffer a training
/// step needs, sized for (SeqLength, maxBatch); a step allocates nothing.
/// </summary>
public sealed class CharLstmModel : ITrainableModel, IDisposable
{
    private const int NormPartials = 256;

    private readonly ComputeDevice _device;
    private readonly IKernelSet _k;
    private readonly MemoryBuffer1D<int, Stride1D.Dense> _tokens;   // (T,B)
    private readonly MemoryBuffer1D<int, Stride1D.Dense> _targets;  // (R): R = B or T·B
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _logits; // (R,V), overwritten by dL/dlogits
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _loss;   // (R) per-position loss
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _dh;     // (T,B,H) dL/dh between layers (All mode or L > 1)
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _normPartials; // (256)
    private readonly MemoryBuffer1D<float, Stride1D.Dense>? _embedded;   // (T,B,D) embedding rows of the tokens
    private readonly MemoryBuffer1D<float, Stride1D.Dense>? _dEmbedded;  // (T,B,D) dL/d embedded
    private readonly MemoryBuffer1D<float, Stride1D.Dense>? _zeroBias;   // (D) the lookup adds no bias
    private readonly MemoryBuffer1D<float, Stride1D.Dense>[] _dropMasks;  // L−1 × (T,B,H): 0 or 1/(1−p)
    private readonly MemoryBuffer1D<float, Stride1D.Dense>[] _dropped;    // L−1 × (T,B,H): layer l's outputs after dropout
    private bool _training;        // dropout applies in LossAndGradients only
    private uint _dropoutKey;
    private readonly float[] _lossHost;
    private readonly float[] _normHost = new float[NormPartials];
    private readonly float[] _logitsHost;
    private readonly int[] _tokenHost = new int[1];

    public ModelConfig Config { get; }
    public int MaxBatch { get; }
    public ParameterSet Parameters { get; }
    public IReadOnlyList<IRecurrentLayer> Layers { get; }
    public IRecurrentLayer Top => Layers[^1];
    public DenseLayer Dense { get; }
    /// <summary>(V,D): PyTorch's nn.Embedding.weight; null for one-hot input.</summary>
    public ParameterTensor? Embedding { get; }
    public IKernelSet Kernels => _k;
    public ComputeDevice Device => _device;

    public CharLstmModel(ComputeDevice device, ModelConfig config, int maxBatch)
    {
        config.Validate();
        if (maxBatch < 1) throw new GpuLstmException($"batch size must be positive, got {maxBatch}");
        _device = device;
        _k = device.Kernels;
        Config = config;
        MaxBatch = maxBatch;
        var acc = device.Accelerator;
        int v = config.VocabSize, h = config.Hidden, t = config.SeqLength;
        int maxRows = config.Loss == LossPositions.All ? t * maxBatch : maxBatch;
        Parameters = new ParameterSet();
        int d = config.Embedding;
        if (d > 0) Embedding = Parameters.Add("embedding.weights", v, d);
        Layers = Enumerable.Range(0, config.Layers)
            .Select(l => config.Cell == "gru"
                ? (IRecurrentLayer)new GruLayer(_k, acc, Parameters, $"gru{l}", l == 0 ? config.InputWidth : h, h, t, maxBatch)
                : new LstmLayer(_k, acc, Parameters, $"lstm{l}", l == 0 ? config.InputWidth : h, h, t, maxBatch)).ToArray();
        Dense = new DenseLayer(_k, Parameters, "dense", h, v);
        Parameters.Allocate(acc);
        _tokens = acc.Allocate1D<int>((long)t * maxBatch);
        _targets = acc.Allocate1D<int>((long)t * maxBatch);
        _logits = acc.Allocate1D<float>((long)maxRows * v);
        _loss = acc.Allocate1D<float>(maxRows);
        bool needsDh = config.Loss == LossPositions.All || config.Layers > 1;
        _dh = acc.Allocate1D<float>(needsDh ? (long)t * maxBatch * h : 1);
        _normPartials = acc.Allocate1D<float>(NormPartials);
        if (d > 0)
        {
            _embedded = acc.Allocate1D<float>((long)t * maxBatch * d);
            _dEmbedded = acc.Allocate1D<float>((long)t * maxBatch * d);
            _zeroBias = acc.Allocate1D<float>(d);
            _zeroBias.MemSetToZero();
        }
        int boundaries = config.Dropout > 0 ? config.Layers - 1 : 0;
        _dropMasks = Enumerable.Range(0, boundaries).Select(_ => acc.Allocate1D<float>((long)t * maxBatch * h)).ToArray();
        _dropped = Enumerable.Range(0, boundaries).Select(_ => acc.Allocate1D<float>((long)t * maxBatch * h)).ToArray();
        acc.Synchronize();
        _lossHost = new float[maxRows];
        _logitsHost = new float[v];
    }

    public void InitializeKerasDefaults(ulong seed)
    {
        var rng = Rng.ForPurpose(seed, "init");
        // Keras's Embedding default: uniform(−0.05, 0.05).
        if (Embedding is not null)
            Parameters.SetValue(Embedding, Enumerable.Range(0, Embedding.Length).Select(_ => (float)(rng.NextDouble() * 0.1 - 0.05)).ToArray());
        foreach (var layer in Layers) layer.InitializeKerasDefaults(rng);
        Dense.InitializeKerasDefaults(rng);
        _k.Synchronize();
    }

    private int LossRows(TokenBatch batch) => Config.Loss == LossPositions.All ? batch.Steps * batch.Size : batch.Size;

    private ArrayView<float> SelectedHidden(int steps, int batch) =>
        Config.Loss == LossPositions.All ? Top.Outputs(steps, batch) : Top.LastOutput(steps, batch);

    private bool DropsOut => _training && _dropMasks.Length > 0;

    /// <summary>
    /// Layer l's input: the token ids (one-hot rows) or their embeddings for layer 0; above, layer l−1's
    /// outputs, after dropout while training.
    /// </summary>
    private LayerInput InputOf(int layer, int steps, int batch)
    {
        if (layer == 0) return _embedded is null ? LayerInput.FromTokens(_tokens.Flat()) : LayerInput.FromDense(_embedded.Flat());
        return LayerInput.FromDense(DropsOut ? _dropped[layer - 1].Flat() : Layers[layer - 1].Outputs(steps, batch));
    }

    /// <summary>Runs every layer over the (T,B) token ids already in the tokens buffer.</summary>
    private void ForwardLayers(int steps, int batch, bool fromCarriedState = false)
    {
        int rows = steps * batch;
        if (_embedded is not null)
            _k.GatherRows(_tokens.Flat().SubView(0, rows), Parameters.Value(Embedding!), _zeroBias!.Flat(), _embedded.Flat(), rows, Config.Embedding);
        for (int l = 0; l < Layers.Count; l++)
        {
            Layers[l].Forward(InputOf(l, steps, batch), steps, batch, fromCarriedState);
            if (DropsOut && l < Layers.Count - 1)
            {
                long n = (long)rows * Config.Hidden;
                _k.DropoutForward(Layers[l].Outputs(steps, batch), _dropMasks[l].Flat().SubView(0, n), _dropped[l].Flat().SubView(0, n),
                    Config.Dropout, _dropoutKey + (uint)l * 0x9E3779B9u);
            }
        }
    }

    /// <summary>Forward to the mean loss; leaves dL/dlogits (scaled by 1/R) in the logits buffer.</summary>
    private void ForwardLoss(TokenBatch batch, bool fromCarriedState)
    {
        int steps = batch.Steps, size = batch.Size, v = Config.VocabSize;
        if (size < 1 || size > MaxBatch || steps < 1 || steps > Config.SeqLength)
            throw new ArgumentOutOfRangeException(nameof(batch), $"batch ({steps} steps × {size}) exceeds the model's capacity ({Config.SeqLength} × {MaxBatch})");
        int inputRows = steps * size;
        int rows = LossRows(batch);
        _tokens.Flat().SubView(0, inputRows).CopyFromCPU(batch.Inputs.AsSpan(0, inputRows));
        _targets.Flat().SubView(0, rows).CopyFromCPU(batch.Targets.AsSpan(0, rows));
        ForwardLayers(steps, size, fromCarriedState);
        var logits = _logits.Flat().SubView(0, (long)rows * v);
        Dense.Forward(SelectedHidden(steps, size), logits, rows);
        _k.SoftmaxCrossEntropy(rows, v, logits, _targets.Flat().SubView(0, rows), logits, _loss.Flat().SubView(0, rows), 1f / rows);
    }

    private double ReadMeanLoss(int rows)
    {
        _loss.Flat().SubView(0, rows).CopyToCPU(_lossHost.AsSpan(0, rows));
        double sum = 0;
        for (int i = 0; i < rows; i++) sum += _lossHost[i];
        return sum / rows;
    }

    /// <summary>
    /// Mean cross-entropy over the batch's predicted positions, without gradients or dropout. Starts from a
    /// zero state, or from the one <see cref="CarryState"/> left.
    /// </summary>
    public double Loss(TokenBatch batch, bool fromCarriedState = false)
    {
        _training = false;
        ForwardLoss(batch, fromCarriedState);
        return ReadMeanLoss(LossRows(batch));
    }

    /// <summary>
    /// Mean loss, with the gradient of that mean written into <see cref="ParameterSet.Grads"/>. Dropout (when
    /// configured) draws its masks from <paramref name="dropoutKey"/>; see <see cref="Compute.Dropout.Key"/>.
    /// </summary>
    public double LossAndGradients(TokenBatch batch, bool fromCarriedState = false, uint dropoutKey = 0)
    {
        _training = true;
        _dropoutKey = dropoutKey;
        ForwardLoss(batch, fromCarriedState);
        int steps = batch.Steps, size = batch.Size, rows = LossRows(batch);
        var dLogits = _logits.Flat().SubView(0, (long)rows * Config.VocabSize);
        bool all = Config.Loss == LossPositions.All;
        var dhAll = _dh.Flat();
        Dense.Backward(SelectedHidden(steps, size), dLogits, all ? dhAll.SubView(0, (long)rows * Config.Hidden) : Top.LastOutputGradient(size), rows);
        // Layer l reads dL/dh of its outputs from dhAll in its time loop and only afterwards writes dL/dx
        // (layer l−1's output gradient) into the same buffer, so one buffer serves every layer.
        int inputRows = steps * size;
        for (int l = Layers.Count - 1; l >= 0; l--)
        {
            bool hasOutputGradients = all || l < Layers.Count - 1;
            bool embeddingBelow = l == 0 && Embedding is not null;
            var dx = embeddingBelow ? _dEmbedded!.Flat() : dhAll;
            Layers[l].Backward(InputOf(l, steps, size), steps, size, dhAll, hasOutputGradients, dx, computeInputGradient: l > 0 || embeddingBelow);
            if (l > 0 && DropsOut)
            {
                // dhAll holds dL/d(dropped outputs of layer l−1); through the mask it becomes dL/dh of layer l−1.
                var d = dhAll.SubView(0, (long)inputRows * Config.Hidden);
                _k.DropoutBackward(d, _dropMasks[l - 1].Flat().SubView(0, d.Length), d);
            }
        }
        if (Embedding is not null)
            _k.ScatterAddRows(_tokens.Flat().SubView(0, inputRows), _dEmbedded!.Flat().SubView(0, (long)inputRows * Config.Embedding),
                Parameters.Grad(Embedding), inputRows, Config.VocabSize, Config.Embedding);
        _training = false;
        return ReadMeanLoss(rows);
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

    /// <summary>
    /// softmax over the token after <paramref name="window"/>, run from a zero state over the whole window
    /// (as the notebook's model.predict does). The returned span is reused by the next call.
    /// </summary>
    public ReadOnlySpan<float> PredictNextLogits(ReadOnlySpan<int> window)
    {
        int steps = window.Length;
        if (steps < 1 || steps > Config.SeqLength)
            throw new ArgumentOutOfRangeException(nameof(window), $"window of {steps} tokens; the model takes 1 to {Config.SeqLength}");
        _tokens.Flat().SubView(0, steps).CopyFromCPU(window);
        _training = false;
        ForwardLayers(steps, 1);
        return NextLogits(steps);
    }

    /// <summary>The output layer on the last forward's h_T (batch 1), copied into the reused host span.</summary>
    private ReadOnlySpan<float> NextLogits(int steps)
    {
        var logits = _logits.Flat().SubView(0, Config.VocabSize);
        Dense.Forward(Top.LastOutput(steps, 1), logits, 1);
        logits.CopyToCPU(_logitsHost.AsSpan());
        return _logitsHost;
    }

    /// <summary>Starts a stream of single-token steps (batch 1) from a zero state.</summary>
    public void ResetStream()
    {
        foreach (var layer in Layers) layer.ResetState(1);
    }

    /// <summary>
    /// Feeds one token to a batch-1 stream that carries (h, c) from the previous call, and returns the
    /// logits of the token after it. The returned span is reused by the next call.
    /// </summary>
    public ReadOnlySpan<float> StreamNextLogits(int token)
    {
        _tokenHost[0] = token;
        _tokens.Flat().SubView(0, 1).CopyFromCPU(_tokenHost);
        _training = false;
        ForwardLayers(1, 1, fromCarriedState: true);
        foreach (var layer in Layers) layer.CarryState(1, 1);
        return NextLogits(1);
    }

    /// <summary>Makes every layer's final state the next forward's initial state (truncated BPTT across batches).</summary>
    public void CarryState(int steps, int batch)
    {
        foreach (var layer in Layers) layer.CarryState(steps, batch);
    }

    /// <summary>Floats in the carried state of all layers for <paramref name="batch"/> streams.</summary>
    public int StateLength(int batch) => Layers.Sum(l => l.StateLength(batch));

    /// <summary>Copies every layer's carried state to the host (for a resumable checkpoint, or around an evaluation).</summary>
    public void ReadState(int batch, Span<float> destination)
    {
        int at = 0;
        foreach (var layer in Layers) { layer.ReadState(batch, destination.Slice(at, layer.StateLength(batch))); at += layer.StateLength(batch); }
    }

    public void WriteState(int batch, ReadOnlySpan<float> source)
    {
        int at = 0;
        foreach (var layer in Layers) { layer.WriteState(batch, source.Slice(at, layer.StateLength(batch))); at += layer.StateLength(batch); }
    }

    public void Dispose()
    {
        _embedded?.Dispose(); _dEmbedded?.Dispose(); _zeroBias?.Dispose();
        foreach (var b in _dropMasks) b.Dispose();
        foreach (var b in _dropped) b.Dispose();
        foreach (var layer in Layers) layer.Dispose();
        Parameters.Dispose();
        _tokens.Dispose(); _targets.Dispose(); _logits.Dispose(); _loss.Dispose(); _dh.Dispose(); _normPartials.Dispose();
    }
}
