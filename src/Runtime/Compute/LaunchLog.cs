namespace GpuLstm.Runtime.Compute;

/// <summary>What a launch does, for a step-time model: which roofline limits it.</summary>
internal enum LaunchKind
{
    /// <summary>One of our GEMM kernels (Tile says which), or a cuBLAS SGEMM call.</summary>
    Gemm,
    /// <summary>A fused recurrent time step: a small GEMM and the cell in one kernel.</summary>
    RecurrentStep,
    /// <summary>Reads and writes each element a bounded number of times: bandwidth-bound.</summary>
    MemoryBound,
    /// <summary>A memset or a device-to-device copy.</summary>
    Memory,
}

/// <summary>
/// One kernel launch as the GPU path issues it: its kernel, grid (groups × threads per group), the floating-point
/// operations and the bytes of global memory it moves, computed from the shapes the call received.
/// <paramref name="Tile"/> names a GEMM's variant (cublas, blocked128, blocked64, tiled16) or a step's cell.
/// </summary>
internal sealed record LaunchRecord(string Kernel, LaunchKind Kind, string Tile, long Groups, int GroupSize, double Flops, double Bytes,
    long M = 0, long N = 0, long K = 0);

/// <summary>
/// Records the launches of an <see cref="IlgpuKernelSet"/> (attached with <see cref="IlgpuKernelSet.Record"/>), in order.
/// A dry run records without launching, so the whole GPU path of a medium or large step can be listed on the CPU
/// accelerator in a second: the same calls, decisions and shapes as on a GPU, for the step-time model. The target
/// says which GPU the decisions are made for (its multiprocessors and warp size), and whether cuBLAS is there.
/// </summary>
internal sealed class LaunchLog
{
    public bool DryRun { get; init; }
    /// <summary>Multiprocessors of the GPU the GEMM tile choice is made for (0: the accelerator's own).</summary>
    public int Multiprocessors { get; init; }
    /// <summary>Warp size of that GPU (0: the accelerator's own).</summary>
    public int WarpSize { get; init; }
    /// <summary>Record every GEMM as the cuBLAS call CUDA would make (in a dry run, where no libcublas is loaded).</summary>
    public bool AssumeCuBlas { get; init; }

    public List<LaunchRecord> Records { get; } = new();
    /// <summary>Host waits that drain the stream (synchronize, blocking download).</summary>
    public int Syncs { get; set; }
    /// <summary>Bytes copied host to device asynchronously (staged uploads) and device to host.</summary>
    public double UploadBytes { get; set; }
    public double DownloadBytes { get; set; }

    public void Clear()
    {
        Records.Clear();
        Syncs = 0;
        UploadBytes = 0;
        DownloadBytes = 0;
    }
}
