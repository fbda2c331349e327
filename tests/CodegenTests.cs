using System.Diagnostics;
using GpuLstm.Kernels;
using GpuLstm.Runtime.Compute;
using ILGPU.Backends;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.OpenCL;
using ILGPU.Backends.PTX;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;
using Xunit;

namespace GpuLstm.Tests;

/// <summary>
/// The kernels as a GPU receives them, generated with no GPU present: PTX for three NVIDIA generations and
/// OpenCL C 2.0, which a real GPU compiler (clang-15 for AMD gfx90a) must accept.
/// </summary>
public sealed class CodegenTests
{
    public static TheoryData<string> Kernels() => new(KernelCatalog.All.Select(k => k.Name));

    private static KernelEntry Kernel(string name) => KernelCatalog.All.Single(k => k.Name == name);

    private static EntryPointDescription EntryPoint(KernelEntry k) => k.ExplicitlyGrouped
        ? EntryPointDescription.FromExplicitlyGroupedKernel(k.Method)
        : EntryPointDescription.FromImplicitlyGroupedKernel(k.Method);

    public static string Ptx(KernelEntry kernel, CudaArchitecture arch)
    {
        using var context = ComputeDevice.CreateContext();
        using var backend = new PTXBackend(context, arch, CudaInstructionSet.ISA_78, null!);
        var compiled = (PTXCompiledKernel)backend.Compile(EntryPoint(kernel), default);
        return compiled.PTXAssembly;
    }

    public static string OpenCl(KernelEntry kernel)
    {
        using var context = ComputeDevice.CreateContext();
        using var backend = new CLBackend(context, new CLCapabilityContext(true, false, false, false, false), CLDeviceVendor.Other, CLCVersion.CL20);
        var compiled = (CLCompiledKernel)backend.Compile(EntryPoint(kernel), default);
        return compiled.Source;
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void CompilesToPtxForTuringAmpereAndHopper(string name)
    {
        var kernel = Kernel(name);
        foreach (var (arch, sm) in new[] { (CudaArchitecture.SM_75, 75), (CudaArchitecture.SM_80, 80), (CudaArchitecture.SM_90, 90) })
        {
            string ptx = Ptx(kernel, arch);
            var target = System.Text.RegularExpressions.Regex.Match(ptx, @"^\.target sm_(\d+)", System.Text.RegularExpressions.RegexOptions.Multiline);
            Assert.True(target.Success, "no .target line");
            int emitted = int.Parse(target.Groups[1].Value);
            // ILGPU 1.5.3 emits sm_80 PTX when asked for sm_90; PTX is forward compatible, so the driver
            // JIT-compiles it for Hopper. Anything older than what was asked for, beyond that, is a failure.
            Assert.True(emitted == sm || (sm == 90 && emitted == 80), $"asked for sm_{sm}, got sm_{emitted}");
            Assert.Contains(".entry", ptx);
            if (kernel.ExplicitlyGrouped) Assert.Contains("bar.sync", ptx); // the tiled GEMM's barriers survive
        }
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void CompilesToOpenClCThatClangAcceptsForAmdGfx90a(string name)
    {
        var kernel = Kernel(name);
        string source = OpenCl(kernel);
        Assert.Contains("kernel", source);
        var result = ClangGfx90a.Compile(source, name);
        Assert.True(result.ExitCode == 0, $"clang-15 rejected {name}:\n{result.Output}");
    }
}

/// <summary>Debian's clang-15 with rocm-device-libs, compiling OpenCL C for AMD's MI200 (gfx90a). .ci/run installs both.</summary>
public static class ClangGfx90a
{
    public const string Clang = "clang-15";
    public const string DeviceLibs = "/usr/lib/x86_64-linux-gnu/amdgcn/bitcode";

    public static (int ExitCode, string Output) Compile(string source, string name, bool resourceUsage = false)
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
}
