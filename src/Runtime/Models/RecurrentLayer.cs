using GpuLstm.Kernels;
using GpuLstm.Runtime.Compute;
using GpuLstm.Runtime.Models.Cells;
using ILGPU;
using ILGPU.Runtime;

namespace GpuLstm.Runtime.Models;

/// <summary>
/// One recurrent layer over a whole sequence, for any <see cref="RecurrentCell"/>, haste's way: the input GEMM
/// runs once over all T·B rows before the time loop (<see cref="Forward"/>); the recurrence is one
/// <see cref="IKernelSet.RecurrentForward"/> over a <see cref="RecurrentRun"/> (Run), which a kernel set runs as
/// one call or step by step (<see cref="IKernelSet.CellStepForward"/>, Iterate: the recurrent GEMM onto the
/// step's slice and the cell's pointwise kernel). Backward runs the recurrence in reverse the same way, then
/// dWx, dWh, the bias gradients and dx as large ops over all T·B rows. Sequences are time-major: row t·B + b.
/// A layer with <see cref="Reverse"/> runs its recurrence from t = T−1 down to 0 (the backward half of a
/// bidirectional level); its outputs are still indexed by input time t (see <see cref="StateSlots"/>).
/// Buffers are sized for (maxSteps, maxBatch) once and reused for every call with T ≤ maxSteps, B ≤ maxBatch.
/// </summary>
internal sealed class RecurrentLayer : IDisposable
{
    private readonly IKernelSet _k;
    private readonly ParameterSet _parameters;
    // Backward overwrites each step's activations with their gradients in place: every cell kernel reads an
    // element's gates before it writes that element's gate gradients, and nothing reads the activations of a
    // step after its backward. One (T,B,G·H) buffer instead of two is a third of a layer's training memory.
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _gates;       // (T,B,G·H) input pre-activations, then the activations, then dL/d(input-side pre-activations)
    private readonly MemoryBuffer1D<float, Stride1D.Dense>? _recurrent;  // (T,B,G·H) h_prev·Wh + b_hh, when the cell keeps it, then its gradient
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _h;           // (T+1,B,H) state slots
    private readonly MemoryBuffer1D<float, Stride1D.Dense>? _c;          // (T+1,B,H) cell-state slots, when the cell has one
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _dhRec;       // (B,H) dL/dh arriving from the step that read it
    private readonly MemoryBuffer1D<float, Stride1D.Dense>? _dc;         // (B,H) dL/dc arriving from the next step
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _recurrentT;  // (G·H,H) Whᵀ, refreshed once per backward pass

    public RecurrentCell Cell { get; }
    public bool Reverse { get; }
    public int InputSize { get; }   // X
    public int Hidden { get; }      // H
    public int MaxSteps { get; }
    public int MaxBatch { get; }
    public ParameterTensor InputWeights { get; }      // (X,G·H): Keras's kernel, PyTorch's weight_ih transposed
    public ParameterTensor RecurrentWeights { get; }  // (H,G·H): PyTorch's weight_hh transposed
    /// <summary>(G·H): the combined bias b_ih + b_hh, or b_ih when the cell keeps its biases apart.</summary>
    public ParameterTensor InputBias { get; }
    /// <summary>(G·H): b_hh, for a cell that keeps its biases apart; null otherwise.</summary>
    public ParameterTensor? RecurrentBias { get; }

    private int GH => Cell.Gates * Hidden;

    /// <summary>Declares the layer's tensors in <paramref name="parameters"/> (the caller allocates the set afterwards) and allocates its buffers.</summary>
    public RecurrentLayer(RecurrentCell cell, IKernelSet kernels, Accelerator accelerator, ParameterSet parameters, string prefix,
        int inputSize, int hidden, int maxSteps, int maxBatch, bool reverse = false)
    {
        Cell = cell;
        _k = kernels;
        Reverse = reverse;
        _parameters = parameters;
        InputSize = inputSize; Hidden = hidden; MaxSteps = maxSteps; MaxBatch = maxBatch;
        int gh = cell.Gates * hidden;
        InputWeights = parameters.Add(prefix + ".input_weights", inputSize, gh);
        RecurrentWeights = parameters.Add(prefix + ".recurrent_weights", hidden, gh);
        if (cell.Biases == BiasLayout.Separate)
        {
            InputBias = parameters.Add(prefix + ".input_bias", gh);
            RecurrentBias = parameters.Add(prefix + ".recurrent_bias", gh);
        }
        else InputBias = parameters.Add(prefix + ".bias", gh);
        long rows = (long)maxSteps * maxBatch;
        long slots = (maxSteps + 1L) * maxBatch * hidden;
        _gates = accelerator.Allocate1D<float>(rows * gh);
        if (cell.KeepsRecurrentProjection)
        {
            _recurrent = accelerator.Allocate1D<float>(rows * gh);
        }
        _h = accelerator.Allocate1D<float>(slots);
        if (cell.HasCellState) _c = accelerator.Allocate1D<float>(slots);
        _dhRec = accelerator.Allocate1D<float>((long)maxBatch * hidden);
        if (cell.HasCellState) _dc = accelerator.Allocate1D<float>((long)maxBatch * hidden);
        _recurrentT = accelerator.Allocate1D<float>((long)gh * hidden);
    }

    /// <summary>Keras's defaults: glorot_uniform input kernel, orthogonal recurrent kernel, the cell's initial bias.</summary>
    public void InitializeKerasDefaults(Rng rng)
    {
        _parameters.SetValue(InputWeights, Initializers.GlorotUniform(rng, InputSize, GH));
        _parameters.SetValue(RecurrentWeights, Initializers.Orthogonal(rng, Hidden, GH));
        _parameters.SetValue(InputBias, Cell.InitialBias(Hidden));
        if (RecurrentBias is not null) _parameters.SetValue(RecurrentBias, new float[GH]);
    }

    private StateSlots Slots => new(Reverse); // see StateSlots: one scheme for both directions

    /// <summary>(T,B,H): row t·B + b holds the output at input time t of sequence b (h_{t+1} forward).</summary>
    public ArrayView<float> Outputs(int steps, int batch) => _h.Flat().SubView((long)Slots.Out(0) * batch * Hidden, (long)steps * batch * Hidden);

    /// <summary>The final state (B,H): h_T forward, the state after input 0 in reverse.</summary>
    public ArrayView<float> LastOutput(int steps, int batch) => HiddenAt(Slots.Final(steps), batch);

    /// <summary>(B,H) where a caller whose loss sees only the final state writes its gradient before <see cref="Backward"/> with hasOutputGradients = false.</summary>
    public ArrayView<float> LastOutputGradient(int batch) => _dhRec.Flat().SubView(0, (long)batch * Hidden);

    private ArrayView<float> HiddenAt(int slot, int batch) => _h.Flat().SubView((long)slot * batch * Hidden, (long)batch * Hidden);                     // (B,H)
    private ArrayView<float> CellAt(int slot, int batch) => _c is null ? default : _c.Flat().SubView((long)slot * batch * Hidden, (long)batch * Hidden); // (B,H)
    private ArrayView<float> AllRows(MemoryBuffer1D<float, Stride1D.Dense> buffer, int rows) => buffer.Flat().SubView(0, (long)rows * GH);          // (T·B,G·H)

    /// <summary>Sets the initial state (h, and c) of the first <paramref name="batch"/> sequences to zero (forward direction).</summary>
    public void ResetState(int batch) => ResetSlot(0, batch);

    private void ResetSlot(int slot, int batch)
    {
        _k.Zero(HiddenAt(slot, batch));
        if (_c is not null) _k.Zero(CellAt(slot, batch));
    }

    /// <summary>Floats in the carried (initial) state of <paramref name="batch"/> sequences: h, and c when the cell has one, B·H each.</summary>
    public int StateLength(int batch) => batch * Cell.StateWidth(Hidden);

    /// <summary>Copies the carried state (h_0, then c_0 when there is one, each (B,H)) to the host, for a checkpoint or around an evaluation.</summary>
    public void ReadState(int batch, Span<float> destination)
    {
        int bh = batch * Hidden;
        _k.Download(HiddenAt(0, batch), destination[..bh]);
        if (_c is not null) _k.Download(CellAt(0, batch), destination.Slice(bh, bh));
    }

    /// <summary>Sets the carried state from <see cref="ReadState"/>'s layout.</summary>
    public void WriteState(int batch, ReadOnlySpan<float> source)
    {
        int bh = batch * Hidden;
        _k.Upload(source[..bh], HiddenAt(0, batch));
        if (_c is not null) _k.Upload(source.Slice(bh, bh), CellAt(0, batch));
    }

    /// <summary>Makes the last forward's final state the next forward's initial state (forward direction only).</summary>
    public void CarryState(int steps, int batch)
    {
        if (Reverse) throw new InvalidOperationException("a reverse-direction layer sees its whole sequence; it carries no state");
        _k.Copy(HiddenAt(steps, batch), HiddenAt(0, batch));
        if (_c is not null) _k.Copy(CellAt(steps, batch), CellAt(0, batch));
    }

    /// <summary>
    /// The whole sequence: the input GEMM over all T·B rows of (T,B) inputs, then the recurrence (<see cref="IKernelSet.RecurrentForward"/>).
    /// Starts from a zero state, or, with <paramref name="fromCarriedState"/>, from the state <see cref="CarryState"/> left.
    /// </summary>
    public void Forward(LayerInput input, int steps, int batch, bool fromCarriedState = false)
    {
        CheckShape(steps, batch);
        if (fromCarriedState && Reverse) throw new InvalidOperationException("a reverse-direction layer cannot start from a carried state");
        int rows = steps * batch;
        var gates = AllRows(_gates, rows);
        if (input.IsTokens)
            _k.GatherRows(input.Tokens.SubView(0, rows), _parameters.Value(InputWeights), _parameters.Value(InputBias), gates, rows, GH);
        else
            _k.Gemm(GemmShape.NN(rows, GH, InputSize, addBias: true),
                input.Dense.SubView(0, (long)rows * InputSize), _parameters.Value(InputWeights), _parameters.Value(InputBias), gates);
        // The first step zeroes the initial state itself (or reads the carried one): no separate launch.
        _k.RecurrentForward(Cell, Run(steps, batch) with { StartsFromZero = !fromCarriedState }, _parameters.Value(RecurrentWeights),
            RecurrentBias is null ? default : _parameters.Value(RecurrentBias));
    }

    /// <summary>The sequence's buffers for (steps, batch); backward's gradients go over the forward's activations.</summary>
    private RecurrentRun Run(int steps, int batch)
    {
        long rows = (long)steps * batch, slots = (steps + 1L) * batch * Hidden;
        return new RecurrentRun
        {
            Steps = steps, Batch = batch, Hidden = Hidden, Gates = Cell.Gates, Reverse = Reverse,
            GateRows = _gates.Flat().SubView(0, rows * GH), RecurrentRows = _recurrent is null ? default : _recurrent.Flat().SubView(0, rows * GH),
            HiddenSlots = _h.Flat().SubView(0, slots), CellSlots = _c is null ? default : _c.Flat().SubView(0, slots),
        };
    }

    /// <summary>
    /// Backward through the last <see cref="Forward"/>. Writes (not accumulates) this layer's gradients.
    /// outputGradients: (T,B,H) dL/d(output at t) for every t when hasOutputGradients; otherwise the caller has
    /// written dL/d(final state) into <see cref="LastOutputGradient"/>. dx: (T,B,X), written when
    /// computeInputGradient (dense inputs only). The initial state is a constant: no gradient flows into it.
    /// It consumes the forward's saved activations (their gradients take their place): each Backward needs its own Forward.
    /// </summary>
    public void Backward(LayerInput input, int steps, int batch, ArrayView<float> outputGradients, bool hasOutputGradients,
        ArrayView<float> dx, bool computeInputGradient)
    {
        CheckShape(steps, batch);
        if (computeInputGradient && input.IsTokens) throw new ArgumentException("token inputs have no input gradient");
        int rows = steps * batch;
        int bh = batch * Hidden;
        var run = Run(steps, batch) with
        {
            OutputGradients = hasOutputGradients ? outputGradients : default, HasOutputGradients = hasOutputGradients,
            DhRec = _dhRec.Flat().SubView(0, bh), Dc = _dc is null ? default : _dc.Flat().SubView(0, bh),
        };
        _k.RecurrentBackward(Cell, run, _parameters.Value(RecurrentWeights), _recurrentT.Flat());
        var dGates = _gates;                        // in place: see the buffers' comment
        var dRecurrent = _recurrent;
        var recurrentGrads = dRecurrent ?? dGates; // one gradient serves both projections unless the cell keeps them apart
        var allDGates = AllRows(dGates, rows);
        if (input.IsTokens)
            _k.ScatterAddRows(input.Tokens.SubView(0, rows), allDGates, _parameters.Grad(InputWeights), rows, InputSize, GH, input.Sorted);
        else
            _k.Gemm(GemmShape.TN(InputSize, GH, rows), input.Dense.SubView(0, (long)rows * InputSize), allDGates, default,
                _parameters.Grad(InputWeights));
        // Row t of the previous-state view (T·B,H) is the h that step t read.
        _k.Gemm(GemmShape.TN(Hidden, GH, rows), run.PreviousStates, AllRows(recurrentGrads, rows), default,
            _parameters.Grad(RecurrentWeights));
        _k.ColumnSum(rows, GH, allDGates, _parameters.Grad(InputBias), accumulate: false);
        if (RecurrentBias is not null) _k.ColumnSum(rows, GH, AllRows(dRecurrent!, rows), _parameters.Grad(RecurrentBias), accumulate: false);
        if (computeInputGradient)
            _k.Gemm(GemmShape.NT(rows, InputSize, GH), allDGates, _parameters.Value(InputWeights), default, dx.SubView(0, (long)rows * InputSize));
    }

    private void CheckShape(int steps, int batch)
    {
        if (steps < 1 || steps > MaxSteps || batch < 1 || batch > MaxBatch)
            throw new ArgumentOutOfRangeException(nameof(steps), $"sequence ({steps} steps, batch {batch}) exceeds the layer's buffers ({MaxSteps}, {MaxBatch})");
    }

    public void Dispose()
    {
        _gates.Dispose(); _recurrent?.Dispose();
        _h.Dispose(); _c?.Dispose(); _dhRec.Dispose(); _dc?.Dispose(); _recurrentT.Dispose();
    }
}
