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

    private static string Ptx(KernelEntry kernel, CudaArchitecture arch) => KernelCodegen.Ptx(kernel, arch);

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

    /// <summary>
    /// No conditional branch claims to be uniform. ILGPU 1.5.3 at O2 marks a branch uniform (bra.uni) when its
    /// condition comes from memory or from an implicitly grouped kernel's index, both of which differ between
    /// a warp's threads, and a divergent bra.uni is undefined; CUDA kernels are therefore compiled at O1
    /// (ComputeDevice.KernelOptimizationLevel), where only unconditional branches carry .uni.
    /// </summary>
    [Theory]
    [MemberData(nameof(Kernels))]
    public void PtxClaimsNoConditionalBranchIsUniform(string name)
    {
        string ptx = Ptx(Kernel(name), CudaArchitecture.SM_80);
        Assert.DoesNotMatch(@"@!?%p\d+\s+bra\.uni", ptx);
        Assert.DoesNotContain("brx.idx.uni", ptx);
    }

    /// <summary>Cells compute tanh from exp (CellMath.Tanh), within 3e-7; PTX's tanh.approx.f32 would be off by up to 2^−11 relative.</summary>
    [Theory]
    [MemberData(nameof(Kernels))]
    public void PtxUsesNoApproximateTanh(string name) => Assert.DoesNotContain("tanh.approx", Ptx(Kernel(name), CudaArchitecture.SM_80));

    /// <summary>
    /// No load goes through the read-only (non-coherent) cache, and no OpenCL pointer is declared restrict:
    /// backward writes each step's gate gradients over its activations in place (RecurrentLayer), so a view a
    /// kernel reads may alias one it writes, and ld.global.nc or restrict would make that undefined.
    /// </summary>
    [Theory]
    [MemberData(nameof(Kernels))]
    public void NoKernelAssumesItsViewsDoNotAlias(string name)
    {
        Assert.DoesNotContain("ld.global.nc", Ptx(Kernel(name), CudaArchitecture.SM_80));
        Assert.DoesNotContain("restrict", KernelCodegen.OpenCl(Kernel(name)));
    }

    /// <summary>The kernels that stage tiles in shared memory and loop over them: the GEMMs and the fused recurrent steps.</summary>
    public static TheoryData<string> TileLoopKernels() => new(KernelCatalog.All
        .Where(k => k.ExplicitlyGrouped && (k.Name.StartsWith("gemm_", StringComparison.Ordinal) || k.Name.Contains("_step_", StringComparison.Ordinal)))
        .Select(k => k.Name));

    /// <summary>On the PTX's control-flow graph, every tile is written, then read, then overwritten with a barrier between each.</summary>
    [Theory]
    [MemberData(nameof(TileLoopKernels))]
    public void TileLoopsSeparateSharedWritesAndReadsWithBarriers(string name)
    {
        string ptx = Ptx(Kernel(name), CudaArchitecture.SM_80);
        Assert.Contains("bar.sync", ptx);
        Assert.Null(KernelCodegen.SharedMemoryHazard(ptx));
    }

    /// <summary>The hazard check itself: a tile read the loop's back edge reaches without a barrier, and the same loop guarded.</summary>
    [Fact]
    public void TheHazardCheckFollowsBranchesNotTextOrder()
    {
        const string racy = """
            st.shared.f32 [%rd1], %f1;
            bar.sync 0;
            bra L_2;
            L_1:
            st.shared.f32 [%rd1], %f2;
            bra L_3;
            L_2:
            ld.shared.f32 %f3, [%rd1];
            @%p1 bra L_1;
            L_3:
            ret;
            """;
        Assert.NotNull(KernelCodegen.SharedMemoryHazard(racy));
        Assert.Null(KernelCodegen.SharedMemoryHazard(racy.Replace("L_1:\n", "L_1:\nbar.sync 0;\n").Replace("L_3:\n", "L_3:\n")));
        Assert.NotNull(KernelCodegen.SharedMemoryHazard("st.shared.f32 [%rd1], %f1;\nld.shared.f32 %f2, [%rd1];\nret;"));
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void CompilesToOpenClCThatClangAcceptsForAmdGfx90a(string name)
    {
        var kernel = Kernel(name);
        string source = KernelCodegen.OpenCl(kernel);
        Assert.Contains("kernel", source);
        var result = KernelCodegen.CompileForGfx90a(source, name);
        Assert.True(result.ExitCode == 0, $"clang-15 rejected {name}:\n{result.Output}");
    }
}

/// <summary>
/// What the hot kernels (those that run every time step) cost a GPU: no register spills, no scratch
/// memory, no local arrays. A spill there would put every step's work through memory.
/// </summary>
public sealed class GpuResourceTests
{
    public static TheoryData<string> HotKernels() => new(KernelCatalog.All.Where(k => k.Hot).Select(k => k.Name));

    [Theory]
    [MemberData(nameof(HotKernels))]
    public void HotKernelNeitherSpillsNorUsesScratchOnGfx90a(string name)
    {
        var usage = KernelCodegen.Gfx90aResources(KernelCatalog.All.Single(k => k.Name == name));
        Assert.Equal(0, usage.ScratchBytesPerLane);
        Assert.Equal(0, usage.VgprSpills);
        Assert.Equal(0, usage.SgprSpills);
        Assert.InRange(usage.Vgprs, 1, 128); // ≤ 128 VGPRs keeps at least 4 waves per SIMD
    }

    [Theory]
    [MemberData(nameof(HotKernels))]
    public void HotKernelPtxHasNoLocalArrays(string name)
    {
        string ptx = KernelCodegen.Ptx(KernelCatalog.All.Single(k => k.Name == name), CudaArchitecture.SM_80);
        Assert.DoesNotContain(".local", ptx);
    }

    /// <summary>
    /// The word-vocabulary kernels are not hot (they run once a step, not once a time step), but at V 10,000
    /// and more they are the biggest launches of a step, so they are held to the same bar.
    /// </summary>
    public static TheoryData<string> WordVocabularyKernels() => new("softmax_cross_entropy_rows", "scatter_add_sorted");

    [Theory]
    [MemberData(nameof(WordVocabularyKernels))]
    public void WordVocabularyKernelNeitherSpillsNorUsesScratchOnGfx90a(string name)
    {
        var usage = KernelCodegen.Gfx90aResources(KernelCatalog.All.Single(k => k.Name == name));
        Assert.Equal(0, usage.ScratchBytesPerLane);
        Assert.Equal(0, usage.VgprSpills);
        Assert.Equal(0, usage.SgprSpills);
        Assert.InRange(usage.Vgprs, 1, 128);
    }

    [Theory]
    [MemberData(nameof(WordVocabularyKernels))]
    public void WordVocabularyKernelPtxHasNoLocalArrays(string name)
    {
        string ptx = KernelCodegen.Ptx(KernelCatalog.All.Single(k => k.Name == name), CudaArchitecture.SM_80);
        Assert.DoesNotContain(".local", ptx);
    }

    [Fact]
    public void SoftmaxRowsReducesInSharedMemory()
    {
        var kernel = KernelCatalog.All.Single(k => k.Name == "softmax_cross_entropy_rows");
        string ptx = KernelCodegen.Ptx(kernel, CudaArchitecture.SM_80);
        Assert.Contains(".shared", ptx);
        Assert.Contains("bar.sync", ptx);
        Assert.DoesNotContain("atom.", ptx); // the reductions' order is fixed
        Assert.Equal(2 * LossKernels.SoftmaxRowsMaxGroup * sizeof(float), KernelCodegen.Gfx90aResources(kernel).LdsBytes);
    }

    [Fact]
    public void TiledGemmStagesItsTilesInSharedMemory()
    {
        var kernel = KernelCatalog.All.Single(k => k.Name == "gemm_tiled");
        Assert.Contains(".shared", KernelCodegen.Ptx(kernel, CudaArchitecture.SM_80));
        Assert.Equal(2 * GemmKernels.Tile * GemmKernels.Tile * sizeof(float), KernelCodegen.Gfx90aResources(kernel).LdsBytes);
    }
}
