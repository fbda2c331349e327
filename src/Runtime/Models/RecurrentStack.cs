using GpuLstm.Runtime.Compute;
using GpuLstm.Runtime.Models.Cells;
using ILGPU;
using ILGPU.Runtime;

namespace GpuLstm.Runtime.Models;

/// <summary>The shape of a recurrent stack: the cell, H, L levels, one or two directions, dropout between levels.</summary>
internal sealed record StackShape(RecurrentCell Cell, int Hidden, int Levels, bool Bidirectional = false, float Dropout = 0)
{
    /// <summary>1, or 2 when bidirectional.</summary>
    public int Directions => Bidirectional ? 2 : 1;

    /// <summary>D·H: the width of a level's output.</summary>
    public int OutputWidth => Directions * Hidden;

    /// <summary>Parameters of every level and direction for an input of width X.</summary>
    public long ParameterCount(long inputSize)
    {
        long total = 0;
        for (int l = 0; l < Levels; l++) total += Directions * Cell.ParameterCount(l == 0 ? inputSize : OutputWidth, Hidden);
        return total;
    }

    /// <summary>
    /// FLOPs (2 per multiply-add) of the products one training step of T steps × B rows launches, from their
    /// shapes, R = T·B, G·H gate columns, X a level's input width:
    /// <list type="bullet">
    /// <item>the input projection x·Wx (2·R·GH·X), its weight gradient xᵀ·dgates (the same) and its input gradient
    /// dgates·Wxᵀ (the same), except for a level 0 whose input is one-hot: a gather and a scatter-add, no FLOPs;</item>
    /// <item>the recurrence forward (2·T·B·GH·H), backward (2·(T−1)·B·GH·H: the first step's dh is not needed) and
    /// its weight gradient hᵀ·dgates (2·R·GH·H).</item>
    /// </list>
    /// Pointwise work (cells, biases, dropout) is not counted.
    /// </summary>
    public double TrainingGemmFlops(int steps, int batch, long inputSize, bool oneHotInput)
    {
        double rows = (double)steps * batch, gh = Cell.Gates * Hidden, flops = 0;
        for (int l = 0; l < Levels; l++)
        {
            long x = l == 0 ? (oneHotInput ? 0 : inputSize) : OutputWidth;
            flops += Directions * (3 * 2.0 * rows * gh * x + 2.0 * rows * gh * Hidden * 2 + 2.0 * (steps - 1) * batch * gh * Hidden);
        }
        return flops;
    }

    public void Validate()
    {
        if (Hidden < 1) throw new SettingException(nameof(Hidden), $"hidden size must be positive, got {Hidden}", "hidden size");
        if (Levels < 1) throw new SettingException("Layers", $"layers must be positive, got {Levels}", "layers");
        if (!(Dropout >= 0 && Dropout < 1)) throw new SettingException(nameof(Dropout), $"dropout must be in [0, 1), got {Dropout}", "dropout");
        if (Dropout > 0 && Levels < 2) throw new SettingException(nameof(Dropout), "dropout applies between stacked layers; it needs 2 layers or more", "dropout");
    }
}

/// <summary>
/// The recurrence both products share: L levels of <see cref="RecurrentLayer"/>s of one cell, each level one
/// direction or two (PyTorch's bidirectional: a reverse layer beside the forward one, both reading the level's
/// input, their outputs concatenated (T,B,2H) for the next level), inverted dropout between levels while
/// training, the carried state of truncated BPTT, and the backward pass through all of it. A text model puts
/// an embedding or one-hot rows in front and a softmax behind; a series model puts windows in front and a
/// dense head on the final state behind. Parameters are declared level by level, forward then reverse.
/// Buffers are sized once for (maxSteps, maxBatch).
/// </summary>
internal sealed class RecurrentStack : IDisposable
{
    private readonly IKernelSet _k;
    private readonly RecurrentLayer[] _forward;   // L
    private readonly RecurrentLayer[] _reverse;   // L when bidirectional, else empty
    private readonly MemoryBuffer1D<float, Stride1D.Dense>[] _joined;   // bidirectional: (T,B,2H) concat(fwd_t, rev_t) of level l (the top one only when its outputs are read)
    private readonly MemoryBuffer1D<float, Stride1D.Dense>[] _masks;    // L−1 × (T,B,D·H) dropout masks: 0 or 1/(1−p)
    private readonly MemoryBuffer1D<float, Stride1D.Dense>[] _dropped;  // L−1 × (T,B,D·H) level l's outputs after dropout
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _dOutputs;   // (T,B,D·H) dL/d(outputs of a level); the level above's dx
    private readonly MemoryBuffer1D<float, Stride1D.Dense>? _final;     // bidirectional: (B,2H) concat of the top level's final states
    private readonly MemoryBuffer1D<float, Stride1D.Dense>? _dFinal;    // bidirectional: (B,2H) its gradient
    private readonly MemoryBuffer1D<float, Stride1D.Dense>? _dForward;  // bidirectional: (T,B,H) the forward half of a level's output gradient
    private readonly MemoryBuffer1D<float, Stride1D.Dense>? _dReverse;  // bidirectional: (T,B,H) the reverse half
    private readonly MemoryBuffer1D<float, Stride1D.Dense>? _dxReverse; // bidirectional: (T,B,X) the reverse direction's dx, added to the forward's
    private bool _dropping;
    private uint _dropoutKey;

    public StackShape Shape { get; }
    public int InputSize { get; }   // X
    public int MaxSteps { get; }
    public int MaxBatch { get; }
    /// <summary>Level l's forward layer, l = 0 (reading the input) … L−1.</summary>
    public IReadOnlyList<RecurrentLayer> ForwardLayers => _forward;
    /// <summary>Level l's reverse layer; empty unless bidirectional.</summary>
    public IReadOnlyList<RecurrentLayer> ReverseLayers => _reverse;

    private int H => Shape.Hidden;
    private int W => Shape.OutputWidth;
    private bool Bidirectional => Shape.Bidirectional;

    /// <param name="topOutputs">True when the caller reads the top level's output at every position (a loss at every position), not only its final state.</param>
    public RecurrentStack(StackShape shape, IKernelSet kernels, Accelerator accelerator, ParameterSet parameters, int inputSize,
        int maxSteps, int maxBatch, bool topOutputs)
    {
        shape.Validate();
        Shape = shape;
        _k = kernels;
        InputSize = inputSize; MaxSteps = maxSteps; MaxBatch = maxBatch;
        int levels = shape.Levels, h = shape.Hidden, w = shape.OutputWidth;
        string cell = shape.Cell.Name;
        _forward = new RecurrentLayer[levels];
        _reverse = new RecurrentLayer[shape.Bidirectional ? levels : 0];
        for (int l = 0; l < levels; l++)
        {
            int x = l == 0 ? inputSize : w;
            _forward[l] = new RecurrentLayer(shape.Cell, kernels, accelerator, parameters, $"{cell}{l}", x, h, maxSteps, maxBatch);
            if (shape.Bidirectional)
                _reverse[l] = new RecurrentLayer(shape.Cell, kernels, accelerator, parameters, $"{cell}{l}_reverse", x, h, maxSteps, maxBatch, reverse: true);
        }
        long rows = (long)maxSteps * maxBatch;
        int joinedLevels = shape.Bidirectional ? (topOutputs ? levels : levels - 1) : 0;
        _joined = Enumerable.Range(0, joinedLevels).Select(_ => accelerator.Allocate1D<float>(rows * w)).ToArray();
        int boundaries = shape.Dropout > 0 ? levels - 1 : 0;
        _masks = Enumerable.Range(0, boundaries).Select(_ => accelerator.Allocate1D<float>(rows * w)).ToArray();
        _dropped = Enumerable.Range(0, boundaries).Select(_ => accelerator.Allocate1D<float>(rows * w)).ToArray();
        _dOutputs = accelerator.Allocate1D<float>(levels > 1 || topOutputs ? rows * w : 1);
        if (shape.Bidirectional)
        {
            _final = accelerator.Allocate1D<float>((long)maxBatch * w);
            _dFinal = accelerator.Allocate1D<float>((long)maxBatch * w);
            if (levels > 1 || topOutputs)
            {
                _dForward = accelerator.Allocate1D<float>(rows * h);
                _dReverse = accelerator.Allocate1D<float>(rows * h);
                _dxReverse = accelerator.Allocate1D<float>(rows * Math.Max(inputSize, w));
            }
            else _dxReverse = accelerator.Allocate1D<float>(rows * inputSize);
        }
    }

    /// <summary>Keras's defaults for every layer, level by level, forward then reverse, from one stream.</summary>
    public void InitializeKerasDefaults(Rng rng)
    {
        for (int l = 0; l < _forward.Length; l++)
        {
            _forward[l].InitializeKerasDefaults(rng);
            if (Bidirectional) _reverse[l].InitializeKerasDefaults(rng);
        }
    }

    /// <summary>(T,B,D·H) the top level's outputs: the forward layer's, or both directions' joined.</summary>
    public ArrayView<float> Outputs(int steps, int batch) =>
        Bidirectional ? _joined[^1].Flat().SubView(0, (long)steps * batch * W) : _forward[^1].Outputs(steps, batch);

    /// <summary>(B,D·H) the top level's final state: h_T, or concat(h_T forward, h after t = 0 reverse) as PyTorch's h_n.</summary>
    public ArrayView<float> FinalState(int steps, int batch) =>
        Bidirectional ? _final!.Flat().SubView(0, (long)batch * W) : _forward[^1].LastOutput(steps, batch);

    /// <summary>(T,B,D·H) where a caller whose loss reads every position writes dL/d(outputs) before <see cref="Backward"/>.</summary>
    public ArrayView<float> OutputGradients(int steps, int batch) => _dOutputs.Flat().SubView(0, (long)steps * batch * W);

    /// <summary>(B,D·H) where a caller whose loss reads only the final state writes its gradient before <see cref="Backward"/>.</summary>
    public ArrayView<float> FinalStateGradient(int batch) =>
        Bidirectional ? _dFinal!.Flat().SubView(0, (long)batch * W) : _forward[^1].LastOutputGradient(batch);

    /// <summary>Level l's input: the stack's input for level 0; above it, level l−1's outputs (joined when bidirectional), after dropout while training.</summary>
    private LayerInput InputOf(int level, LayerInput input, int steps, int batch)
    {
        if (level == 0) return input;
        if (_dropping) return LayerInput.FromDense(_dropped[level - 1].Flat());
        return LayerInput.FromDense(Bidirectional ? _joined[level - 1].Flat() : _forward[level - 1].Outputs(steps, batch));
    }

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

    /// <summary>
    /// Every level over (T,B) inputs, from a zero state or the carried one. While <paramref name="training"/>,
    /// dropout masks between levels are drawn from <paramref name="dropoutKey"/> (see <see cref="Compute.Dropout.Key"/>).
    /// </summary>
    public void Forward(LayerInput input, int steps, int batch, bool fromCarriedState = false, bool training = false, uint dropoutKey = 0)
    {
        _dropping = training && _masks.Length > 0;
        _dropoutKey = dropoutKey;
        int rows = steps * batch;
        long n = (long)rows * W;
        for (int l = 0; l < _forward.Length; l++)
        {
            var levelInput = InputOf(l, input, steps, batch);
            _forward[l].Forward(levelInput, steps, batch, fromCarriedState);
            if (Bidirectional)
            {
                _reverse[l].Forward(levelInput, steps, batch);
                if (l < _joined.Length) Join(_forward[l].Outputs(steps, batch), _reverse[l].Outputs(steps, batch), _joined[l].Flat().SubView(0, n), rows);
            }
            if (_dropping && l < _forward.Length - 1)
            {
                var outputs = Bidirectional ? _joined[l].Flat().SubView(0, n) : _forward[l].Outputs(steps, batch);
                _k.DropoutForward(outputs, _masks[l].Flat().SubView(0, n), _dropped[l].Flat().SubView(0, n), Shape.Dropout, _dropoutKey + (uint)l * 0x9E3779B9u);
            }
        }
        if (Bidirectional) Join(_forward[^1].LastOutput(steps, batch), _reverse[^1].LastOutput(steps, batch), FinalState(steps, batch), batch);
    }

    /// <summary>
    /// Backward through the last <see cref="Forward"/>, from <see cref="OutputGradients"/> when
    /// <paramref name="fromOutputs"/>, else from <see cref="FinalStateGradient"/>. Writes every layer's
    /// gradients; dx (T,B,X) is written when <paramref name="computeInputGradient"/> (dense inputs only).
    /// </summary>
    public void Backward(LayerInput input, int steps, int batch, bool fromOutputs, ArrayView<float> dx, bool computeInputGradient)
    {
        int top = _forward.Length - 1;
        int rows = steps * batch;
        var dOutputs = _dOutputs.Flat();
        if (!Bidirectional)
        {
            // Level l reads dL/d(its outputs) from dOutputs in its time loop and only afterwards writes its dL/dx
            // (level l−1's output gradient) into the same buffer, so one buffer serves every level.
            for (int l = top; l >= 0; l--)
            {
                bool hasOutputGradients = fromOutputs || l < top;
                bool inputGradient = l > 0 || computeInputGradient;
                _forward[l].Backward(InputOf(l, input, steps, batch), steps, batch, dOutputs, hasOutputGradients, l > 0 ? dOutputs : dx, inputGradient);
                if (l > 0 && _dropping)
                {
                    // dOutputs holds dL/d(dropped outputs of level l−1); through the mask it becomes dL/d(its outputs).
                    var d = dOutputs.SubView(0, (long)rows * H);
                    _k.DropoutBackward(d, _masks[l - 1].Flat().SubView(0, d.Length), d);
                }
            }
            _dropping = false;
            return;
        }
        if (!fromOutputs)
            Split(FinalStateGradient(batch), _forward[top].LastOutputGradient(batch), _reverse[top].LastOutputGradient(batch), batch);
        long width = (long)rows * W;
        var dForward = _dForward?.Flat() ?? default;
        var dReverse = _dReverse?.Flat() ?? default;
        var dxReverse = _dxReverse!.Flat();
        for (int l = top; l >= 0; l--)
        {
            bool hasOutputGradients = fromOutputs || l < top;
            // dOutputs (T,B,2H) is consumed by the split, so it is free for this level's dx.
            if (hasOutputGradients) Split(dOutputs.SubView(0, width), dForward.SubView(0, (long)rows * H), dReverse.SubView(0, (long)rows * H), rows);
            var levelInput = InputOf(l, input, steps, batch);
            bool inputGradient = l > 0 || computeInputGradient;
            var levelDx = l > 0 ? dOutputs : dx;
            _forward[l].Backward(levelInput, steps, batch, dForward, hasOutputGradients, levelDx, inputGradient);
            _reverse[l].Backward(levelInput, steps, batch, dReverse, hasOutputGradients, dxReverse, inputGradient);
            if (!inputGradient) continue;
            // Both directions read the same input: its gradient is the sum of theirs.
            long inputWidth = (long)rows * (l > 0 ? W : InputSize);
            _k.Accumulate(dxReverse.SubView(0, inputWidth), levelDx.SubView(0, inputWidth));
            if (l > 0 && _dropping) _k.DropoutBackward(dOutputs.SubView(0, width), _masks[l - 1].Flat().SubView(0, width), dOutputs.SubView(0, width));
        }
        _dropping = false;
    }

    private void RequireForwardOnly(string what)
    {
        if (Bidirectional) throw new InvalidOperationException($"a bidirectional stack sees whole sequences; it cannot {what}");
    }

    /// <summary>Zeroes the carried state of the first <paramref name="batch"/> sequences (a stream of single steps starts from it).</summary>
    public void ResetState(int batch)
    {
        RequireForwardOnly("carry state");
        foreach (var layer in _forward) layer.ResetState(batch);
    }

    /// <summary>Makes every level's final state the next forward's initial state (truncated BPTT across batches).</summary>
    public void CarryState(int steps, int batch)
    {
        RequireForwardOnly("carry state");
        foreach (var layer in _forward) layer.CarryState(steps, batch);
    }

    /// <summary>Floats in the carried state of all levels for <paramref name="batch"/> sequences.</summary>
    public int StateLength(int batch) => Bidirectional ? 0 : _forward.Sum(l => l.StateLength(batch));

    /// <summary>Copies every level's carried state to the host (for a resumable checkpoint, or around an evaluation).</summary>
    public void ReadState(int batch, Span<float> destination)
    {
        int at = 0;
        foreach (var layer in _forward) { layer.ReadState(batch, destination.Slice(at, layer.StateLength(batch))); at += layer.StateLength(batch); }
    }

    public void WriteState(int batch, ReadOnlySpan<float> source)
    {
        int at = 0;
        foreach (var layer in _forward) { layer.WriteState(batch, source.Slice(at, layer.StateLength(batch))); at += layer.StateLength(batch); }
    }

    public void Dispose()
    {
        foreach (var layer in _forward) layer.Dispose();
        foreach (var layer in _reverse) layer.Dispose();
        foreach (var b in _joined) b.Dispose();
        foreach (var b in _masks) b.Dispose();
        foreach (var b in _dropped) b.Dispose();
        _dOutputs.Dispose(); _final?.Dispose(); _dFinal?.Dispose(); _dForward?.Dispose(); _dReverse?.Dispose(); _dxReverse?.Dispose();
    }
}
