using System.Text.RegularExpressions;
using GpuLstm.Kernels;
using ILGPU.Runtime.Cuda;
using Xunit;

namespace GpuLstm.Tests;

/// <summary>
/// What makes the register-blocked GEMMs fast, checked in the code a GPU receives: the panels are read as
/// 16-byte vectors, each feeding at least 4 multiply-adds; the accumulators stay in registers; the panel
/// reads sit between the barriers that guard them; aligned operands are copied as float4s; on gfx90a
/// nothing spills and 4 waves fit on a SIMD.
/// </summary>
public sealed partial class GemmCodegenTests
{
    public static TheoryData<string> BlockedKernels() => new("gemm_blocked64", "gemm_blocked128");

    /// <summary>Name, tile, K-tile and outputs per thread of each register-blocked kernel.</summary>
    public static TheoryData<string, int, int, int> BlockedShapes() => new()
    {
        { "gemm_blocked64", GemmKernels.Blocked64Tile, GemmKernels.Blocked64K, 4 * 4 },
        { "gemm_blocked128", GemmKernels.Blocked128Tile, GemmKernels.Blocked128K, 8 * 8 },
    };

    private static KernelEntry Kernel(string name) => KernelCatalog.All.Single(k => k.Name == name);

    [GeneratedRegex(@"^\s*ld\.shared\.", RegexOptions.Multiline)]
    private static partial Regex SharedLoad();

    [GeneratedRegex(@"^\s*ld\.shared\.v4\.f32\s", RegexOptions.Multiline)]
    private static partial Regex SharedLoadV4();

    // ILGPU 1.5.3 emits a·b + c as mul.f32 then add.f32 (it never forms an IR multiply-add from C#); without
    // a rounding modifier ptxas contracts each pair into one FFMA (its default, --fmad=true). So a multiply-add
    // in this PTX is an fma or a mul, and the kernels have no other float multiplies.
    [GeneratedRegex(@"^\s*(fma\.rn(\.ftz)?\.f32|mul(\.rn)?(\.ftz)?\.f32)\s", RegexOptions.Multiline)]
    private static partial Regex MultiplyAdd();

    [GeneratedRegex(@"^\s*bar\.sync\b", RegexOptions.Multiline)]
    private static partial Regex Barrier();

    /// <summary>
    /// Counted over the whole kernel: ILGPU emits the K-tile loop's body once (the hand-unrolled k steps), so
    /// the static counts are one iteration's; the panel copies use st.shared and the epilogue neither.
    /// </summary>
    [Theory]
    [MemberData(nameof(BlockedShapes))]
    public void PtxReadsEachSharedVectorForAtLeastFourMultiplyAdds(string name, int tile, int tileK, int outputsPerThread)
    {
        string ptx = KernelCodegen.Ptx(Kernel(name), CudaArchitecture.SM_80);
        Assert.DoesNotContain(".local", ptx);
        int sharedLoads = SharedLoad().Count(ptx);
        int multiplyAdds = MultiplyAdd().Count(ptx);
        Assert.True(sharedLoads > 0 && multiplyAdds > 0, $"{name}: {sharedLoads} ld.shared, {multiplyAdds} multiply-adds");
        Assert.Equal(sharedLoads, SharedLoadV4().Count(ptx)); // every panel read is one 16-byte access
        Assert.True(4 * sharedLoads <= multiplyAdds, $"{name}: {sharedLoads} ld.shared for {multiplyAdds} multiply-adds");
        // The k loop's body holds a whole number of k steps (one multiply-add per output each), a divisor of the
        // K-tile: the kernel computes what it should, unrolled as far as it says.
        Assert.Equal(0, multiplyAdds % outputsPerThread);
        Assert.Equal(0, tileK % (multiplyAdds / outputsPerThread));
        Assert.True(tile % 16 == 0 && outputsPerThread * 256 == tile * tile, $"{name}: {outputsPerThread} outputs per thread for a {tile} tile");
    }

    /// <summary>
    /// ILGPU's code placement (at O2) treats shared loads as free to move: a loop-free run of panel reads was once
    /// sunk with its multiply-adds below the second barrier, where the next panel copy overwrites them. On the
    /// kernel's control-flow graph, no path joins a panel write and a panel read without a barrier.
    /// </summary>
    [Theory]
    [MemberData(nameof(BlockedKernels))]
    public void PtxReadsThePanelsBetweenTheBarriers(string name)
    {
        string ptx = KernelCodegen.Ptx(Kernel(name), CudaArchitecture.SM_80);
        Assert.Equal(2, Barrier().Matches(ptx).Count);
        Assert.Null(KernelCodegen.SharedMemoryHazard(ptx));
    }

    /// <summary>
    /// The float4 copy path survives code generation: one 16-byte global load per operand (the run-time
    /// alignment test and AsAligned let ILGPU vectorize it), and TN/NN panels stored as 16-byte vectors too.
    /// </summary>
    [Theory]
    [MemberData(nameof(BlockedKernels))]
    public void PtxCopiesAlignedOperandsAsFloat4(string name)
    {
        string ptx = KernelCodegen.Ptx(Kernel(name), CudaArchitecture.SM_80);
        Assert.Equal(2, GlobalLoadV4().Count(ptx));
        Assert.Equal(2, SharedStoreV4().Count(ptx));
    }

    // A 16-byte load from global memory: ld.global.v4 where ILGPU infers the address space (O2), the generic
    // ld.v4 at O1 (ComputeDevice.KernelOptimizationLevel), which the hardware resolves to global memory.
    [GeneratedRegex(@"^\s*ld(\.global)?\.v4\.f32\s", RegexOptions.Multiline)]
    private static partial Regex GlobalLoadV4();

    [GeneratedRegex(@"^\s*st\.shared\.v4\.f32\s", RegexOptions.Multiline)]
    private static partial Regex SharedStoreV4();

    [Theory]
    [MemberData(nameof(BlockedShapes))]
    public void Gfx90aRunsFourWavesPerSimdWithoutSpills(string name, int tile, int tileK, int outputsPerThread)
    {
        var usage = KernelCodegen.Gfx90aResources(Kernel(name));
        Assert.Equal(0, usage.ScratchBytesPerLane);
        Assert.Equal(0, usage.VgprSpills);
        Assert.Equal(0, usage.SgprSpills);
        Assert.True(usage.Occupancy >= 4, $"{name}: {usage.Occupancy} waves/SIMD ({usage.Vgprs} VGPRs, {usage.Agprs} AGPRs)");
        // Two k-major panels, each row padded by PanelPad floats.
        Assert.Equal(2 * tileK * (tile + GemmKernels.PanelPad) * sizeof(float), usage.LdsBytes);
        // 128 VGPRs is the most that keeps 4 waves; the accumulators alone take outputsPerThread of them.
        Assert.InRange(usage.Vgprs + usage.Agprs, outputsPerThread, 128);
    }
}
