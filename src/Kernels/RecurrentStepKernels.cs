using ILGPU;
using ILGPU.Runtime;

namespace GpuLstm.Kernels;

/// <summary>The shape and flags of one fused recurrent step (ints, not bools: blittable on every backend).</summary>
internal struct RecurrentStepShape
{
    public int Batch;        // B
    public int Hidden;       // H
    /// <summary>Forward: the step reads a zero state (a sequence's first step): no recurrent product, and the zeros are written into the previous-state slot, which the weight gradient reads later.</summary>
    public int PrevIsZero;
    /// <summary>Backward: the first step processed (the last in time): no later step's gradient flows in, and dc starts at zero.</summary>
    public int First;
    /// <summary>Backward, with First: dhRec holds nothing (the loss sees every output); otherwise it holds the caller's dL/d(final state).</summary>
    public int DhRecIsZero;
    /// <summary>Backward: dhOut carries dL/dh from the layer above or the loss at this step.</summary>
    public int HasDhOut;
}

/// <summary>
/// One time step of a recurrent layer in one launch on a GPU, for any cell (<see cref="ICellMath"/>): the
/// recurrent GEMM of a 16-row × 16-unit tile, staged through shared memory, then the cell's pointwise math on
/// the tile's elements, whose gates are all in the tile because a thread owns unit j's G gate columns
/// (j, H+j, …). Haste and cuDNN fuse the same way: a step costs one launch forward and one backward instead of
/// a GEMM and a cell kernel each, and no (B,G·H) product makes a round trip through memory. Launch with
/// <see cref="Config"/>: grid (⌈H/16⌉, ⌈B/16⌉), groups of (16,16); thread (x,y) of group (gx,gy) owns
/// element (b,j) = (16·gy + y, 16·gx + x).
/// </summary>
internal static class RecurrentStepKernels
{
    public const int Tile = 16;

    public static KernelConfig Config(int batch, int hidden) =>
        new(new Index2D((hidden + Tile - 1) / Tile, (batch + Tile - 1) / Tile), new Index2D(Tile, Tile));

    /// <summary>
    /// Forward: r_g(b,j) = Σ_k h_{t−1}(b,k)·Wh(k, g·H + j) for each gate g (+ b_hh where the cell keeps the
    /// recurrent projection, which is then stored), then the cell update of (b,j): activations over the gates
    /// buffer, h_t, and c_t for a cell with a cell state.
    /// </summary>
    public static void Forward<TCell>(
        ArrayView<float> hPrev,         // (B,H) h_{t−1}; written with zeros when PrevIsZero
        ArrayView<float> cPrev,         // (B,H) c_{t−1}, cells with a cell state; written with zeros when PrevIsZero
        ArrayView<float> weights,       // (H,G·H) Wh
        ArrayView<float> recurrentBias, // (G·H) b_hh, cells that keep the recurrent projection
        ArrayView<float> gates,         // (B,G·H) in: x_t·Wx + b; out: the activations backward reads
        ArrayView<float> recurrent,     // (B,G·H) out: h_{t−1}·Wh + b_hh, cells that keep it
        ArrayView<float> h,             // (B,H) out: h_t
        ArrayView<float> c,             // (B,H) out: c_t, cells with a cell state
        RecurrentStepShape s)
        where TCell : struct, ICellMath
    {
        var hTile = SharedMemory.Allocate<float>(Tile * Tile);     // [row][k]
        var wTile = SharedMemory.Allocate<float>(4 * Tile * Tile); // [gate][k][unit]
        var cell = default(TCell);
        int gates4 = cell.Gates, hidden = s.Hidden, gh = gates4 * hidden;
        int u = Group.IdxX, r = Group.IdxY;
        int j = Grid.IdxX * Tile + u, b = Grid.IdxY * Tile + r;
        var sum = new Gate4();
        if (s.PrevIsZero == 0)
        {
            for (int k0 = 0; k0 < hidden; k0 += Tile)
            {
                // Adjacent threads load adjacent k of an h row and adjacent units of a Wh row: both coalesced.
                int hb = Grid.IdxY * Tile + r, hk = k0 + u;
                hTile[r * Tile + u] = hb < s.Batch && hk < hidden ? hPrev[hb * hidden + hk] : 0f;
                int wk = k0 + r;
                for (int g = 0; g < gates4; g++)
                    wTile[(g * Tile + r) * Tile + u] = wk < hidden && j < hidden ? weights[(long)wk * gh + g * hidden + j] : 0f;
                Group.Barrier();
                for (int kk = 0; kk < Tile; kk++)
                {
                    // One shared load of h feeds G multiply-adds (4 for the LSTM).
                    float hv = hTile[r * Tile + kk];
                    sum.A += hv * wTile[kk * Tile + u];
                    if (gates4 > 1) sum.B += hv * wTile[(Tile + kk) * Tile + u];
                    if (gates4 > 2) sum.C += hv * wTile[(2 * Tile + kk) * Tile + u];
                    if (gates4 > 3) sum.D += hv * wTile[(3 * Tile + kk) * Tile + u];
                }
                Group.Barrier();
            }
        }
        if (b >= s.Batch || j >= hidden) return;
        int e = b * hidden + j;
        long row = (long)b * gh + j;
        var x = new Gate4();
        for (int g = 0; g < gates4; g++)
        {
            x.Set(g, gates[row + g * hidden]);
            if (cell.KeepsRecurrent)
            {
                float kept = sum.Get(g) + recurrentBias[g * hidden + j];
                sum.Set(g, kept);
                recurrent[row + g * hidden] = kept;
            }
        }
        float hp = 0f, cp = 0f;
        if (s.PrevIsZero != 0)
        {
            hPrev[e] = 0f;
            if (cell.HasCellState) cPrev[e] = 0f;
        }
        else
        {
            hp = hPrev[e];
            if (cell.HasCellState) cp = cPrev[e];
        }
        cell.Forward(x, sum, hp, cp, out var act, out float hNew, out float cNew);
        for (int g = 0; g < gates4; g++) gates[row + g * hidden] = act.Get(g);
        h[e] = hNew;
        if (cell.HasCellState) c[e] = cNew;
    }

    /// <summary>
    /// Backward: dL/dh_t(b,j) = Σ_k dNext(b,k)·Wh(j,k), the recurrent gradient of the step processed before
    /// (t+1), read from Wh row by row (no transposed copy), plus the direct part a kept-projection cell left in
    /// dhRec, plus dhOut; then the cell's backward of (b,j) at step t: the gate gradients, dL/dc_{t−1} over dc,
    /// and the direct part of dL/dh_{t−1} over dhRec (cells that keep the recurrent projection).
    /// </summary>
    public static void Backward<TCell>(
        ArrayView<float> dNext,      // (B,G·H) dL/d(recurrent pre-activations) at step t+1; unread when First
        ArrayView<float> weights,    // (H,G·H) Wh
        ArrayView<float> gates,      // (B,G·H) activations saved by Forward at step t
        ArrayView<float> recurrent,  // (B,G·H) the kept h_{t−1}·Wh + b_hh, cells that keep it
        ArrayView<float> hPrev,      // (B,H) h_{t−1}
        ArrayView<float> cPrev,      // (B,H) c_{t−1}, cells with a cell state
        ArrayView<float> c,          // (B,H) c_t, cells with a cell state
        ArrayView<float> dhOut,      // (B,H) dL/dh_t from above; read when HasDhOut
        ArrayView<float> dhRec,      // (B,H) in: see RecurrentStepShape; out: the direct part of dL/dh_{t−1}, cells that keep it
        ArrayView<float> dc,         // (B,H) in: dL/dc_t (zero when First); out: dL/dc_{t−1}, cells with a cell state
        ArrayView<float> dGates,     // (B,G·H) out: dL/d(input pre-activations) at step t
        ArrayView<float> dRecurrent, // (B,G·H) out: dL/d(kept recurrent projection), cells that keep it
        RecurrentStepShape s)
        where TCell : struct, ICellMath
    {
        var dTile = SharedMemory.Allocate<float>(Tile * Tile); // [row][k]
        var wTile = SharedMemory.Allocate<float>(Tile * Tile); // [unit][k]
        var cell = default(TCell);
        int gates4 = cell.Gates, hidden = s.Hidden, gh = gates4 * hidden;
        int u = Group.IdxX, r = Group.IdxY;
        int j = Grid.IdxX * Tile + u, b = Grid.IdxY * Tile + r;
        float product = 0f;
        if (s.First == 0)
        {
            for (int k0 = 0; k0 < gh; k0 += Tile)
            {
                // Both loads walk k, the unit-stride dimension of dNext and of Wh's rows: coalesced.
                int k = k0 + u;
                int db = Grid.IdxY * Tile + r, wj = Grid.IdxX * Tile + r;
                dTile[r * Tile + u] = db < s.Batch && k < gh ? dNext[(long)db * gh + k] : 0f;
                wTile[r * Tile + u] = wj < hidden && k < gh ? weights[(long)wj * gh + k] : 0f;
                Group.Barrier();
                for (int kk = 0; kk < Tile; kk++) product += dTile[r * Tile + kk] * wTile[u * Tile + kk];
                Group.Barrier();
            }
        }
        if (b >= s.Batch || j >= hidden) return;
        int e = b * hidden + j;
        long row = (long)b * gh + j;
        float dh;
        if (s.First != 0) dh = s.DhRecIsZero != 0 ? 0f : dhRec[e];
        else dh = cell.KeepsRecurrent ? product + dhRec[e] : product;
        if (s.HasDhOut != 0) dh += dhOut[e];
        var act = new Gate4();
        var kept = new Gate4();
        for (int g = 0; g < gates4; g++)
        {
            act.Set(g, gates[row + g * hidden]);
            if (cell.KeepsRecurrent) kept.Set(g, recurrent[row + g * hidden]);
        }
        float cp = cell.HasCellState ? cPrev[e] : 0f, ct = cell.HasCellState ? c[e] : 0f;
        float dcIn = s.First == 0 && cell.HasCellState ? dc[e] : 0f;
        cell.Backward(act, kept, hPrev[e], cp, ct, dh, dcIn, out var dInput, out var dRec, out float direct, out float dcPrev);
        for (int g = 0; g < gates4; g++)
        {
            dGates[row + g * hidden] = dInput.Get(g);
            if (cell.KeepsRecurrent) dRecurrent[row + g * hidden] = dRec.Get(g);
        }
        if (cell.KeepsRecurrent) dhRec[e] = direct;
        if (cell.HasCellState) dc[e] = dcPrev;
    }
}
