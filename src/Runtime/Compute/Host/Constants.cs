namespace GpuLstm.Runtime.Compute.Host;

/// <summary>
/// A compile-time integer: generic micro-kernels specialized on it (one native body per value, the JIT
/// specializes value-type arguments) unroll exactly, with the branches on it gone. The host GEMM's tiles
/// (<see cref="HostGemmKernels"/>) and the fused recurrence's row blocks (<see cref="PanelKernel"/>) both use it.
/// </summary>
internal interface IConstant
{
    static abstract int Value { get; }
}

internal readonly struct C1 : IConstant { public static int Value => 1; }
internal readonly struct C2 : IConstant { public static int Value => 2; }
internal readonly struct C3 : IConstant { public static int Value => 3; }
internal readonly struct C4 : IConstant { public static int Value => 4; }
internal readonly struct C5 : IConstant { public static int Value => 5; }
internal readonly struct C6 : IConstant { public static int Value => 6; }
internal readonly struct C7 : IConstant { public static int Value => 7; }
internal readonly struct C8 : IConstant { public static int Value => 8; }
internal readonly struct C12 : IConstant { public static int Value => 12; }
internal readonly struct C14 : IConstant { public static int Value => 14; }
