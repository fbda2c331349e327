using ILGPU;

namespace GpuLstm.Runtime.Models.Cells;

/// <summary>
/// The views of one time step of one recurrent layer, as a cell's pointwise kernels read and write them. A
/// cell reads only the views it uses (<see cref="C"/> and <see cref="PrevC"/> for a cell with a cell state,
/// <see cref="Recurrent"/> for a cell that keeps its recurrent projection apart); the others are empty.
/// </summary>
internal readonly struct CellStep
{
    public int Batch { get; init; }                    // B
    public int Hidden { get; init; }                   // H
    /// <summary>(B,G·H) forward in: the pre-activations (x·Wx + b, plus h·Wh for cells that accumulate it here); out: the activations backward needs.</summary>
    public ArrayView<float> Gates { get; init; }
    /// <summary>(B,G·H) h_prev·Wh + b_hh, for a cell that keeps it apart from the gates (GRU: its reset gate multiplies one block).</summary>
    public ArrayView<float> Recurrent { get; init; }
    public ArrayView<float> PrevH { get; init; }       // (B,H) the state the step reads
    public ArrayView<float> PrevC { get; init; }       // (B,H) the cell state it reads (LSTM)
    public ArrayView<float> H { get; init; }           // (B,H) out: the new state
    public ArrayView<float> C { get; init; }           // (B,H) out: the new cell state (LSTM)
    /// <summary>The step reads a zero state (a sequence's first step from no carried state): the set zeroes PrevH and PrevC, or acts as if it had.</summary>
    public bool StartsFromZero { get; init; }

    // Backward only.
    /// <summary>(B,H) dL/dh from the layer above or the loss at this step; read when <see cref="HasDhOut"/>.</summary>
    public ArrayView<float> DhOut { get; init; }
    public bool HasDhOut { get; init; }
    /// <summary>(B,H) in: dL/dh through the next step's recurrent GEMM; a cell may overwrite it with the direct part of dL/dh_prev.</summary>
    public ArrayView<float> DhRec { get; init; }
    /// <summary>(B,H) in: dL/dc from the next step; out: dL/dc_prev (LSTM).</summary>
    public ArrayView<float> Dc { get; init; }
    /// <summary>(B,G·H) out: dL/d(input-side pre-activations).</summary>
    public ArrayView<float> DGates { get; init; }
    /// <summary>(B,G·H) out: dL/d(recurrent projection), for a cell that keeps it apart.</summary>
    public ArrayView<float> DRecurrent { get; init; }
    /// <summary>The first step backward runs (the last in time): nothing flows in from a later step, and Dc starts at zero.</summary>
    public bool FirstBackward { get; init; }
    /// <summary>With <see cref="FirstBackward"/>: DhRec starts at zero (the loss sees every output); otherwise the caller wrote dL/d(final state) there.</summary>
    public bool DhRecIsZero { get; init; }
}
