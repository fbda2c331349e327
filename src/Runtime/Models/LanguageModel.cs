using GpuLstm.Runtime.Compute;
using GpuLstm.Runtime.Data;
using GpuLstm.Runtime.Models.Cells;
using ILGPU;
using ILGPU.Runtime;

namespace GpuLstm.Runtime.Models;

/// <summary>
/// The shape of a language model over tokens (characters or words): vocabulary V, hidden size H, the longest
/// window T it is built for, which positions the loss sees, L stacked levels of <see cref="Cell"/>, an
/// Embedding of width D in front of them (0: one-hot input), and the dropout rate between levels (training only).
/// </summary>
internal sealed record LanguageModelConfig(int VocabSize, int Hidden, int SeqLength, LossPositions Loss = LossPositions.Last, int Layers = 1,
    int Embedding = 0, float Dropout = 0)
{
    /// <summary>The recurrent cell of every level.</summary>
    public RecurrentCell Cell { get; init; } = RecurrentCell.Lstm;

    /// <summary>Gate blocks per cell: 4 for an LSTM (i, f, g, o), 3 for a GRU (r, z, n), 1 for an RNN.</summary>
    public int Gates => Cell.Gates;

    /// <summary>X of level 0: D with an embedding, V for one-hot rows.</summary>
    public int InputWidth => Embedding > 0 ? Embedding : VocabSize;

    /// <summary>The recurrent stack: L levels of H, forward only (a language model reads left to right), dropout between levels.</summary>
    public StackShape Stack => new(Cell, Hidden, Layers, Bidirectional: false, Dropout);

    /// <summary>Every parameter: the embedding, the stack, the output layer.</summary>
    public long ParameterCount => (long)VocabSize * Embedding + Stack.ParameterCount(InputWidth) + (long)Hidden * VocabSize + VocabSize;

    /// <summary>
    /// Bytes of weights one batch-1 sampling step reads: every parameter once, except that the input layer reads
    /// one row for the token (an embedding row, or level 0's input weights' row for a one-hot input).
    /// </summary>
    public long SamplingBytesPerToken
    {
        get
        {
            long inputRows = Embedding > 0 ? (long)VocabSize * Embedding : (long)VocabSize * Cell.Gates * Hidden;
            long inputRow = Embedding > 0 ? Embedding : (long)Cell.Gates * Hidden;
            return sizeof(float) * (ParameterCount - inputRows + inputRow);
        }
    }

    public void Validate()
    {
        if (Embedding < 0) throw new SettingException(nameof(Embedding), $"embedding size must be 0 (one-hot input) or positive, got {Embedding}", "embedding size");
        if (VocabSize < 2) throw new GpuLstmException($"the vocabulary needs at least 2 symbols, got {VocabSize}");
        if (SeqLength < 1) throw new SettingException(nameof(SeqLength), $"sequence length must be positive, got {SeqLength}", "sequence length");
        Stack.Validate();
        long parameters = ParameterCount;
        if (parameters > MaxParameters)
            throw new SettingException(nameof(Hidden), $"the model would have {parameters:N0} parameters; the limit is {MaxParameters:N0} (use a smaller hidden size or fewer layers)");
    }

    /// <summary>Parameters live in one flat buffer indexed by int, and a GEMM's operands too.</summary>
    public const long MaxParameters = int.MaxValue / 8;

    /// <summary>
    /// FLOPs of one training step at (T, B), as the kernels do them (<see cref="StackShape.TrainingGemmFlops"/>:
    /// no FLOPs for the one-hot input's gather, the embedding's width for its input products), plus the output
    /// layer's three products, 3 × 2·B·R·H·V with R = T (all positions) or 1 (last). bench, its profile and
    /// BenchmarkDotNet use this count; a test holds it to the sum over a profiled step's launches. (The TorchSharp
    /// peer counts 3 × 2·B·T·G·H·(H + X) per level, X = V for a one-hot input: more than it computes.)
    /// </summary>
    public double TrainingFlops(int steps, int batch) =>
        Stack.TrainingGemmFlops(steps, batch, InputWidth, oneHotInput: Embedding == 0)
        + 3.0 * 2 * batch * (Loss == LossPositions.All ? steps : 1) * Hidden * VocabSize;
}

/// <summary>
/// Tokens → [Embedding] → a <see cref="RecurrentStack"/> → Dense → softmax cross-entropy: a char- or
/// word-level language model with any cell. The one-hot input is never materialized: level 0's input GEMM
/// (or the embedding lookup) is a gather of table rows and its gradient a deterministic scatter-add. Owns its
/// parameters and every buffer a training step needs, sized for (SeqLength, maxBatch); a step allocates nothing.
/// </summary>
internal sealed class LanguageModel : ITrainableModel, IDisposable
{
    private readonly ComputeDevice _device;
    private readonly IKernelSet _k;
    private readonly NormReducer _norm;
    private readonly MemoryBuffer1D<int, Stride1D.Dense> _tokens;   // (T,B)
    private readonly MemoryBuffer1D<int, Stride1D.Dense> _targets;  // (R): R = B or T·B
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _logits; // (R,V), overwritten by dL/dlogits
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _loss;   // (R) per-position loss
    private readonly MemoryBuffer1D<float, Stride1D.Dense>? _embedded;   // (T,B,D) embedding rows of the tokens
    private readonly MemoryBuffer1D<float, Stride1D.Dense>? _dEmbedded;  // (T,B,D) dL/d embedded
    private readonly MemoryBuffer1D<float, Stride1D.Dense>? _zeroBias;   // (D) the lookup adds no bias
    private readonly float[] _lossHost;
    private readonly float[] _logitsHost;
    private float[]? _batchLogitsHost; // (B,V) for batched sampling, made on first use
    private readonly int[] _tokenHost = new int[1];
    // The batch's ids grouped by id, for a kernel set that scatter-adds by segments (see IKernelSet.SortsTokenRows).
    private readonly MemoryBuffer1D<int, Stride1D.Dense>? _tokenOrder, _tokenOffsets; // (T·B), (V+1)
    private readonly int[]? _orderHost, _offsetsHost;
    private TokenRows _sorted;

    public LanguageModelConfig Config { get; }
    public int MaxBatch { get; }
    public ParameterSet Parameters { get; }
    public RecurrentStack Stack { get; }
    public DenseLayer Dense { get; }
    /// <summary>(V,D): PyTorch's nn.Embedding.weight; null for one-hot input.</summary>
    public ParameterTensor? Embedding { get; }
    public IKernelSet Kernels => _k;
    public ComputeDevice Device => _device;

    public LanguageModel(ComputeDevice device, LanguageModelConfig config, int maxBatch)
    {
        config.Validate();
        if (maxBatch < 1) throw new SettingException("BatchSize", $"batch size must be positive, got {maxBatch}", "batch size");
        long stepRows = (long)config.SeqLength * maxBatch;
        KernelLimits.Check($"a sequence of {config.SeqLength:N0} × batch {maxBatch:N0}", stepRows,
            ("a gate buffer (T·B·G·H)", stepRows * config.Gates * config.Hidden),
            ("a logits buffer", (config.Loss == LossPositions.All ? stepRows : maxBatch) * config.VocabSize),
            ("an embedding buffer (T·B·D)", stepRows * config.Embedding),
            ("the input gradient table (V·G·H)", (long)config.InputWidth * config.Gates * config.Hidden));
        _device = device;
        _k = device.Kernels;
        Config = config;
        MaxBatch = maxBatch;
        var acc = device.Accelerator;
        int v = config.VocabSize, h = config.Hidden, t = config.SeqLength, d = config.Embedding;
        int maxRows = config.Loss == LossPositions.All ? t * maxBatch : maxBatch;
        // Declaration order fixes the parameter layout: the embedding, the stack's levels, the output layer.
        Parameters = new ParameterSet();
        if (d > 0) Embedding = Parameters.Add("embedding.weights", v, d);
        Stack = new RecurrentStack(config.Stack, _k, acc, Parameters, config.InputWidth, t, maxBatch, topOutputs: config.Loss == LossPositions.All);
        Dense = new DenseLayer(_k, Parameters, "dense", h, v);
        Parameters.Allocate(acc);
        _norm = new NormReducer(_k, acc);
        _tokens = acc.Allocate1D<int>((long)t * maxBatch);
        if (_k.SortsTokenRows)
        {
            _tokenOrder = acc.Allocate1D<int>((long)t * maxBatch);
            _tokenOffsets = acc.Allocate1D<int>(v + 1L);
            _orderHost = new int[(long)t * maxBatch];
            _offsetsHost = new int[v + 1];
        }
        _targets = acc.Allocate1D<int>((long)t * maxBatch);
        _logits = acc.Allocate1D<float>((long)maxRows * v);
        _loss = acc.Allocate1D<float>(maxRows);
        if (d > 0)
        {
            _embedded = acc.Allocate1D<float>((long)t * maxBatch * d);
            _dEmbedded = acc.Allocate1D<float>((long)t * maxBatch * d);
            _zeroBias = acc.Allocate1D<float>(d);
            _zeroBias.MemSetToZero();
        }
        acc.Synchronize();
        _lossHost = new float[maxRows];
        _logitsHost = new float[v];
    }

    /// <summary>Keras's defaults, from one seeded stream: the embedding, every level, the output layer.</summary>
    public void InitializeKerasDefaults(ulong seed)
    {
        var rng = Rng.ForPurpose(seed, "init");
        // Keras's Embedding default: uniform(−0.05, 0.05).
        if (Embedding is not null)
            Parameters.SetValue(Embedding, Enumerable.Range(0, Embedding.Length).Select(_ => (float)(rng.NextDouble() * 0.1 - 0.05)).ToArray());
        Stack.InitializeKerasDefaults(rng);
        Dense.InitializeKerasDefaults(rng);
        _k.Synchronize();
    }

    private int LossRows(TokenBatch batch) => Config.Loss == LossPositions.All ? batch.Steps * batch.Size : batch.Size;

    private ArrayView<float> SelectedHidden(int steps, int batch) =>
        Config.Loss == LossPositions.All ? Stack.Outputs(steps, batch) : Stack.FinalState(steps, batch);

    /// <summary>Level 0's input: the token ids (one-hot rows), or their embeddings.</summary>
    private LayerInput Input => _embedded is null ? LayerInput.FromTokens(_tokens.Flat(), _sorted) : LayerInput.FromDense(_embedded.Flat());

    /// <summary>Runs the embedding and every level over the (T,B) token ids already in the tokens buffer.</summary>
    private void ForwardStack(int steps, int batch, bool fromCarriedState = false, bool training = false, uint dropoutKey = 0)
    {
        int rows = steps * batch;
        if (_embedded is not null)
            _k.GatherRows(_tokens.Flat().SubView(0, rows), Parameters.Value(Embedding!), _zeroBias!.Flat(), _embedded.Flat(), rows, Config.Embedding);
        Stack.Forward(Input, steps, batch, fromCarriedState, training, dropoutKey);
    }

    /// <summary>Forward to the mean loss; leaves dL/dlogits (scaled by 1/R) in the logits buffer.</summary>
    private void ForwardLoss(TokenBatch batch, bool fromCarriedState, bool training, uint dropoutKey)
    {
        int steps = batch.Steps, size = batch.Size, v = Config.VocabSize;
        if (size < 1 || size > MaxBatch || steps < 1 || steps > Config.SeqLength)
            throw new ArgumentOutOfRangeException(nameof(batch), $"batch ({steps} steps × {size}) exceeds the model's capacity ({Config.SeqLength} × {MaxBatch})");
        int inputRows = steps * size;
        int rows = LossRows(batch);
        _k.Upload<int>(batch.Inputs.AsSpan(0, inputRows), _tokens.Flat().SubView(0, inputRows));
        _k.Upload<int>(batch.Targets.AsSpan(0, rows), _targets.Flat().SubView(0, rows));
        _sorted = default;
        if (training && _tokenOrder is not null)
        {
            // Grouping the ids costs the host O(R + V) once per batch; the input gradient then sums each id's rows directly.
            TokenOrder.Sort(batch.Inputs.AsSpan(0, inputRows), Config.VocabSize, _orderHost, _offsetsHost);
            _k.Upload<int>(_orderHost.AsSpan(0, inputRows), _tokenOrder.Flat().SubView(0, inputRows));
            _k.Upload<int>(_offsetsHost, _tokenOffsets!.Flat());
            _sorted = new TokenRows(_tokenOrder.Flat().SubView(0, inputRows), _tokenOffsets!.Flat());
        }
        ForwardStack(steps, size, fromCarriedState, training, dropoutKey);
        var logits = _logits.Flat().SubView(0, (long)rows * v);
        Dense.Forward(SelectedHidden(steps, size), logits, rows);
        _k.SoftmaxCrossEntropy(rows, v, logits, _targets.Flat().SubView(0, rows), logits, _loss.Flat().SubView(0, rows), 1f / rows);
    }

    private double ReadMeanLoss(int rows)
    {
        _k.Download(_loss.Flat().SubView(0, rows), _lossHost.AsSpan(0, rows));
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
        ForwardLoss(batch, fromCarriedState, training: false, 0);
        return ReadMeanLoss(LossRows(batch));
    }

    /// <summary>
    /// Mean loss, with the gradient of that mean written into <see cref="ParameterSet.Grads"/>. Dropout (when
    /// configured) draws its masks from <paramref name="dropoutKey"/>; see <see cref="Compute.Dropout.Key"/>.
    /// </summary>
    public double LossAndGradients(TokenBatch batch, bool fromCarriedState = false, uint dropoutKey = 0)
    {
        int rows = ComputeGradients(batch, fromCarriedState, dropoutKey);
        return ReadMeanLoss(rows);
    }

    /// <summary>(R): the per-row losses of the last forward over R predicted positions.</summary>
    public ArrayView<float> RowLosses(int rows) => _loss.Flat().SubView(0, rows);

    /// <summary>
    /// <see cref="LossAndGradients"/> without waiting for the device: enqueues the step and returns the number of
    /// predicted positions R whose losses it leaves in <see cref="RowLosses"/> (a training step reduces them on
    /// the device; see IKernelSet.FinishStep).
    /// </summary>
    public int ComputeGradients(TokenBatch batch, bool fromCarriedState = false, uint dropoutKey = 0)
    {
        ForwardLoss(batch, fromCarriedState, training: true, dropoutKey);
        int steps = batch.Steps, size = batch.Size, rows = LossRows(batch);
        var dLogits = _logits.Flat().SubView(0, (long)rows * Config.VocabSize);
        bool all = Config.Loss == LossPositions.All;
        Dense.Backward(SelectedHidden(steps, size), dLogits, all ? Stack.OutputGradients(steps, size) : Stack.FinalStateGradient(size), rows);
        int inputRows = steps * size;
        Stack.Backward(Input, steps, size, fromOutputs: all, _dEmbedded?.Flat() ?? default, computeInputGradient: Embedding is not null);
        if (Embedding is not null)
            _k.ScatterAddRows(_tokens.Flat().SubView(0, inputRows), _dEmbedded!.Flat().SubView(0, (long)inputRows * Config.Embedding),
                Parameters.Grad(Embedding), inputRows, Config.VocabSize, Config.Embedding, _sorted);
        return rows;
    }

    /// <summary>Global L2 norm of the gradients, reduced in float64 on the host from fixed partials.</summary>
    public double GradientNorm() => _norm.Of(Parameters.Grads);

    /// <summary>
    /// softmax over the token after <paramref name="window"/>, run from a zero state over the whole window
    /// (as the notebook's model.predict does). The returned span is reused by the next call.
    /// </summary>
    public ReadOnlySpan<float> PredictNextLogits(ReadOnlySpan<int> window)
    {
        int steps = window.Length;
        if (steps < 1 || steps > Config.SeqLength)
            throw new ArgumentOutOfRangeException(nameof(window), $"window of {steps} tokens; the model takes 1 to {Config.SeqLength}");
        _k.Upload(window, _tokens.Flat().SubView(0, steps));
        ForwardStack(steps, 1);
        return NextLogits(steps);
    }

    /// <summary>The logits the last <see cref="StreamNextLogits(int)"/> or <see cref="PredictNextLogits(ReadOnlySpan{int})"/> returned (reused by the next call).</summary>
    public ReadOnlySpan<float> LastStreamLogits => _logitsHost;

    /// <summary>The output layer on the last forward's final state (batch 1), copied into the reused host span.</summary>
    private ReadOnlySpan<float> NextLogits(int steps)
    {
        var logits = _logits.Flat().SubView(0, Config.VocabSize);
        Dense.Forward(Stack.FinalState(steps, 1), logits, 1);
        _k.Download(logits, _logitsHost.AsSpan());
        return _logitsHost;
    }

    /// <summary>Starts a stream of single-token steps (batch 1) from a zero state.</summary>
    public void ResetStream() => Stack.ResetState(1);

    /// <summary>
    /// Feeds one token to a batch-1 stream that carries the state from the previous call, and returns the
    /// logits of the token after it. The returned span is reused by the next call.
    /// </summary>
    public ReadOnlySpan<float> StreamNextLogits(int token)
    {
        _tokenHost[0] = token;
        _k.Upload<int>(_tokenHost, _tokens.Flat().SubView(0, 1));
        ForwardStack(1, 1, fromCarriedState: true);
        Stack.CarryState(1, 1);
        return NextLogits(1);
    }

    /// <summary>
    /// <see cref="PredictNextLogits(ReadOnlySpan{int})"/> for <paramref name="batch"/> windows of the same length at once, from a zero
    /// state: <paramref name="windows"/> is (T,B), time-major (token t of window b at t·B + b). Returns the (B,V)
    /// logits, reused by the next call. Batched sampling draws N samples in one pass per token.
    /// </summary>
    public ReadOnlySpan<float> PredictNextLogits(ReadOnlySpan<int> windows, int batch)
    {
        if (batch < 1 || batch > MaxBatch) throw new ArgumentOutOfRangeException(nameof(batch), $"batch {batch}; the model takes 1 to {MaxBatch}");
        int steps = windows.Length / batch;
        if (steps * batch != windows.Length || steps < 1 || steps > Config.SeqLength)
            throw new ArgumentOutOfRangeException(nameof(windows), $"{windows.Length} tokens for batch {batch}; the model takes 1 to {Config.SeqLength} steps");
        _k.Upload(windows, _tokens.Flat().SubView(0, windows.Length));
        ForwardStack(steps, batch);
        return BatchLogits(steps, batch);
    }

    /// <summary>Starts <paramref name="batch"/> streams of single-token steps from a zero state.</summary>
    public void ResetStreams(int batch)
    {
        if (batch < 1 || batch > MaxBatch) throw new ArgumentOutOfRangeException(nameof(batch), $"batch {batch}; the model takes 1 to {MaxBatch}");
        Stack.ResetState(batch);
    }

    /// <summary>
    /// <see cref="StreamNextLogits(int)"/> for B streams at once (started by <see cref="ResetStreams"/>): feeds
    /// token b to stream b, carries each stream's state, and returns the (B,V) logits, reused by the next call.
    /// </summary>
    public ReadOnlySpan<float> StreamNextLogits(ReadOnlySpan<int> tokens)
    {
        int batch = tokens.Length;
        if (batch < 1 || batch > MaxBatch) throw new ArgumentOutOfRangeException(nameof(tokens), $"batch {batch}; the model takes 1 to {MaxBatch}");
        _k.Upload(tokens, _tokens.Flat().SubView(0, batch));
        ForwardStack(1, batch, fromCarriedState: true);
        Stack.CarryState(1, batch);
        return BatchLogits(1, batch);
    }

    /// <summary>The (B,V) logits the last batched call returned (reused by the next call).</summary>
    public ReadOnlySpan<float> LastBatchLogits(int batch) => _batchLogitsHost.AsSpan(0, batch * Config.VocabSize);

    private ReadOnlySpan<float> BatchLogits(int steps, int batch)
    {
        int v = Config.VocabSize;
        var logits = _logits.Flat().SubView(0, (long)batch * v);
        Dense.Forward(Stack.FinalState(steps, batch), logits, batch);
        _batchLogitsHost ??= new float[(long)MaxBatch * v];
        var host = _batchLogitsHost.AsSpan(0, batch * v);
        _k.Download(logits, host);
        return host;
    }

    /// <summary>Makes every level's final state the next forward's initial state (truncated BPTT across batches).</summary>
    public void CarryState(int steps, int batch) => Stack.CarryState(steps, batch);

    /// <summary>Floats in the carried state of all levels for <paramref name="batch"/> streams.</summary>
    public int StateLength(int batch) => Stack.StateLength(batch);

    /// <summary>Copies every level's carried state to the host (for a resumable checkpoint, or around an evaluation).</summary>
    public void ReadState(int batch, Span<float> destination) => Stack.ReadState(batch, destination);

    public void WriteState(int batch, ReadOnlySpan<float> source) => Stack.WriteState(batch, source);

    public void Dispose()
    {
        _embedded?.Dispose(); _dEmbedded?.Dispose(); _zeroBias?.Dispose();
        Stack.Dispose();
        Parameters.Dispose();
        _norm.Dispose();
        _tokens.Dispose(); _targets.Dispose(); _logits.Dispose(); _loss.Dispose();
        _tokenOrder?.Dispose(); _tokenOffsets?.Dispose();
    }
}
