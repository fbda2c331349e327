using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using GpuLstm.Kernels;

namespace GpuLstm.Runtime.Compute.Host;

/// <summary>The instruction set the host GEMM's kernels use.</summary>
internal enum HostIsa
{
    /// <summary>Scalar FMAs, no packing: machines without accelerated 256-bit vectors.</summary>
    Scalar,
    /// <summary>Vector256 + FMA: the 6×16 packed micro-kernel.</summary>
    Avx2,
    /// <summary>Vector512: the 12×32 packed micro-kernel, using the 32 vector registers.</summary>
    Avx512,
}

/// <summary>
/// SGEMM for the host, C (M,N) = [C +] op(A)·op(B) [+ bias], in every layout <see cref="GemmShape"/> describes.
/// <list type="bullet">
/// <item>Big products (HostGemm.Packed.cs): GotoBLAS/BLIS blocking. B is packed KC×NC into NR-wide k-major
/// micro-panels, A MC×KC into MR-row ones, and a register-blocked micro-kernel (HostGemmKernels.cs: 6×16 with
/// AVX2, 12×32 with AVX-512) runs over each MR×NR tile of C, reading and writing C once per KC block.</item>
/// <item>Small products (HostGemm.Small.cs): the per-step recurrent GEMMs, sampling's GEMV rows and few-row NT
/// products, where packing A would cost more than it saves.</item>
/// </list>
/// Every path computes each element of C as one FMA chain in k order starting from the old C (when accumulating)
/// plus the bias, except the few-row NT dot products, which sum 8 lanes apart; so the packed path's results do not
/// depend on the ISA, the blocking, or the threads. Work is split over the worker pool in fixed parts, so results
/// are bitwise independent of thread timing.
/// </summary>
internal sealed unsafe partial class HostGemm : IParallelWork, IDisposable
{
    /// <summary>
    /// The ISA picked once at start-up: AVX-512 where <see cref="Vector512.IsHardwareAccelerated"/> (so
    /// <c>DOTNET_EnableAVX512=0</c>, or on older runtimes <c>DOTNET_EnableAVX512F=0</c>, turns it off), else AVX2
    /// where Vector256 and FMA are, else scalar. <c>GPULSTM_ISA=avx2|avx512|scalar</c> asks for one; a request for
    /// more than the hardware accelerates gets the best it does (running Vector512 in software would be slower
    /// than AVX2), and an unknown value is ignored.
    /// </summary>
    public static HostIsa StartupIsa { get; } = ChooseIsa(Environment.GetEnvironmentVariable("GPULSTM_ISA"));

    /// <summary>The best ISA this process accelerates.</summary>
    public static HostIsa BestIsa =>
        Vector512.IsHardwareAccelerated && Avx512F.IsSupported ? HostIsa.Avx512
        : Vector256.IsHardwareAccelerated && Fma.IsSupported ? HostIsa.Avx2
        : HostIsa.Scalar;

    internal static HostIsa ChooseIsa(string? request)
    {
        var best = BestIsa;
        HostIsa? wanted = request?.Trim().ToLowerInvariant() switch
        {
            "avx512" or "avx-512" => HostIsa.Avx512,
            "avx2" => HostIsa.Avx2,
            "scalar" => HostIsa.Scalar,
            _ => null,
        };
        return wanted is { } w && w < best ? w : best;
    }

    /// <summary>"avx512", "avx2" or "scalar".</summary>
    public static string IsaName(HostIsa isa) => isa switch { HostIsa.Avx512 => "avx512", HostIsa.Avx2 => "avx2", _ => "scalar" };

    /// <summary>"AVX-512", "AVX2" or "scalar", for display.</summary>
    public static string IsaDisplayName(HostIsa isa) => isa switch { HostIsa.Avx512 => "AVX-512", HostIsa.Avx2 => "AVX2", _ => "scalar" };

    /// <summary>The ISA this instance's kernels use.</summary>
    public HostIsa Isa { get; }

    /// <summary>
    /// Below this many FLOPs a GEMM runs on the calling thread: waking a worker costs ~10–30 µs, more than
    /// splitting a small product saves.
    /// </summary>
    private const long ParallelFlops = 1L << 22;

    private enum Path { Packed, RowVector, RowPanels, DotBlocks, Scalar }

    private readonly WorkerPool _pool;
    private GemmShape _s;
    private float* _a, _b, _bias, _c;
    private Path _path;
    /// <summary>One KC×16 panel of B per worker for the small path, 64-byte aligned.</summary>
    private readonly float*[] _panels;

    /// <param name="isa">The kernels to use; <see cref="StartupIsa"/> when null. Tests force each one: Vector512 and
    /// Vector256 code runs (slowly, in software) where the hardware lacks them.</param>
    /// <param name="blocking">Cache blocks other than the ISA's (tests shrink them so small shapes cross every block).</param>
    public HostGemm(WorkerPool pool, HostIsa? isa = null, Blocking? blocking = null)
    {
        _pool = pool;
        Isa = isa ?? StartupIsa;
        _panels = new float*[pool.Threads];
        for (int i = 0; i < _panels.Length; i++)
            _panels[i] = (float*)NativeMemory.AlignedAlloc(KC * NR * sizeof(float), 64);
        _blocking = blocking ?? Blocking.For(Isa);
        _packs = new Pack[pool.Threads];
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Run(in GemmShape s, float* a, float* b, float* bias, float* c)
    {
        _s = s; _a = a; _b = b; _bias = bias; _c = c;
        _path = ChoosePath(s);
        int parts = s.Flops < ParallelFlops ? 1 : _pool.Threads;
        if (_path == Path.Packed) parts = PrepareSplit(parts);
        _pool.Run(this, parts);
    }

    private Path ChoosePath(in GemmShape s)
    {
        if (Isa == HostIsa.Scalar) return Path.Scalar;
        // The small paths use AVX's masked loads; forced vector ISAs on other hardware take the packed path.
        if (s.M >= PackedMinRows || !Vector256.IsHardwareAccelerated || !Avx.IsSupported) return Path.Packed;
        if (s.BColStride == 1) return s.M < SmallM ? Path.RowVector : Path.RowPanels;
        if (s.AColStride == 1 && s.BRowStride == 1) return Path.DotBlocks;
        return Path.Packed;
    }

    void IParallelWork.Run(int part, int parts)
    {
        if (_path == Path.Packed) RunPacked(part, parts);
        else RunSmall(part, parts);
    }

    public void Dispose()
    {
        foreach (var p in _panels) NativeMemory.AlignedFree(p);
        foreach (var p in _packs) p?.Dispose();
    }
}
