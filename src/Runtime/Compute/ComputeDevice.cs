using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;
using GpuLstm.Runtime.Compute.Host;

namespace GpuLstm.Runtime.Compute;

/// <summary>
/// An ILGPU context, one accelerator on it, and the kernel set that runs there. Device names:
/// <c>auto</c> (CUDA, then OpenCL, then cpu), <c>cuda</c>, <c>cuda:N</c>, <c>opencl</c>, <c>opencl:N</c>,
/// <c>cpu</c> (the host SIMD kernel set on the CPU accelerator's buffers) and <c>ilgpu-cpu</c> (the GPU
/// kernels themselves, run by ILGPU's CPU accelerator: slow, for checking them).
/// </summary>
internal sealed class ComputeDevice : IDisposable
{
    public Context Context { get; }
    public Accelerator Accelerator { get; }
    public IKernelSet Kernels { get; private set; }
    public string Id { get; }

    /// <summary>Times every kernel call from now on (see <see cref="ProfilingKernelSet"/>).</summary>
    public ProfilingKernelSet EnableProfiling()
    {
        var profiler = Kernels as ProfilingKernelSet ?? new ProfilingKernelSet(Kernels);
        Kernels = profiler;
        return profiler;
    }

    private ComputeDevice(Context context, Accelerator accelerator, IKernelSet kernels, string id)
    {
        Context = context; Accelerator = accelerator; Kernels = kernels; Id = id;
    }

    public string Description => $"{Id}: {Accelerator.Name} [{Kernels.Name}]";

    /// <summary>
    /// The CPU accelerator sized to this machine. ILGPU's default CPU device simulates a GPU with many
    /// more threads than cores; launches on it cost ~2 ms, on one with a thread per core ~0.1 ms.
    /// </summary>
    public static CPUDevice SizedCpuDevice() => new(2, 1, Math.Max(1, Environment.ProcessorCount / 2));

    /// <summary>A context able to compile every kernel for every backend (Algorithms supplies exp and tanh on PTX), with the stream markers a training step waits on (Profiling).</summary>
    public static Context CreateContext() => CreateContext(KernelOptimizationLevel);

    /// <summary>
    /// Kernels are compiled at O1. At O2, ILGPU 1.5.3 (a) marks branches uniform (PTX's bra.uni) when their
    /// condition comes from memory or from an implicitly grouped kernel's index, both of which differ between
    /// the threads of a warp, and a divergent bra.uni is undefined behaviour; and (b) its code placement may move
    /// shared-memory reads across a group barrier. O1 emits plain branches and keeps reads where they are; the
    /// GPU's own compiler (ptxas, the OpenCL driver) still unrolls and schedules. ILGPU's CPU accelerator runs the
    /// kernels' .NET code, which no level changes, so its tests cannot see either fault: CodegenTests checks the PTX.
    /// </summary>
    public const OptimizationLevel KernelOptimizationLevel = OptimizationLevel.O1;

    public static Context CreateContext(OptimizationLevel level) =>
        Context.Create(builder => builder.Cuda().OpenCL().Optimize(level).EnableAlgorithms().Profiling());

    /// <summary>
    /// Opens a device by name. <paramref name="kernels"/> picks the ILGPU kernels: <see cref="KernelProfile.Gpu"/>
    /// with <c>ilgpu-cpu</c> runs the GPU path on ILGPU's CPU accelerator (groups of 256 threads; slow, for checks).
    /// </summary>
    public static ComputeDevice Open(string name, KernelProfile kernels = KernelProfile.Auto, bool useCuBlas = true)
    {
        string spec = (name ?? "auto").Trim().ToLowerInvariant();
        var context = CreateContext();
        try
        {
            if (spec == "auto") spec = FindGpus(context).Select(g => g.Id).FirstOrDefault() ?? "cpu";
            if (spec == "cpu" && kernels == KernelProfile.Gpu) throw new GpuLstmException("the cpu device runs the host kernels; the GPU kernels run on ilgpu-cpu, a GPU, or nowhere else");
            if (spec == "ilgpu-cpu" && kernels == KernelProfile.Gpu)
            {
                // 16 threads a warp × 16 warps: one 256-thread group, the GPU kernels' group size.
                var grouped = new CPUDevice(16, 16, 1).CreateCPUAccelerator(context, CPUAcceleratorMode.Parallel);
                return new ComputeDevice(context, grouped, new IlgpuKernelSet(grouped, KernelProfile.Gpu), spec);
            }
            if (spec is "cpu" or "ilgpu-cpu")
            {
                var cpu = SizedCpuDevice().CreateCPUAccelerator(context, CPUAcceleratorMode.Parallel);
                IKernelSet set = spec == "cpu" ? new HostKernelSet(cpu) : new IlgpuKernelSet(cpu, kernels);
                return new ComputeDevice(context, cpu, set, spec);
            }
            var match = FindGpus(context).FirstOrDefault(g => g.Id == spec || g.Id == spec + ":0");
            if (match.Device is null)
            {
                string available = $"available: {string.Join(", ", AvailableIds(context))}";
                string kind = spec.Split(':')[0];
                if (kind is "cuda" or "opencl")
                {
                    string label = kind == "cuda" ? "CUDA" : "OpenCL";
                    int count = FindGpus(context).Count(g => g.Id.StartsWith(kind + ":", StringComparison.Ordinal));
                    throw new GpuLstmException(count == 0
                        ? $"no {label} device was found{(kind == "cuda" ? " (no NVIDIA driver, or no GPU)" : " (no OpenCL driver that ILGPU can use)")}; {available}"
                        : $"there is no {label} device '{name}'; this machine has {count}; {available}");
                }
                throw new GpuLstmException($"unknown device '{name}'; {available}");
            }
            var accelerator = match.Device.CreateAccelerator(context);
            return new ComputeDevice(context, accelerator,
                new IlgpuKernelSet(accelerator, kernels == KernelProfile.Cpu ? KernelProfile.Cpu : KernelProfile.Gpu, useCuBlas), match.Id);
        }
        catch
        {
            context.Dispose();
            throw;
        }
    }

    /// <summary>Wraps an accelerator a test made (for example a CPU device with 256-thread groups for the tiled GEMM).</summary>
    public static ComputeDevice FromAccelerator(Context context, Accelerator accelerator, IKernelSet kernels, string id) =>
        new(context, accelerator, kernels, id);

    public static IReadOnlyList<DeviceInfo> List()
    {
        using var context = CreateContext();
        var list = new List<DeviceInfo>();
        foreach (var (id, device) in FindGpus(context))
            list.Add(new DeviceInfo(id, device.Name, device.AcceleratorType == AcceleratorType.Cuda ? DeviceKind.Cuda : DeviceKind.OpenCL, device.MemorySize,
                device.WarpSize, device.MaxNumThreadsPerGroup, GemmOf(context, device)));
        var cpu = SizedCpuDevice();
        long memory = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        list.Add(new DeviceInfo("cpu", $"host SIMD kernels ({Host.HostGemm.IsaDisplayName(Host.HostGemm.StartupIsa)}), {Environment.ProcessorCount} threads", DeviceKind.Cpu, memory, 1, 1, "host SIMD SGEMM"));
        list.Add(new DeviceInfo("ilgpu-cpu", $"ILGPU CPU accelerator running the GPU kernels ({Environment.ProcessorCount} cores)", DeviceKind.Cpu,
            memory, cpu.WarpSize, cpu.MaxNumThreadsPerGroup, "naive GEMM kernel (--kernels gpu: the GPU path's)"));
        return list;
    }

    /// <summary>The GEMM backend a GPU would get: cuBLAS where libcublas loads on it, else the blocked kernels (with why).</summary>
    private static string GemmOf(Context context, Device device)
    {
        if (device is not CudaDevice) return "GpuLstm's blocked GEMM kernels";
        try
        {
            using var accelerator = device.CreateAccelerator(context);
            using var cuBlas = CuBlasGemm.TryCreate(accelerator, accelerator.DefaultStream, out string description);
            return cuBlas is null ? $"GpuLstm's blocked GEMM kernels ({description})" : description;
        }
        catch (Exception e) when (e is AcceleratorException or InvalidOperationException or DllNotFoundException)
        {
            return $"unknown (the device did not open: {e.Message})";
        }
    }

    private static IEnumerable<string> AvailableIds(Context context) =>
        new[] { "auto" }.Concat(FindGpus(context).Select(g => g.Id)).Append("cpu").Append("ilgpu-cpu");

    private static IEnumerable<(string Id, Device Device)> FindGpus(Context context)
    {
        int cuda = 0, opencl = 0;
        foreach (var device in context.Devices.Where(d => d is CudaDevice))
            yield return ($"cuda:{cuda++}", device);
        foreach (var device in context.Devices.Where(d => d is CLDevice))
            yield return ($"opencl:{opencl++}", device);
    }

    public void Dispose()
    {
        Kernels.Dispose();
        Accelerator.Dispose();
        Context.Dispose();
    }
}
