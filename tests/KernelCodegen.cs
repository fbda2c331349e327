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

    /// <summary>
    /// Shared-memory hazards in a tiled kernel's PTX, found on its control-flow graph (block order in the text
    /// is not execution order): a path from a shared store to a shared load, or from a shared load to a shared
    /// store, that crosses no bar.sync. In a kernel whose threads stage a tile, compute on it and stage the next,
    /// either is a race: a read of a tile before every thread has written it, or an overwrite of a tile another
    /// thread may still be reading. (A tree reduction reads and writes different elements between barriers by
    /// design, so this check is for tile loops.) Returns the first hazard, or null.
    /// </summary>
    public static string? SharedMemoryHazard(string ptx)
    {
        // Basic blocks: a label starts one; branches and returns end one.
        var blocks = new List<List<string>>();
        var labels = new Dictionary<string, int>();
        var current = new List<string>();
        void Close() { if (current.Count > 0) { blocks.Add(current); current = new List<string>(); } }
        foreach (var raw in ptx.Split('\n'))
        {
            string line = raw.Trim();
            if (line.Length == 0 || line.StartsWith("//", StringComparison.Ordinal)) continue;
            var label = Regex.Match(line, @"^(L_\w+):$");
            if (label.Success)
            {
                Close();
                labels[label.Groups[1].Value] = blocks.Count;
                current.Add(line);
                continue;
            }
            current.Add(line);
        }
        Close();
        bool IsUnconditionalExit(string line) => Regex.IsMatch(line, @"^(bra(\.uni)?\s|ret;|exit;)");
        List<int> Successors(int b)
        {
            var next = new List<int>();
            foreach (var line in blocks[b])
            {
                var target = Regex.Match(line, @"\bbra(?:\.uni)?\s+(L_\w+);");
                if (target.Success && labels.TryGetValue(target.Groups[1].Value, out int t)) next.Add(t);
            }
            if (!IsUnconditionalExit(blocks[b][^1]) && b + 1 < blocks.Count) next.Add(b + 1);
            return next;
        }
        bool IsStore(string line) => line.StartsWith("st.shared", StringComparison.Ordinal);
        bool IsLoad(string line) => line.StartsWith("ld.shared", StringComparison.Ordinal);
        bool IsBarrier(string line) => line.StartsWith("bar.sync", StringComparison.Ordinal) || line.StartsWith("barrier.sync", StringComparison.Ordinal);

        // From every shared access, walk forward until a barrier; reaching the opposite kind of access is a hazard.
        for (int b = 0; b < blocks.Count; b++)
            for (int i = 0; i < blocks[b].Count; i++)
            {
                string from = blocks[b][i];
                Func<string, bool>? opposite = IsStore(from) ? IsLoad : IsLoad(from) ? IsStore : null;
                if (opposite is null) continue;
                var seen = new HashSet<int>();
                var work = new Stack<(int Block, int Line)>();
                work.Push((b, i + 1));
                while (work.Count > 0)
                {
                    var (block, start) = work.Pop();
                    bool stopped = false;
                    for (int j = start; j < blocks[block].Count; j++)
                    {
                        string line = blocks[block][j];
                        if (IsBarrier(line)) { stopped = true; break; }
                        if (opposite(line)) return $"'{from}' reaches '{line}' with no barrier between";
                    }
                    if (stopped) continue;
                    foreach (int next in Successors(block))
                        if (seen.Add(next)) work.Push((next, 0));
                }
            }
        return null;
    }
}

