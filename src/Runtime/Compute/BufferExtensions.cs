using ILGPU;
using ILGPU.Runtime;

namespace GpuLstm.Runtime.Compute;

internal static class BufferExtensions
{
    /// <summary>The buffer as the flat contiguous view every kernel takes.</summary>
    public static ArrayView<T> Flat<T>(this MemoryBuffer1D<T, Stride1D.Dense> buffer) where T : unmanaged => buffer.View;
}
