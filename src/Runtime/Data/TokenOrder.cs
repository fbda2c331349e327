namespace GpuLstm.Runtime.Data;

/// <summary>
/// A batch's token ids grouped by id, for the scatter-add of a one-hot input's weight gradient
/// (GpuLstm.Kernels.TensorKernels.ScatterAddSorted): the host knows every id before it uploads them, so it
/// sorts them once per batch in O(R + V) and the GPU then reads only each id's own rows, instead of every
/// table element scanning all R ids.
/// </summary>
internal static class TokenOrder
{
    /// <summary>
    /// Stable counting sort of <paramref name="ids"/> (R, each in 0..V). Writes order[0..R], the row indices
    /// grouped by id in increasing id and, within an id, in increasing row (the order ScatterAddRows adds them
    /// in); and offsets[0..V+1], where id v's rows are order[offsets[v] .. offsets[v+1]], offsets[0] = 0 and
    /// offsets[V] = R. An id no row has gets an empty segment. The arrays are the caller's, reused batch after
    /// batch: nothing is allocated, and their previous contents do not matter. Longer arrays are allowed
    /// (a buffer sized for the largest batch); only the first R and V+1 elements are written.
    /// </summary>
    /// <exception cref="ArgumentException">An array is too short.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An id is outside 0..V, or V is not positive.</exception>
    public static void Sort(
        ReadOnlySpan<int> ids, // (R) token ids in 0..V
        int vocab,             // V
        Span<int> order,       // (≥ R) out
        Span<int> offsets)     // (≥ V+1) out
    {
        if (vocab < 1) throw new ArgumentOutOfRangeException(nameof(vocab), $"the vocabulary must have at least one id, got {vocab}");
        if (order.Length < ids.Length) throw new ArgumentException($"order holds {order.Length} rows, the batch has {ids.Length}", nameof(order));
        if (offsets.Length < vocab + 1) throw new ArgumentException($"offsets holds {offsets.Length} entries, a vocabulary of {vocab} needs {vocab + 1}", nameof(offsets));

        // Count id v into offsets[v + 2] (the last id's count is never needed: nothing starts after it), so
        // the running sum leaves offsets[v + 1] = the number of rows with a smaller id = where id v starts.
        // Placing a row then advances offsets[id + 1] to the segment's end, which is where id + 1 starts.
        // One array of V + 1 serves as counts, cursors and result: no scratch to allocate.
        offsets[..(vocab + 1)].Clear();
        for (int r = 0; r < ids.Length; r++)
        {
            int id = ids[r];
            if ((uint)id >= (uint)vocab) throw new ArgumentOutOfRangeException(nameof(ids), $"row {r} has id {id}, outside the vocabulary 0..{vocab}");
            if (id + 2 <= vocab) offsets[id + 2]++;
        }
        for (int v = 2; v <= vocab; v++) offsets[v] += offsets[v - 1];
        for (int r = 0; r < ids.Length; r++) order[offsets[ids[r] + 1]++] = r;
    }
}
