using GpuLstm.Kernels;
using GpuLstm.Runtime.Compute;
using ILGPU;
using ILGPU.Runtime;

namespace GpuLstm.Runtime.Models;

/// <summary>
/// What a layer reads: dense vectors x (T,B,X), the layer below's outputs, or token ids (T,B) that stand
/// for one-hot rows of width X, whose input GEMM is a row gather and whose weight gradient a scatter-add.
/// </summary>
public readonly struct LayerInput
{
    public ArrayView<float> Dense { get; private init; }
    public ArrayView<int> Tokens { get; private init; }
    public bool IsTokens { get; private init; }

    public static LayerInput FromDense(ArrayView<float> x) => new() { Dense = x };
    public static LayerInput FromTokens(ArrayView<int> ids) => new() { Tokens = ids, IsTokens = true };
}

/// <summary>
/// One LSTM layer over a whole sequence, haste's way: the input GEMM runs once over all T·B rows before
/// the time loop; each step is one recurrent GEMM accumulated onto its slice, then one fused pointwise
/// kernel. Backward runs the fused pointwise gradient and one recurrent GEMM per step in reverse, then
/// dWx, dWh, db (and dx) as large GEMMs over all T·B rows. Sequences are time-major: row t·B + b.
/// Buffers are sized for (maxSteps, maxBatch) once and reused for every call with T ≤ maxSteps, B ≤ maxBatch.
/// </summary>
public sealed class LstmLayer : IRecurrentLayer
{
    private readonly IKernelSet _k;
    private readonly ParameterSet _parameters;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _gates;   // (T,B,4H) activated gates [i f g o]
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _dGates;  // (T,B,4H) gradients of the pre-activations
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _h;       // (T+1,B,H) h_0 … h_T
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _c;       // (T+1,B,H) c_0 … c_T
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _dhRec;   // (B,H) dL/dh_t arriving through step t+1
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _dc;      // (B,H) dL/dc_t arriving from step t+1
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _recurrentT; // (4H,H) Whᵀ, refreshed once per backward pass

    public string Cell => "lstm";
    public bool Reverse { get; }
    public int InputSize { get; }   // X
    public int Hidden { get; }      // H
    public int MaxSteps { get; }
    public int MaxBatch { get; }
    public ParameterTensor InputWeights { get; }      // (X,4H): Keras's kernel, PyTorch's weight_ih transposed
    public ParameterTensor RecurrentWeights { get; }  // (H,4H): PyTorch's weight_hh transposed
    public ParameterTensor Bias { get; }              // (4H): PyTorch's bias_ih + bias_hh

    /// <summary>Declares the layer's tensors in <paramref name="parameters"/>; call <see cref="Allocate"/> after the set is allocated.</summary>
    public LstmLayer(IKernelSet kernels, Accelerator accelerator, ParameterSet parameters, string prefix,
        int inputSize, int hidden, int maxSteps, int maxBatch, bool reverse = false)
    {
        _k = kernels;
        Reverse = reverse;
        _parameters = parameters;
        InputSize = inputSize; Hidden = hidden; MaxSteps = maxSteps; MaxBatch = maxBatch;
        InputWeights = parameters.Add(prefix + ".input_weights", inputSize, 4 * hidden);
        RecurrentWeights = parameters.Add(prefix + ".recurrent_weights", hidden, 4 * hidden);
        Bias = parameters.Add(prefix + ".bias", 4 * hidden);
        long rows = (long)maxSteps * maxBatch;
        _gates = accelerator.Allocate1D<float>(rows * 4 * hidden);
        _dGates = accelerator.Allocate1D<float>(rows * 4 * hidden);
        _h = accelerator.Allocate1D<float>((maxSteps + 1L) * maxBatch * hidden);
        _c = accelerator.Allocate1D<float>((maxSteps + 1L) * maxBatch * hidden);
        _dhRec = accelerator.Allocate1D<float>((long)maxBatch * hidden);
        _dc = accelerator.Allocate1D<float>((long)maxBatch * hidden);
        _recurrentT = accelerator.Allocate1D<float>(4L * hidden * hidden);
    }

    /// <summary>Keras's LSTM defaults: glorot_uniform kernel, orthogonal recurrent kernel, zero bias with the forget gate's set to 1.</summary>
    public void InitializeKerasDefaults(Rng rng)
    {
        _parameters.SetValue(InputWeights, Initializers.GlorotUniform(rng, InputSize, 4 * Hidden));
        _parameters.SetValue(RecurrentWeights, Initializers.Orthogonal(rng, Hidden, 4 * Hidden));
        var bias = new float[4 * Hidden];
        Array.Fill(bias, 1f, Hidden, Hidden);
        _parameters.SetValue(Bias, bias);
    }

    private StateSlots Slots => new(Reverse); // see StateSlots: one scheme for both directions

    /// <summary>(T,B,H): row t·B + b holds the output at input time t of sequence b (h_{t+1} forward).</summary>
    public ArrayView<float> Outputs(int steps, int batch) => _h.Flat().SubView((long)Slots.Out(0) * batch * Hidden, (long)steps * batch * Hidden);

    /// <summary>The final state (B,H): h_T forward, the state after input 0 in reverse.</summary>
    public ArrayView<float> LastOutput(int steps, int batch) => HiddenAt(Slots.Final(steps), batch);

    /// <summary>
    /// (B,H) where a caller whose loss sees only h_T writes dL/dh_T before <see cref="Backward"/> with hasOutputGradients = false.
    /// </summary>
    public ArrayView<float> LastOutputGradient(int batch) => _dhRec.Flat().SubView(0, (long)batch * Hidden);

    private ArrayView<float> HiddenAt(int t, int batch) => _h.Flat().SubView((long)t * batch * Hidden, (long)batch * Hidden);
    private ArrayView<float> CellAt(int t, int batch) => _c.Flat().SubView((long)t * batch * Hidden, (long)batch * Hidden);
    private ArrayView<float> GatesAt(ArrayView<float> gates, int t, int batch) => gates.SubView((long)t * batch * 4 * Hidden, (long)batch * 4 * Hidden);

    /// <summary>Sets h_0 and c_0 of the first <paramref name="batch"/> sequences to zero.</summary>
    public void ResetState(int batch) => ResetSlot(0, batch);

    private void ResetSlot(int slot, int batch)
    {
        _k.Zero(HiddenAt(slot, batch));
        _k.Zero(CellAt(slot, batch));
    }

    /// <summary>Floats in the carried (initial) state of <paramref name="batch"/> sequences: h and c, B·H each.</summary>
    public int StateLength(int batch) => 2 * batch * Hidden;

    /// <summary>Copies the carried state (h_0 then c_0, each (B,H)) to the host, for a checkpoint or around an evaluation.</summary>
    public void ReadState(int batch, Span<float> destination)
    {
        int bh = batch * Hidden;
        HiddenAt(0, batch).CopyToCPU(destination[..bh]);
        CellAt(0, batch).CopyToCPU(destination.Slice(bh, bh));
    }

    /// <summary>Sets the carried state from <see cref="ReadState"/>'s layout.</summary>
    public void WriteState(int batch, ReadOnlySpan<float> source)
    {
        int bh = batch * Hidden;
        HiddenAt(0, batch).CopyFromCPU(source[..bh]);
        CellAt(0, batch).CopyFromCPU(source.Slice(bh, bh));
    }

    /// <summary>Makes the last forward's final state (h_T, c_T) the next forward's initial state.</summary>
    public void CarryState(int steps, int batch)
    {
        if (Reverse) throw new InvalidOperationException("a reverse-direction layer sees its whole sequence; it carries no state");
        _k.Copy(HiddenAt(steps, batch), HiddenAt(0, batch));
        _k.Copy(CellAt(steps, batch), CellAt(0, batch));
    }

    /// <summary>
    /// Whole-sequence forward over (T,B) inputs. Starts from a zero state, or, with
    /// <paramref name="fromCarriedState"/>, from the state <see cref="CarryState"/> left.
    /// </summary>
    public void Forward(LayerInput input, int steps, int batch, bool fromCarriedState = false)
    {
        CheckShape(steps, batch);
        if (fromCarriedState && Reverse) throw new InvalidOperationException("a reverse-direction layer cannot start from a carried state");
        if (!fromCarriedState) ResetSlot(Slots.Initial(steps), batch);
        int rows = steps * batch;
        var gates = _gates.Flat().SubView(0, (long)rows * 4 * Hidden);
        if (input.IsTokens)
            _k.GatherRows(input.Tokens.SubView(0, rows), _parameters.Value(InputWeights), _parameters.Value(Bias), gates, rows, 4 * Hidden);
        else
            _k.Gemm(GemmShape.NN(rows, 4 * Hidden, InputSize, addBias: true),
                input.Dense.SubView(0, (long)rows * InputSize), _parameters.Value(InputWeights), _parameters.Value(Bias), gates);
        for (int i = 0; i < steps; i++) Iterate(Slots.ForwardStep(i, steps), batch);
    }

    /// <summary>One step at input time t: gates_t += h_prev·Wh, then the cell update writes the next (c, h). Gates_t must hold x_t·Wx + b.</summary>
    public void Iterate(int t, int batch) =>
        _k.LstmStepForward(batch, Hidden, HiddenAt(Slots.Prev(t), batch), _parameters.Value(RecurrentWeights), GatesAt(_gates.Flat(), t, batch),
            CellAt(Slots.Prev(t), batch), CellAt(Slots.Out(t), batch), HiddenAt(Slots.Out(t), batch));

    /// <summary>
    /// Backward through the last <see cref="Forward"/>. Writes (not accumulates) this layer's gradients.
    /// outputGradients: (T,B,H) dL/dh_t for every t when hasOutputGradients; otherwise the caller has written
    /// dL/dh_T into <see cref="LastOutputGradient"/>. dx: (T,B,X), written when computeInputGradient (dense inputs only).
    /// </summary>
    public void Backward(LayerInput input, int steps, int batch, ArrayView<float> outputGradients, bool hasOutputGradients,
        ArrayView<float> dx, bool computeInputGradient)
    {
        CheckShape(steps, batch);
        if (computeInputGradient && input.IsTokens) throw new ArgumentException("token inputs have no input gradient");
        int rows = steps * batch;
        int bh = batch * Hidden;
        _k.Zero(_dc.Flat().SubView(0, bh));
        if (hasOutputGradients) _k.Zero(_dhRec.Flat().SubView(0, bh));
        var dhRec = _dhRec.Flat().SubView(0, bh);
        // dh_{t-1} = dgates_t·Whᵀ at every step: transposing Wh once makes each of those a plain NN product.
        var whT = _recurrentT.Flat();
        _k.Transpose(_parameters.Value(RecurrentWeights), whT, Hidden, 4 * Hidden);
        for (int i = 0; i < steps; i++)
        {
            int t = Slots.BackwardStep(i, steps);
            var dGates = GatesAt(_dGates.Flat(), t, batch);
            var dhOut = hasOutputGradients ? outputGradients.SubView((long)t * bh, bh) : default;
            _k.LstmCellBackward(batch, Hidden, GatesAt(_gates.Flat(), t, batch), CellAt(Slots.Prev(t), batch), CellAt(Slots.Out(t), batch),
                dhOut, hasOutputGradients, dhRec, _dc.Flat().SubView(0, bh), dGates);
            // The initial state is a constant, so no gradient flows past the step forward ran first.
            if (i < steps - 1) _k.Gemm(GemmShape.NN(batch, Hidden, 4 * Hidden), dGates, whT, default, dhRec);
        }
        var allDGates = _dGates.Flat().SubView(0, (long)rows * 4 * Hidden);
        if (input.IsTokens)
            _k.ScatterAddRows(input.Tokens.SubView(0, rows), allDGates, _parameters.Grad(InputWeights), rows, InputSize, 4 * Hidden);
        else
            _k.Gemm(GemmShape.TN(InputSize, 4 * Hidden, rows), input.Dense.SubView(0, (long)rows * InputSize), allDGates, default,
                _parameters.Grad(InputWeights));
        // Row t of the previous-state view is the h that step t read.
        _k.Gemm(GemmShape.TN(Hidden, 4 * Hidden, rows), _h.Flat().SubView((long)Slots.Prev(0) * batch * Hidden, (long)rows * Hidden), allDGates, default,
            _parameters.Grad(RecurrentWeights));
        _k.ColumnSum(rows, 4 * Hidden, allDGates, _parameters.Grad(Bias), accumulate: false);
        if (computeInputGradient)
            _k.Gemm(GemmShape.NT(rows, InputSize, 4 * Hidden), allDGates, _parameters.Value(InputWeights), default,
                dx.SubView(0, (long)rows * InputSize));
    }

    private void CheckShape(int steps, int batch)
    {
        if (steps < 1 || steps > MaxSteps || batch < 1 || batch > MaxBatch)
            throw new ArgumentOutOfRangeException(nameof(steps), $"sequence ({steps} steps, batch {batch}) exceeds the layer's buffers ({MaxSteps}, {MaxBatch})");
    }

    public void Dispose()
    {
        _gates.Dispose(); _dGates.Dispose(); _h.Dispose(); _c.Dispose(); _dhRec.Dispose(); _dc.Dispose(); _recurrentT.Dispose();
    }
}
