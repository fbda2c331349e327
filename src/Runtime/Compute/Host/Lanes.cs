using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace GpuLstm.Runtime.Compute.Host;

/// <summary>
/// One SIMD register of floats as the host micro-kernels use it: AVX2's 8 lanes (<see cref="Lanes8"/>) or
/// AVX-512's 16 (<see cref="Lanes16"/>). Code generic over it is compiled once per width (the JIT specializes
/// value-type arguments and inlines these members), so both ISAs run one source. Where the hardware lacks a
/// width, .NET emulates it: slower, with the same results (each multiply-add is rounded once either way).
/// </summary>
internal unsafe interface ILanes<TSelf> where TSelf : struct, ILanes<TSelf>
{
    /// <summary>Floats in one register.</summary>
    static abstract int Count { get; }
    static abstract TSelf Load(float* source);
    static abstract TSelf Broadcast(float value);
    /// <summary>a·b + c with one rounding (FMA).</summary>
    static abstract TSelf MultiplyAdd(TSelf a, TSelf b, TSelf c);
    void Store(float* destination);
}

/// <summary>AVX2: 8 floats (Vector256).</summary>
internal readonly unsafe struct Lanes8 : ILanes<Lanes8>
{
    private readonly Vector256<float> _v;
    private Lanes8(Vector256<float> v) => _v = v;
    public static int Count => 8;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes8 Load(float* source) => new(Vector256.Load(source));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes8 Broadcast(float value) => new(Vector256.Create(value));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes8 MultiplyAdd(Lanes8 a, Lanes8 b, Lanes8 c) => new(Vector256.FusedMultiplyAdd(a._v, b._v, c._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public void Store(float* destination) => _v.Store(destination);
}

/// <summary>AVX-512: 16 floats (Vector512).</summary>
internal readonly unsafe struct Lanes16 : ILanes<Lanes16>
{
    private readonly Vector512<float> _v;
    private Lanes16(Vector512<float> v) => _v = v;
    public static int Count => 16;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes16 Load(float* source) => new(Vector512.Load(source));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes16 Broadcast(float value) => new(Vector512.Create(value));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes16 MultiplyAdd(Lanes16 a, Lanes16 b, Lanes16 c) => new(Vector512.FusedMultiplyAdd(a._v, b._v, c._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public void Store(float* destination) => _v.Store(destination);
}
