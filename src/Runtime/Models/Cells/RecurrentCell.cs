using GpuLstm.Runtime.Compute;
using GpuLstm.Runtime.Compute.Host;
using GpuLstm.Runtime.Models.Cells;
using ILGPU;

namespace GpuLstm;

/// <summary>How a cell's biases are kept.</summary>
public enum BiasLayout
{
    /// <summary>One bias b = b_ih + b_hh, added with the input projection (LSTM, RNN: the two only ever appear summed).</summary>
    Combined,
    /// <summary>b_ih with the input projection and b_hh with the recurrent one (GRU: b_hn sits inside r ⊙ (W_hn h + b_hn)).</summary>
    Separate,
}

/// <summary>
/// Everything about one kind of recurrent cell, in one place: its name (the option value and the checkpoint
/// metadata), its gate count and gate order, its state, how it keeps its biases, Keras's initial values, its
/// PyTorch tensors, and its pointwise step on each kernel set. A layer (<see cref="Runtime.Models.RecurrentLayer"/>) is the
/// same plumbing for every cell (buffers, state slots, the input GEMM over all T·B rows, a recurrent GEMM per
/// step, the weight-gradient GEMMs after the loop) around the cell's two pointwise kernels. Adding a cell is
/// one subclass, its kernels in src/Kernels, and one line in <see cref="All"/>.
/// </summary>
public abstract class RecurrentCell
{
    /// <summary>The option value and checkpoint name: "lstm", "gru", "rnn". Also PyTorch's module field in the tensor names (lstm.weight_ih_l0).</summary>
    public abstract string Name { get; }

    /// <summary>PyTorch's module: nn.LSTM, nn.GRU, nn.RNN.</summary>
    public abstract string TorchModule { get; }

    /// <summary>G: gate blocks in the input and recurrent projections, each H wide.</summary>
    public abstract int Gates { get; }

    /// <summary>The gates' order inside a projection row, PyTorch's: "i, f, g, o".</summary>
    public abstract string GateOrder { get; }

    /// <summary>True when the cell carries a cell state c beside h (LSTM).</summary>
    public virtual bool HasCellState => false;

    /// <summary>
    /// True when h_prev·Wh + b_hh is kept apart from the gates (GRU); otherwise the recurrent GEMM accumulates
    /// onto the input pre-activations and one gradient serves both projections.
    /// </summary>
    public virtual bool KeepsRecurrentProjection => false;

    public BiasLayout Biases => KeepsRecurrentProjection ? BiasLayout.Separate : BiasLayout.Combined;

    /// <summary>Floats per sequence in the state carried across batches: h, and c when there is one.</summary>
    public int StateWidth(int hidden) => (HasCellState ? 2 : 1) * hidden;

    /// <summary>Parameters of one layer: Wx (X,G·H), Wh (H,G·H) and G·H biases, or twice that when kept apart.</summary>
    public long ParameterCount(long inputSize, long hidden) =>
        Gates * hidden * (inputSize + hidden) + (Biases == BiasLayout.Separate ? 2 : 1) * Gates * hidden;

    /// <summary>Keras's initial bias (the combined one, or b_ih): zeros, except where a cell says otherwise (the LSTM's forget gate).</summary>
    public virtual float[] InitialBias(int hidden) => new float[Gates * hidden];

    public override string ToString() => Name;

    // The pointwise kernels, called by the kernel sets (never directly): host code on the CPU accelerator's
    // memory, and ILGPU kernels loaded once per accelerator.

    internal void HostForward(in CellStep step) => HostForward(step, 0, step.Hidden);
    internal void HostBackward(in CellStep step) => HostBackward(step, 0, step.Hidden);
    /// <summary>The pointwise forward for units [firstUnit, endUnit) of every row: it reads and writes those units' gates and states only, so threads may split the units.</summary>
    internal abstract unsafe void HostForward(in CellStep step, int firstUnit, int endUnit);
    /// <summary>The pointwise backward for units [firstUnit, endUnit) of every row (see <see cref="HostForward(in CellStep, int, int)"/>).</summary>
    internal abstract unsafe void HostBackward(in CellStep step, int firstUnit, int endUnit);
    internal abstract void IlgpuForward(IlgpuKernelSet kernels, in CellStep step);
    internal abstract void IlgpuBackward(IlgpuKernelSet kernels, in CellStep step);

    /// <summary>The GPU path's time step: the recurrent GEMM and this cell's math in one launch each way.</summary>
    internal abstract FusedRecurrentStep FusedStep { get; }

    /// <summary>
    /// One launch for the recurrent GEMM and the cell together, where the cell has such a kernel; false
    /// otherwise (the set then runs its GEMM and <see cref="IlgpuForward"/>).
    /// </summary>
    internal virtual bool IlgpuFusedStep(IlgpuKernelSet kernels, in CellStep step, ArrayView<float> recurrentWeights) => false;

    /// <summary>A view's address on the host (the CPU accelerator's memory); null for an empty view.</summary>
    private protected static unsafe float* Host(ArrayView<float> view) => HostKernelSet.Pointer(view);

    /// <summary>The LSTM, the GRU and the Elman RNN: every cell this build knows, in the order help texts list them.</summary>
    public static IReadOnlyList<RecurrentCell> All { get; } = new RecurrentCell[] { LstmCell.Instance, GruCell.Instance, RnnCell.Instance };

    public static RecurrentCell Lstm => LstmCell.Instance;
    public static RecurrentCell Gru => GruCell.Instance;
    public static RecurrentCell Rnn => RnnCell.Instance;

    /// <summary>The names of <see cref="All"/>, for help texts and messages: "lstm, gru".</summary>
    public static string Names => string.Join(", ", All.Select(c => c.Name));

    /// <summary>The names of <see cref="All"/> as a sentence says them: "lstm and gru", "lstm, gru and rnn".</summary>
    public static string NameList => All.Count == 1 ? All[0].Name : string.Join(", ", All.Take(All.Count - 1).Select(c => c.Name)) + " and " + All[^1].Name;

    /// <summary>The cell named <paramref name="name"/> (case and surrounding spaces ignored), or null.</summary>
    public static RecurrentCell? Find(string? name)
    {
        string key = (name ?? "").Trim().ToLowerInvariant();
        return All.FirstOrDefault(c => c.Name == key);
    }

    /// <summary>The cell named <paramref name="name"/>; an unknown name is a <see cref="SettingException"/> listing the known ones.</summary>
    public static RecurrentCell Parse(string? name) =>
        Find(name) ?? throw new SettingException("Cell", $"unknown recurrent cell '{name}'; this build knows {Names}");
}
