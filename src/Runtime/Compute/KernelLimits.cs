namespace GpuLstm.Runtime.Compute;

/// <summary>
/// What the kernels can address, checked when a model is built rather than found as a wrong result or a failed
/// launch: every buffer a kernel indexes holds at most int.MaxValue elements (kernel indices are 32-bit, which
/// keeps their address arithmetic cheap on a GPU), and a step's T·B rows at most 65,535 × 16, because the GEMM
/// and recurrent-step grids tile rows in 16s along a grid dimension CUDA caps at 65,535 groups.
/// </summary>
internal static class KernelLimits
{
    public const long MaxElements = int.MaxValue;
    public const long MaxRows = 65535L * 16;

    /// <summary>Throws a <see cref="SettingException"/> on the batch when a step's rows or any of its buffers would not fit.</summary>
    /// <param name="rows">T·B: the rows a step's input GEMM and loss cover.</param>
    /// <param name="buffers">Each buffer a step's kernels index: what it is (for the message), and its elements.</param>
    public static void Check(string shape, long rows, params (string What, long Elements)[] buffers)
    {
        if (rows > MaxRows)
            throw new SettingException("BatchSize",
                $"{shape} makes {rows:N0} rows a step; the GPU kernels' grids cover at most {MaxRows:N0} (use a smaller batch or sequence length)", "the batch");
        foreach (var (what, elements) in buffers)
            if (elements > MaxElements)
                throw new SettingException("BatchSize",
                    $"{shape} needs {what} of {elements:N0} floats; kernels index at most {MaxElements:N0} (use a smaller batch or sequence length)", "the batch");
    }
}
