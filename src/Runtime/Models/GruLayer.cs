using GpuLstm.Kernels;
using GpuLstm.Runtime.Compute;
using ILGPU;
using ILGPU.Runtime;

namespace GpuLstm.Runtime.Models;

/// <summary>
/// One GRU layer over a whole sequence, PyTorch's nn.GRU (Keras's reset_after=True): gates [r z n],
///   r = σ(x·W_ir + b_ir + h·W_hr + b_hr),  z = σ(x·W_iz + b_iz + h·W_hz + b_hz),
///   n = tanh(x·W_in + b_in + r ⊙ (h·W_hn + b_hn)),  h' = (1 − z) ⊙ n + z ⊙ h.
/// Haste's way, like <see cref="LstmLayer"/>: the input GEMM runs once over all T·B rows before the time
/// loop; each step is one recurrent GEMM hproj_t = h_prev·Wh + b_hh into its own slice (kept, because the
/// reset gate multiplies its n block), then one fused pointwise kernel. Backward runs the fused pointwise
/// gradient and one accumulating recurrent GEMM per step in reverse, then dWx, dWh, db_ih, db_hh (and dx)
/// as large ops over all T·B rows. Sequences are time-major: row t·B + b. Buffers are sized for
/// (maxSteps, maxBatch) once and reused for every call with T ≤ maxSteps, B ≤ maxBatch.
/// </summary>
public sealed class GruLayer : IRecurrentLayer
{
    private readonly IKernelSet _k;
    private readonly ParameterSet _parameters;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _gates;        // (T,B,3H) x_t·Wx + b_ih, then the activated gates [r z n]
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _hproj;        // (T,B,3H) h_prev·Wh + b_hh of every step
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _dGatesInput;  // (T,B,3H) dL/d(x-side pre-activations)
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _dGatesHidden; // (T,B,3H) dL/d(hproj)
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _h;            // (T+1,B,H) state slots 0 … T
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _dhRec;        // (B,H) dL/dh arriving from the step that read it
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _recurrentT;   // (3H,H) Whᵀ, refreshed once per backward pass

    public string Cell => "gru";
    public bool Reverse { get; }
    public int InputSize { get; }   // X
    public int Hidden { get; }      // H
    public int MaxSteps { get; }
    public int MaxBatch { get; }
    public ParameterTensor InputWeights { get; }      // (X,3H): Keras's kernel, PyTorch's weight_ih transposed
    public ParameterTensor RecurrentWeights { get; }  // (H,3H): PyTorch's weight_hh transposed
    public ParameterTensor InputBias { get; }         // (3H): PyTorch's bias_ih
    public ParameterTensor RecurrentBias { get; }     // (3H): PyTorch's bias_hh

    /// <summary>Declares the layer's tensors in <paramref name="parameters"/>, which the caller allocates afterwards.</summary>
    public GruLayer(IKernelSet kernels, Accelerator accelerator, ParameterSet parameters, string prefix,
        int inputSize, int hidden, int maxSteps, int maxBatch, bool reverse = false)
    {
        _k = kernels;
        Reverse = reverse;
        _parameters = parameters;
        InputSize = inputSize; Hidden = hidden; MaxSteps = maxSteps; MaxBatch = maxBatch;
        InputWeights = parameters.Add(prefix + ".input_weights", inputSize, 3 * hidden);
        RecurrentWeights = parameters.Add(prefix + ".recurrent_weights", hidden, 3 * hidden);
        InputBias = parameters.Add(prefix + ".input_bias", 3 * hidden);
        RecurrentBias = parameters.Add(prefix + ".recurrent_bias", 3 * hidden);
        long rows = (long)maxSteps * maxBatch;
        _gates = accelerator.Allocate1D<float>(rows * 3 * hidden);
        _hproj = accelerator.Allocate1D<float>(rows * 3 * hidden);
        _dGatesInput = accelerator.Allocate1D<float>(rows * 3 * hidden);
        _dGatesHidden = accelerator.Allocate1D<float>(rows * 3 * hidden);
        _h = accelerator.Allocate1D<float>((maxSteps + 1L) * maxBatch * hidden);
        _dhRec = accelerator.Allocate1D<float>((long)maxBatch * hidden);
        _recurrentT = accelerator.Allocate1D<float>(3L * hidden * hidden);
    }

    /// <summary>Keras's GRU defaults: glorot_uniform kernel, orthogonal recurrent kernel, zero biases.</summary>
    public void InitializeKerasDefaults(Rng rng)
    {
        _parameters.SetValue(InputWeights, Initializers.GlorotUniform(rng, InputSize, 3 * Hidden));
        _parameters.SetValue(RecurrentWeights, Initializers.Orthogonal(rng, Hidden, 3 * Hidden));
        _parameters.SetValue(InputBias, new float[3 * Hidden]);
        _parameters.SetValue(RecurrentBias, new float[3 * Hidden]);
    }

    private StateSlots Slots => new(Reverse); // see StateSlots: one scheme for both directions

    /// <summary>(T,B,H): row t·B + b holds the output at input time t of sequence b.</summary>
    public ArrayView<float> Outputs(int steps, int batch) => _h.Flat().SubView((long)Slots.Out(0) * batch * Hidden, (long)steps * batch * Hidden);

    /// <summary>The final state (B,H): h_T forward, the state after input 0 in reverse.</summary>
    public ArrayView<float> LastOutput(int steps, int batch) => HiddenAt(Slots.Final(steps), batch);

    /// <summary>
    /// (B,H) where a caller whose loss sees only the final state writes its gradient before <see cref="Backward"/>
    /// with hasOutputGradients = false.
    /// </summary>
    public ArrayView<float> LastOutputGradient(int batch) => _dhRec.Flat().SubView(0, (long)batch * Hidden);

    private ArrayView<float> HiddenAt(int slot, int batch) => _h.Flat().SubView((long)slot * batch * Hidden, (long)batch * Hidden); // (B,H)
    private ArrayView<float> RowsAt(MemoryBuffer1D<float, Stride1D.Dense> buffer, int t, int batch) =>
        buffer.Flat().SubView((long)t * batch * 3 * Hidden, (long)batch * 3 * Hidden);                                             // (B,3H)
    private ArrayView<float> AllRows(MemoryBuffer1D<float, Stride1D.Dense> buffer, int rows) =>
        buffer.Flat().SubView(0, (long)rows * 3 * Hidden);                                                                          // (T·B,3H)

    /// <summary>Sets h_0 of the first <paramref name="batch"/> sequences to zero (forward direction).</summary>
    public void ResetState(int batch) => _k.Zero(HiddenAt(0, batch));

    /// <summary>A GRU's carried state is h alone: B·H floats.</summary>
    public int StateLength(int batch) => batch * Hidden;

    public void ReadState(int batch, Span<float> destination) => HiddenAt(0, batch).CopyToCPU(destination[..(batch * Hidden)]);

    public void WriteState(int batch, ReadOnlySpan<float> source) => HiddenAt(0, batch).CopyFromCPU(source[..(batch * Hidden)]);

    /// <summary>Makes the last forward's final state h_T the next forward's initial state h_0.</summary>
    public void CarryState(int steps, int batch)
    {
        if (Reverse) throw new InvalidOperationException("a reverse-direction layer sees its whole sequence; it carries no state");
        _k.Copy(HiddenAt(steps, batch), HiddenAt(0, batch));
    }

    /// <summary>
    /// Whole-sequence forward over (T,B) inputs (dense (T,B,X) or token ids (T,B)). Starts from a zero state,
    /// or, with <paramref name="fromCarriedState"/>, from the state <see cref="CarryState"/> left.
    /// </summary>
    public void Forward(LayerInput input, int steps, int batch, bool fromCarriedState = false)
    {
        CheckShape(steps, batch);
        if (fromCarriedState && Reverse) throw new InvalidOperationException("a reverse-direction layer cannot start from a carried state");
        if (!fromCarriedState) _k.Zero(HiddenAt(Slots.Initial(steps), batch));
        int rows = steps * batch;
        var gates = AllRows(_gates, rows); // (T·B,3H) = x·Wx + b_ih
        if (input.IsTokens)
            _k.GatherRows(input.Tokens.SubView(0, rows), _parameters.Value(InputWeights), _parameters.Value(InputBias), gates, rows, 3 * Hidden);
        else
            _k.Gemm(GemmShape.NN(rows, 3 * Hidden, InputSize, addBias: true),
                input.Dense.SubView(0, (long)rows * InputSize), _parameters.Value(InputWeights), _parameters.Value(InputBias), gates);
        for (int i = 0; i < steps; i++) Iterate(Slots.ForwardStep(i, steps), batch);
    }

    /// <summary>One step at input time t: hproj_t = h_prev·Wh + b_hh, then the cell writes the next h. Gates_t must hold x_t·Wx + b_ih.</summary>
    private void Iterate(int t, int batch)
    {
        var hPrev = HiddenAt(Slots.Prev(t), batch); // (B,H)
        var hproj = RowsAt(_hproj, t, batch);     // (B,3H)
        _k.Gemm(GemmShape.NN(batch, 3 * Hidden, Hidden, addBias: true), hPrev, _parameters.Value(RecurrentWeights),
            _parameters.Value(RecurrentBias), hproj);
        _k.GruCellForward(batch, Hidden, RowsAt(_gates, t, batch), hproj, hPrev, HiddenAt(Slots.Out(t), batch));
    }

    /// <summary>
    /// Backward through the last <see cref="Forward"/>. Writes (not accumulates) this layer's gradients.
    /// outputGradients: (T,B,H) dL/d(output at t) for every t when hasOutputGradients; otherwise the caller has
    /// written dL/d(final state) into <see cref="LastOutputGradient"/>. dx: (T,B,X), written when
    /// computeInputGradient (dense inputs only). The initial state is a constant: no gradient flows into it.
    /// </summary>
    public void Backward(LayerInput input, int steps, int batch, ArrayView<float> outputGradients, bool hasOutputGradients,
        ArrayView<float> dx, bool computeInputGradient)
    {
        CheckShape(steps, batch);
        if (computeInputGradient && input.IsTokens) throw new ArgumentException("token inputs have no input gradient");
        int rows = steps * batch;
        int bh = batch * Hidden;
        var dhRec = _dhRec.Flat().SubView(0, bh); // (B,H)
        if (hasOutputGradients) _k.Zero(dhRec);
        // dh_prev += dGatesHidden_t·Whᵀ at every step: transposing Wh once makes each of those a plain NN product.
        var whT = _recurrentT.Flat(); // (3H,H)
        _k.Transpose(_parameters.Value(RecurrentWeights), whT, Hidden, 3 * Hidden);
        for (int i = 0; i < steps; i++)
        {
            int t = Slots.BackwardStep(i, steps);
            var dGatesHidden = RowsAt(_dGatesHidden, t, batch); // (B,3H)
            var dhOut = hasOutputGradients ? outputGradients.SubView((long)t * bh, bh) : default; // (B,H)
            _k.GruCellBackward(batch, Hidden, RowsAt(_gates, t, batch), RowsAt(_hproj, t, batch), HiddenAt(Slots.Prev(t), batch),
                dhOut, hasOutputGradients, dhRec, RowsAt(_dGatesInput, t, batch), dGatesHidden);
            // dhRec now holds dh ⊙ z; add the path through hproj. Nothing flows past the step forward ran first.
            if (i < steps - 1)
                _k.Gemm(GemmShape.NN(batch, Hidden, 3 * Hidden, accumulate: true), dGatesHidden, whT, default, dhRec);
        }
        var allDInput = AllRows(_dGatesInput, rows);   // (T·B,3H)
        var allDHidden = AllRows(_dGatesHidden, rows); // (T·B,3H)
        if (input.IsTokens)
            _k.ScatterAddRows(input.Tokens.SubView(0, rows), allDInput, _parameters.Grad(InputWeights), rows, InputSize, 3 * Hidden);
        else
            _k.Gemm(GemmShape.TN(InputSize, 3 * Hidden, rows), input.Dense.SubView(0, (long)rows * InputSize), allDInput, default,
                _parameters.Grad(InputWeights));
        // Row t of the previous-state view (T·B,H) is the h that step t read.
        _k.Gemm(GemmShape.TN(Hidden, 3 * Hidden, rows), _h.Flat().SubView((long)Slots.Prev(0) * bh, (long)rows * Hidden), allDHidden, default,
            _parameters.Grad(RecurrentWeights));
        _k.ColumnSum(rows, 3 * Hidden, allDInput, _parameters.Grad(InputBias), accumulate: false);
        _k.ColumnSum(rows, 3 * Hidden, allDHidden, _parameters.Grad(RecurrentBias), accumulate: false);
        if (computeInputGradient)
            _k.Gemm(GemmShape.NT(rows, InputSize, 3 * Hidden), allDInput, _parameters.Value(InputWeights), default,
                dx.SubView(0, (long)rows * InputSize));
    }

    private void CheckShape(int steps, int batch)
    {
        if (steps < 1 || steps > MaxSteps || batch < 1 || batch > MaxBatch)
            throw new ArgumentOutOfRangeException(nameof(steps), $"sequence ({steps} steps, batch {batch}) exceeds the layer's buffers ({MaxSteps}, {MaxBatch})");
    }

    public void Dispose()
    {
        _gates.Dispose(); _hproj.Dispose(); _dGatesInput.Dispose(); _dGatesHidden.Dispose(); _h.Dispose(); _dhRec.Dispose(); _recurrentT.Dispose();
    }
}
