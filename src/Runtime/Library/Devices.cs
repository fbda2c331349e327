using GpuLstm.Runtime.Compute;

namespace GpuLstm;

/// <summary>The accelerators this machine offers, by the names the <c>Device</c> settings take.</summary>
public static class Devices
{
    /// <summary>Every CUDA and OpenCL device ILGPU finds, then <c>cpu</c> (the host SIMD kernels) and <c>ilgpu-cpu</c>.</summary>
    public static IReadOnlyList<DeviceInfo> List() => ComputeDevice.List();
}
