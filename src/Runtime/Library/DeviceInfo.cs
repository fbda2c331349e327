namespace GpuLstm;

/// <summary>What runs a device's kernels.</summary>
public enum DeviceKind { Cuda, OpenCL, Cpu }

/// <summary>One accelerator, as `gpulstm devices` lists it: its id (the name the Device settings take), its kind, memory, warp and largest group.</summary>
/// <param name="Gemm">What runs its matrix products: cuBLAS (with its version) or, without libcublas, GpuLstm's own GPU kernels; the host's SIMD SGEMM; or, on ILGPU's CPU accelerator, the plain kernel.</param>
public sealed record DeviceInfo(string Id, string Name, DeviceKind Kind, long MemoryBytes, int WarpSize, int MaxThreadsPerGroup, string Gemm = "");
