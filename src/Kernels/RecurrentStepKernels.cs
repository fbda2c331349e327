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
/// recurrent product of a 16-row × 16-unit tile, staged through shared memory, then the cell's pointwise math on
/// the tile's elements, whose gates are all in the tile because unit j's G gate columns (j, H+j, …) go together.
/// Haste and cuDNN fuse the same way: a step costs one launch forward and one backward, and no (B,G·H) product
/// makes a round trip through memory.
///
/// A step has few outputs (B·G·H forward, B·H backward: 131,072 and 32,768 at the medium shape), so a tile of
/// one multiprocessor holds a few hundred; what limits the kernel is shared-memory traffic per multiply-add.
/// Each thread therefore owns several outputs, held in registers, and the 256 threads of a group split the
/// reduction over k between them (2 ways forward, 4 backward), adding their partial sums in a fixed order at
/// the end. Forward, a thread owns 2 rows × the G gates of one unit: per k it reads h for both rows in one 8-byte
/// load and one Wh value per gate, for 2·G multiply-adds. Backward, 2 rows × 2 units: one 8-byte load of dNext
/// and one of Wh feed 4 multiply-adds. Launch with <see cref="Config"/>: grid (⌈H/16⌉, ⌈B/16⌉), 256 threads.
/// </summary>
internal static class RecurrentStepKernels
{
    public const int Tile = 16;
    public const int GroupSize = 256;

    public static KernelConfig Config(int batch, int hidden) =>
        new(new Index2D((hidden + Tile - 1) / Tile, (batch + Tile - 1) / Tile), new Index2D(GroupSize, 1));

    // Forward: 2 k-halves × 128 threads; thread (unit u, row pair p) owns rows 2p, 2p+1 of the tile.
    private const int ForwardSplit = 2, ForwardK = ForwardSplit * Tile; // k per staged tile (16 per half)
    // Backward: 4 k-quarters × 64 threads; thread (unit pair q, row pair p) owns rows 2p, 2p+1 × units 2q, 2q+1.
    private const int BackwardSplit = 4, BackwardK = BackwardSplit * Tile;
    // Staged backward tiles are [k][16] padded to 18 floats a k: the transposing stores spread over banks, and an
    // even stride keeps every pair 8-byte aligned for the paired loads.
    private const int BackwardStride = Tile + 2;

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
        var hTile = SharedMemory.Allocate<float>(ForwardK * Tile);     // [k][row]: a thread's two rows side by side
        var wTile = SharedMemory.Allocate<float>(4 * ForwardK * Tile); // [gate][k][unit]; then the halves' exchange
        var cell = default(TCell);
        int gateCount = cell.Gates, hidden = s.Hidden, gh = gateCount * hidden;
        int t = Group.IdxX;
        int half = t / 128, lane = t % 128;
        int u = lane % Tile, pair = lane / Tile;   // unit, row pair
        int j = Grid.IdxX * Tile + u;
        int b0 = Grid.IdxY * Tile;
        var sum0 = new Gate4();                    // row 2·pair
        var sum1 = new Gate4();                    // row 2·pair + 1
        if (s.PrevIsZero == 0)
        {
            for (int k0 = 0; k0 < hidden; k0 += ForwardK)
            {
                // h: 16 rows × 32 k, 2 per thread, read along k (coalesced), stored [k][row].
                for (int e = t; e < ForwardK * Tile; e += GroupSize)
                {
                    int k = e % ForwardK, row = e / ForwardK;
                    int gk = k0 + k, gb = b0 + row;
                    hTile[k * Tile + row] = gk < hidden && gb < s.Batch ? hPrev[gb * hidden + gk] : 0f;
                }
                // Wh: G gates × 32 k × 16 units, read along the units (coalesced), stored [gate][k][unit].
                for (int e = t; e < gateCount * ForwardK * Tile; e += GroupSize)
                {
                    int unit = e % Tile, k = (e / Tile) % ForwardK, g = e / (Tile * ForwardK);
                    int gk = k0 + k, gj = Grid.IdxX * Tile + unit;
                    wTile[(g * ForwardK + k) * Tile + unit] = gk < hidden && gj < hidden ? weights[(long)gk * gh + g * hidden + gj] : 0f;
                }
                Group.Barrier();
                for (int kk = half * Tile; kk < half * Tile + Tile; kk++)
                {
                    var hv = hTile.Cast<FloatPair>()[kk * (Tile / 2) + pair]; // one 8-byte load for both rows
                    float h0 = hv.First, h1 = hv.Second;
                    float w = wTile[kk * Tile + u];
                    sum0.A += h0 * w;
                    sum1.A += h1 * w;
                    if (gateCount > 1)
                    {
                        w = wTile[(ForwardK + kk) * Tile + u];
                        sum0.B += h0 * w;
                        sum1.B += h1 * w;
                    }
                    if (gateCount > 2)
                    {
                        w = wTile[(2 * ForwardK + kk) * Tile + u];
                        sum0.C += h0 * w;
                        sum1.C += h1 * w;
                    }
                    if (gateCount > 3)
                    {
                        w = wTile[(3 * ForwardK + kk) * Tile + u];
                        sum0.D += h0 * w;
                        sum1.D += h1 * w;
                    }
                }
                Group.Barrier();
            }
            // The second half hands its sums to the first (fixed order: first + second).
            if (half == 1)
                for (int g = 0; g < gateCount; g++)
                {
                    wTile[(g * 2) * 128 + lane] = sum0.Get(g);
                    wTile[(g * 2 + 1) * 128 + lane] = sum1.Get(g);
                }
            Group.Barrier();
            if (half == 0)
                for (int g = 0; g < gateCount; g++)
                {
                    sum0.Set(g, sum0.Get(g) + wTile[(g * 2) * 128 + lane]);
                    sum1.Set(g, sum1.Get(g) + wTile[(g * 2 + 1) * 128 + lane]);
                }
        }
        if (half != 0 || j >= hidden) return;
        ForwardElement(cell, b0 + 2 * pair, j, sum0, hPrev, cPrev, recurrentBias, gates, recurrent, h, c, s);
        ForwardElement(cell, b0 + 2 * pair + 1, j, sum1, hPrev, cPrev, recurrentBias, gates, recurrent, h, c, s);
    }

    private static void ForwardElement<TCell>(TCell cell, int b, int j, Gate4 sum, ArrayView<float> hPrev, ArrayView<float> cPrev,
        ArrayView<float> recurrentBias, ArrayView<float> gates, ArrayView<float> recurrent, ArrayView<float> h, ArrayView<float> c,
        RecurrentStepShape s)
        where TCell : struct, ICellMath
    {
        if (b >= s.Batch) return;
        int gateCount = cell.Gates, hidden = s.Hidden;
        int e = b * hidden + j;
        long row = (long)b * gateCount * hidden + j;
        var x = new Gate4();
        for (int g = 0; g < gateCount; g++)
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
        for (int g = 0; g < gateCount; g++) gates[row + g * hidden] = act.Get(g);
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
        var dTile = SharedMemory.Allocate<float>(BackwardK * BackwardStride); // [k][row]; then the quarters' exchange
        var wTile = SharedMemory.Allocate<float>(BackwardK * BackwardStride); // [k][unit]
        var cell = default(TCell);
        int hidden = s.Hidden, gh = cell.Gates * hidden;
        int t = Group.IdxX;
        int quarter = t / 64, lane = t % 64;
        int unitPair = lane % 8, rowPair = lane / 8;
        int j0 = Grid.IdxX * Tile, b0 = Grid.IdxY * Tile;
        // Products of rows (2·rowPair, +1) × units (2·unitPair, +1).
        float p00 = 0f, p01 = 0f, p10 = 0f, p11 = 0f;
        if (s.First == 0)
        {
            for (int k0 = 0; k0 < gh; k0 += BackwardK)
            {
                // dNext: 16 rows × 64 k and Wh: 16 units × 64 k, read along k (coalesced), stored [k][row] and [k][unit].
                for (int e = t; e < BackwardK * Tile; e += GroupSize)
                {
                    int k = e % BackwardK, i = e / BackwardK;
                    int gk = k0 + k, gb = b0 + i, gj = j0 + i;
                    dTile[k * BackwardStride + i] = gk < gh && gb < s.Batch ? dNext[(long)gb * gh + gk] : 0f;
                    wTile[k * BackwardStride + i] = gk < gh && gj < hidden ? weights[(long)gj * gh + gk] : 0f;
                }
                Group.Barrier();
                for (int kk = quarter * Tile; kk < quarter * Tile + Tile; kk++)
                {
                    var dv = dTile.Cast<FloatPair>()[kk * (BackwardStride / 2) + rowPair];  // one 8-byte load: both rows
                    var wv = wTile.Cast<FloatPair>()[kk * (BackwardStride / 2) + unitPair]; // one 8-byte load: both units
                    float d0 = dv.First, d1 = dv.Second, w0 = wv.First, w1 = wv.Second;
                    p00 += d0 * w0;
                    p01 += d0 * w1;
                    p10 += d1 * w0;
                    p11 += d1 * w1;
                }
                Group.Barrier();
            }
            // Quarters 1–3 hand their products to quarter 0, which adds them in order 0 + 1 + 2 + 3.
            if (quarter > 0)
            {
                int at = ((quarter - 1) * 64 + lane) * 4;
                dTile[at] = p00; dTile[at + 1] = p01; dTile[at + 2] = p10; dTile[at + 3] = p11;
            }
            Group.Barrier();
            if (quarter == 0)
                for (int q = 1; q < BackwardSplit; q++)
                {
                    int at = ((q - 1) * 64 + lane) * 4;
                    p00 += dTile[at]; p01 += dTile[at + 1]; p10 += dTile[at + 2]; p11 += dTile[at + 3];
                }
        }
        if (quarter != 0) return;
        int r0 = b0 + 2 * rowPair, u0 = j0 + 2 * unitPair;
        BackwardElement(cell, r0, u0, p00, gates, recurrent, hPrev, cPrev, c, dhOut, dhRec, dc, dGates, dRecurrent, s);
        BackwardElement(cell, r0, u0 + 1, p01, gates, recurrent, hPrev, cPrev, c, dhOut, dhRec, dc, dGates, dRecurrent, s);
        BackwardElement(cell, r0 + 1, u0, p10, gates, recurrent, hPrev, cPrev, c, dhOut, dhRec, dc, dGates, dRecurrent, s);
        BackwardElement(cell, r0 + 1, u0 + 1, p11, gates, recurrent, hPrev, cPrev, c, dhOut, dhRec, dc, dGates, dRecurrent, s);
    }

    private static void BackwardElement<TCell>(TCell cell, int b, int j, float product, ArrayView<float> gates, ArrayView<float> recurrent,
        ArrayView<float> hPrev, ArrayView<float> cPrev, ArrayView<float> c, ArrayView<float> dhOut, ArrayView<float> dhRec, ArrayView<float> dc,
        ArrayView<float> dGates, ArrayView<float> dRecurrent, RecurrentStepShape s)
        where TCell : struct, ICellMath
    {
        int gateCount = cell.Gates, hidden = s.Hidden;
        if (b >= s.Batch || j >= hidden) return;
        int e = b * hidden + j;
        long row = (long)b * gateCount * hidden + j;
        float dh;
        if (s.First != 0) dh = s.DhRecIsZero != 0 ? 0f : dhRec[e];
        else dh = cell.KeepsRecurrent ? product + dhRec[e] : product;
        if (s.HasDhOut != 0) dh += dhOut[e];
        var act = new Gate4();
        var kept = new Gate4();
        for (int g = 0; g < gateCount; g++)
        {
            act.Set(g, gates[row + g * hidden]);
            if (cell.KeepsRecurrent) kept.Set(g, recurrent[row + g * hidden]);
        }
        float cp = cell.HasCellState ? cPrev[e] : 0f, ct = cell.HasCellState ? c[e] : 0f;
        float dcIn = s.First == 0 && cell.HasCellState ? dc[e] : 0f;
        cell.Backward(act, kept, hPrev[e], cp, ct, dh, dcIn, out var dInput, out var dRec, out float direct, out float dcPrev);
        for (int g = 0; g < gateCount; g++)
        {
            dGates[row + g * hidden] = dInput.Get(g);
            if (cell.KeepsRecurrent) dRecurrent[row + g * hidden] = dRec.Get(g);
        }
        if (cell.KeepsRecurrent) dhRec[e] = direct;
        if (cell.HasCellState) dc[e] = dcPrev;
    }
}

/// <summary>Two adjacent floats of shared memory, read as one 8-byte load.</summary>
internal struct FloatPair
{
    public float First, Second;
}

