namespace GpuLstm.Runtime.Compute;

/// <summary>
/// Which kernels an <see cref="IlgpuKernelSet"/> launches. <see cref="Gpu"/>: the GPU path that CUDA and OpenCL
/// run (shared-memory GEMMs, grouped reductions, fused recurrent steps, uploads staged in pinned memory).
/// <see cref="Cpu"/>: barrier-free kernels for ILGPU's CPU accelerator, whose group barriers are OS-thread
/// barriers. <see cref="Auto"/>: Gpu on a GPU, Cpu on the CPU accelerator. The GPU path also runs on the CPU
/// accelerator (with 256-thread groups), slowly, to check it and count its launches without a GPU.
/// </summary>
internal enum KernelProfile { Auto, Cpu, Gpu }
