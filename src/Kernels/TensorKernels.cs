using ILGPU;
using ILGPU.Runtime;

namespace GpuLstm.Kernels;

/// <summary>Small data-movement kernels around the LSTM: token inputs, bias gradients, and the joins of a bidirectional layer.</summary>
internal static class TensorKernels
{
    /// <summary>
    /// index: 0..R·N. output[r,n] = table[ids[r], n] + bias[n]: the input GEMM of a one-hot input, x·W + b,
    /// without multiplying by zeros (one row of W per token).
    /// </summary>
    public static void GatherRows(
        Index1D index,
        ArrayView<int> ids,       // (R) rows of table, in 0..V
        ArrayView<float> table,   // (V,N)
        ArrayView<float> bias,    // (N)
        ArrayView<float> output,  // (R,N) out
        int columns)              // N
    {
        int r = index / columns;
        int n = index - r * columns;
        output[index] = table[ids[r] * columns + n] + bias[n];
    }

    /// <summary>
    /// index: 0..V·N, one element of the table gradient per thread: tableGrad[v,n] = Σ over rows r with
    /// ids[r] = v of grads[r,n], summed in row order. No atomics, so the result is deterministic; the cost is
    /// a scan of the R ids per thread, fine for character vocabularies (V·N·R ≈ 10⁷ at the seed shape).
    /// </summary>
    public static void ScatterAddRows(
        Index1D index,
        ArrayView<int> ids,        // (R)
        ArrayView<float> grads,    // (R,N)
        ArrayView<float> tableGrad,// (V,N) out
        int rows,                  // R
        int columns)               // N
    {
        int v = index / columns;
        int n = index - v * columns;
        float acc = 0f;
        for (int r = 0; r < rows; r++)
            if (ids[r] == v) acc += grads[r * columns + n];
        tableGrad[index] = acc;
    }

    /// <summary>
    /// index: 0..V·N, one element of the table gradient per thread: tableGrad[v,n] = Σ_{j in offsets[v]..offsets[v+1]}
    /// grads[order[j], n], the <see cref="ScatterAddRows"/> contract without its scan of every id: the host
    /// sorts the batch's ids once (GpuLstm.Runtime.Data.TokenOrder, a stable counting sort), so each thread
    /// reads only the rows of its own id. Total work R·N + V·N instead of V·N·R (8·10⁹ a step at V 10,000).
    /// <para>
    /// The sort is stable (rows of an id in increasing r) and the sum starts from 0 like ScatterAddRows's, so
    /// the additions happen in the same order: the result is bit-identical to it, and deterministic (no atomics).
    /// Adjacent threads take adjacent n of the same v, so a warp reads order[j] once (a broadcast) and the
    /// row grads[order[j], ·] coalesced.
    /// </para>
    /// </summary>
    public static void ScatterAddSorted(
        Index1D index,
        ArrayView<int> order,      // (R) row indices grouped by id, increasing within an id
        ArrayView<int> offsets,    // (V+1) id v's rows are order[offsets[v] .. offsets[v+1]]; offsets[V] = R
        ArrayView<float> grads,    // (R,N)
        ArrayView<float> tableGrad,// (V,N) out: ids that no row has get zeros
        int columns)               // N
    {
        int v = index / columns;
        int n = index - v * columns;
        int end = offsets[v + 1];
        float acc = 0f;
        for (int j = offsets[v]; j < end; j++) acc += grads[order[j] * columns + n];
        tableGrad[index] = acc;
    }

    /// <summary>
    /// index: 0..N, one column per thread: sum[n] (+)= Σ_r x[r,n]. Bias gradients; adjacent threads read
    /// adjacent columns, so every row is read coalesced, and the fixed summation order is deterministic.
    /// </summary>
    public static void ColumnSum(
        Index1D column,
        ArrayView<float> x,    // (R,N)
        ArrayView<float> sum,  // (N) out
        int rows,              // R
        int columns,           // N
        int accumulate)        // 1: add to sum
    {
        float acc = 0f;
        for (int r = 0; r < rows; r++) acc += x[r * columns + column];
        if (accumulate != 0) acc += sum[column];
        sum[column] = acc;
    }

    /// <summary>Columns, row lanes and rows of a <see cref="ColumnPartials"/> group (32 × 8 = 256 threads over 256 rows).</summary>
    public const int ColumnSumColumns = 32, ColumnSumLanes = 8, ColumnSumChunk = 256;

    /// <summary>
    /// Stage 1 of <see cref="ColumnSum"/> on a GPU, where one thread per column walking all R rows leaves the
    /// device idle (2,048 threads for 6,400 dependent loads each at the medium shape). Grid (⌈N/32⌉, ⌈R/256⌉)
    /// groups of 256 threads: thread (lane l, column c) of group (gx, gy) sums rows 256·gy + l, + 8, … of its
    /// chunk in column 32·gx + c (a warp reads 32 adjacent floats of a row: coalesced), and a shared-memory tree
    /// adds the 8 lanes in fixed pairs into partials[gy, column]. <see cref="ColumnSum"/> over the ⌈R/256⌉ rows of
    /// partials finishes the sum. Deterministic, no atomics.
    /// </summary>
    public static void ColumnPartials(
        ArrayView<float> x,        // (R,N)
        ArrayView<float> partials, // (⌈R/256⌉,N) out
        int rows,                  // R
        int columns)               // N
    {
        var lanes = SharedMemory.Allocate<float>(ColumnSumColumns * ColumnSumLanes);
        int c = Group.IdxX % ColumnSumColumns;
        int lane = Group.IdxX / ColumnSumColumns;
        int column = Grid.IdxX * ColumnSumColumns + c;
        int first = Grid.IdxY * ColumnSumChunk, end = Math.Min(rows, first + ColumnSumChunk);
        float acc = 0f;
        if (column < columns)
            for (int r = first + lane; r < end; r += ColumnSumLanes) acc += x[(long)r * columns + column];
        lanes[lane * ColumnSumColumns + c] = acc;
        Group.Barrier();
        for (int half = ColumnSumLanes / 2; half > 0; half /= 2)
        {
            if (lane < half) lanes[lane * ColumnSumColumns + c] += lanes[(lane + half) * ColumnSumColumns + c];
            Group.Barrier();
        }
        if (lane == 0 && column < columns) partials[(long)Grid.IdxY * columns + column] = lanes[c];
    }

    /// <summary>
    /// index: 0..R·C over the output: output (C,R) = inputᵀ for input (R,C). Writes are coalesced; the
    /// strided reads hit the same few cache lines across a warp. Runs once per backward pass, to turn the
    /// per-step dh = dgates·Whᵀ into a plain NN product.
    /// </summary>
    public static void Transpose(
        Index1D index,
        ArrayView<float> input,   // (R,C)
        ArrayView<float> output,  // (C,R) out
        int rows,                 // R
        int columns)              // C
    {
        int c = index / rows;
        int r = index - c * rows;
        output[index] = input[r * columns + c];
    }

    /// <summary>
    /// index: 0..R·C, one element of the copied block per thread: destination[r·ds + do + c] = source[r·ss + so + c].
    /// Copies a (R,C) column block between row-major matrices of different widths: it concatenates the two
    /// directions of a bidirectional layer, (T·B,H) twice into (T·B,2H), and splits the gradient back.
    /// Adjacent threads touch adjacent columns, so both sides are accessed coalesced within a row.
    /// </summary>
    public static void CopyColumns(
        Index1D index,
        ArrayView<float> source,      // (R,ss): columns so .. so+C are read
        ArrayView<float> destination, // (R,ds) out: columns do .. do+C are written, the others are left alone
        int columns,                  // C
        int sourceStride,             // ss ≥ so + C
        int sourceOffset,             // so
        int destinationStride,        // ds ≥ do + C
        int destinationOffset)        // do
    {
        int r = index / columns;
        int c = index - r * columns;
        destination[r * destinationStride + destinationOffset + c] = source[r * sourceStride + sourceOffset + c];
    }

    /// <summary>
    /// index: 0..R·N, one element of output per thread: output[r,n] = bias[n], or output[r,n] += bias[n] when
    /// accumulate. The bias of a GEMM whose product comes from a library without one (cuBLAS): broadcast into C
    /// before a GEMM that adds onto C, or added after one that accumulated. Adjacent threads write adjacent
    /// columns, so every row is written coalesced; the bias row stays in cache.
    /// </summary>
    public static void BroadcastRows(
        Index1D index,
        ArrayView<float> bias,   // (N)
        ArrayView<float> output, // (R,N) out, or in and out when accumulate
        int columns,             // N
        int accumulate)          // 1: add to output
    {
        int n = index % columns;
        float value = bias[n];
        if (accumulate != 0) value += output[index];
        output[index] = value;
    }

    /// <summary>
    /// index: 0..N. destination[i] += source[i]: sums the input gradients of the two directions of a
    /// bidirectional layer, which both read the same input.
    /// </summary>
    public static void Accumulate(
        Index1D index,
        ArrayView<float> source,      // (N)
        ArrayView<float> destination) // (N) in and out
    {
        destination[index] += source[index];
    }
}
