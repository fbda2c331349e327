using ILGPU;

namespace GpuLstm.Runtime.Models.Cells;

/// <summary>
/// A layer's whole recurrence (haste's Run), as <see cref="Compute.IKernelSet.RecurrentForward"/> and
/// <see cref="Compute.IKernelSet.RecurrentBackward"/> take it: the sequence's buffers and the order its steps
/// run in. <see cref="ForwardStep"/> and <see cref="BackwardStep"/> give the views of one step (Iterate), so a
/// kernel set either loops over them or runs the whole sequence in one call.
/// Backward writes each step's gate gradients over its saved activations (DGates = Gates, DRecurrent = Recurrent):
/// a cell reads an element's gates before it writes that element's gradients.
/// </summary>
internal readonly struct RecurrentRun
{
    public int Steps { get; init; }    // T
    public int Batch { get; init; }    // B
    public int Hidden { get; init; }   // H
    public int Gates { get; init; }    // G
    /// <summary>Runs from t = T−1 down to 0 (see <see cref="StateSlots"/>).</summary>
    public bool Reverse { get; init; }
    /// <summary>(T,B,G·H) forward in: x_t·Wx + b; out: the activations; backward out: dL/d(input-side pre-activations).</summary>
    public ArrayView<float> GateRows { get; init; }
    /// <summary>(T,B,G·H) h_prev·Wh + b_hh for a cell that keeps it apart, then its gradient; empty otherwise.</summary>
    public ArrayView<float> RecurrentRows { get; init; }
    /// <summary>(T+1,B,H) the state slots (<see cref="StateSlots"/>).</summary>
    public ArrayView<float> HiddenSlots { get; init; }
    /// <summary>(T+1,B,H) the cell-state slots, for a cell with a cell state; empty otherwise.</summary>
    public ArrayView<float> CellSlots { get; init; }
    /// <summary>Forward: the first step reads a zero state, which the set writes into its slot.</summary>
    public bool StartsFromZero { get; init; }

    // Backward only.
    /// <summary>(T,B,H) dL/d(output at t) for every t, when <see cref="HasOutputGradients"/>.</summary>
    public ArrayView<float> OutputGradients { get; init; }
    public bool HasOutputGradients { get; init; }
    /// <summary>(B,H) dL/dh carried between steps; holds the caller's dL/d(final state) when not <see cref="HasOutputGradients"/>.</summary>
    public ArrayView<float> DhRec { get; init; }
    /// <summary>(B,H) dL/dc carried between steps, for a cell with a cell state.</summary>
    public ArrayView<float> Dc { get; init; }

    private StateSlots Slots => new(Reverse);
    private int GateWidth => Gates * Hidden;
    private int StateLength => Batch * Hidden;

    /// <summary>The input time of the i-th step forward runs.</summary>
    public int ForwardTime(int i) => Slots.ForwardStep(i, Steps);

    /// <summary>The input time of the i-th step backward visits (forward's order reversed).</summary>
    public int BackwardTime(int i) => Slots.BackwardStep(i, Steps);

    private ArrayView<float> Rows(ArrayView<float> buffer, int t) =>
        buffer.Length == 0 ? default : buffer.SubView((long)t * Batch * GateWidth, (long)Batch * GateWidth);              // (B,G·H)
    private ArrayView<float> Slot(ArrayView<float> slots, int slot) =>
        slots.Length == 0 ? default : slots.SubView((long)slot * StateLength, StateLength);                              // (B,H)

    /// <summary>The views of the i-th step forward runs.</summary>
    public CellStep ForwardStep(int i)
    {
        int t = ForwardTime(i);
        return new CellStep
        {
            Batch = Batch, Hidden = Hidden, Gates = Rows(GateRows, t), Recurrent = Rows(RecurrentRows, t),
            PrevH = Slot(HiddenSlots, Slots.Prev(t)), PrevC = Slot(CellSlots, Slots.Prev(t)),
            H = Slot(HiddenSlots, Slots.Out(t)), C = Slot(CellSlots, Slots.Out(t)), StartsFromZero = i == 0 && StartsFromZero,
        };
    }

    /// <summary>The views of the i-th step backward visits; its gradients go over its activations.</summary>
    public CellStep BackwardStep(int i)
    {
        int t = BackwardTime(i);
        return new CellStep
        {
            Batch = Batch, Hidden = Hidden, Gates = Rows(GateRows, t), Recurrent = Rows(RecurrentRows, t),
            PrevH = Slot(HiddenSlots, Slots.Prev(t)), PrevC = Slot(CellSlots, Slots.Prev(t)), C = Slot(CellSlots, Slots.Out(t)),
            DhOut = HasOutputGradients ? OutputGradients.SubView((long)t * StateLength, StateLength) : default, HasDhOut = HasOutputGradients,
            DhRec = DhRec, Dc = Dc, DGates = Rows(GateRows, t), DRecurrent = Rows(RecurrentRows, t),
            FirstBackward = i == 0, DhRecIsZero = HasOutputGradients,
        };
    }

    /// <summary>
    /// (B,G·H) the recurrent gradient the i-th backward step reads: that of the step processed just before it
    /// (t+1 in time forward), the kept projection's for a cell that keeps it apart; empty for the first.
    /// </summary>
    public ArrayView<float> NextGradients(int i) =>
        i == 0 ? default : Rows(RecurrentRows.Length != 0 ? RecurrentRows : GateRows, BackwardTime(i - 1));

    /// <summary>(T·B,H) row t·B + b is the state step t read: the rows the recurrent weight gradient multiplies.</summary>
    public ArrayView<float> PreviousStates => HiddenSlots.SubView((long)Slots.Prev(0) * StateLength, (long)Steps * StateLength);
}
