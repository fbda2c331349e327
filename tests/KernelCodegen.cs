using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using GpuLstm.Kernels;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.OpenCL;
using ILGPU.Backends.PTX;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;

using GpuLstm.Runtime.Compute;

namespace GpuLstm.Tests;

/// <summary>What AMD's compiler reports for one kernel on gfx90a (clang's kernel-resource-usage remarks).</summary>
public sealed record GpuResourceUsage(string Kernel, int Sgprs, int Vgprs, int Agprs, int ScratchBytesPerLane, int Occupancy,
    int SgprSpills, int VgprSpills, int LdsBytes);

/// <summary>
/// The kernels as a GPU driver receives them, generated without a GPU: ILGPU's PTX and OpenCL C backends,
/// and Debian's clang-15 (with rocm-device-libs) compiling the OpenCL C for AMD's gfx90a (MI200).
/// Used by the codegen tests and by the resource table in bench/README.md.
/// </summary>
internal static partial class KernelCodegen
{
    public const string Clang = "clang-15";
    public const string DeviceLibs = "/usr/lib/x86_64-linux-gnu/amdgcn/bitcode";

    private static EntryPointDescription EntryPoint(KernelEntry k) => k.ExplicitlyGrouped
        ? EntryPointDescription.FromExplicitlyGroupedKernel(k.Method)
        : EntryPointDescription.FromImplicitlyGroupedKernel(k.Method);

    public static string Ptx(KernelEntry kernel, CudaArchitecture architecture)
    {
        using var context = ComputeDevice.CreateContext();
        using var backend = new PTXBackend(context, architecture, CudaInstructionSet.ISA_78, null!);
        return ((PTXCompiledKernel)backend.Compile(EntryPoint(kernel), default)).PTXAssembly;
    }

    public static string OpenCl(KernelEntry kernel)
    {
        using var context = ComputeDevice.CreateContext();
        using var backend = new CLBackend(context, new CLCapabilityContext(true, false, false, false, false), CLDeviceVendor.Other, CLCVersion.CL20);
        return ((CLCompiledKernel)backend.Compile(EntryPoint(kernel), default)).Source;
    }

    /// <summary>Compiles OpenCL C for gfx90a; returns clang's exit code and output (remarks included with <paramref name="resourceUsage"/>).</summary>
    public static (int ExitCode, string Output) CompileForGfx90a(string source, string name, bool resourceUsage = false)
    {
        string dir = Directory.CreateTempSubdirectory("gpulstm-cl-").FullName;
        try
        {
            string input = Path.Combine(dir, name + ".cl");
            File.WriteAllText(input, source);
            var psi = new ProcessStartInfo(Clang) { RedirectStandardError = true, RedirectStandardOutput = true, WorkingDirectory = dir };
            foreach (var a in new[] { "-x", "cl", "-cl-std=CL2.0", "-Xclang", "-finclude-default-header", "-target", "amdgcn-amd-amdhsa",
                         "-mcpu=gfx90a", $"--rocm-device-lib-path={DeviceLibs}", "-O3", "-c", input, "-o", Path.Combine(dir, name + ".o") })
                psi.ArgumentList.Add(a);
            if (resourceUsage) psi.ArgumentList.Add("-Rpass-analysis=kernel-resource-usage");
            Process p;
            try { p = Process.Start(psi)!; }
            catch (System.ComponentModel.Win32Exception)
            {
                throw new InvalidOperationException($"{Clang} is not installed: run `apt-get install clang-15 rocm-device-libs` (.ci/run does)");
            }
            using (p)
            {
                var stdout = p.StandardOutput.ReadToEndAsync();
                string stderr = p.StandardError.ReadToEnd();
                p.WaitForExit();
                return (p.ExitCode, stdout.Result + stderr);
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>The gfx90a resource usage of one kernel, from clang's remarks.</summary>
    public static GpuResourceUsage Gfx90aResources(KernelEntry kernel)
    {
        var (exit, output) = CompileForGfx90a(OpenCl(kernel), kernel.Name, resourceUsage: true);
        if (exit != 0) throw new InvalidOperationException($"clang-15 rejected {kernel.Name}: {output}");
        int Remark(string label)
        {
            var m = Regex.Match(output, @"remark: [^\n]*?" + Regex.Escape(label) + @": (\d+)");
            if (!m.Success) throw new InvalidOperationException($"no '{label}' remark for {kernel.Name}:\n{output}");
            return int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        }
        return new GpuResourceUsage(kernel.Name, Remark("SGPRs"), Remark("VGPRs"), Remark("AGPRs"), Remark("ScratchSize [bytes/lane]"),
            Remark("Occupancy [waves/SIMD]"), Remark("SGPRs Spill"), Remark("VGPRs Spill"), Remark("LDS Size [bytes/block]"));
    }
}
