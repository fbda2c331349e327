using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace GpuLstm.Runtime.Compute.Host;

/// <summary>Vectorized activations on top of the runtime's Vector256.Exp.</summary>
internal static class HostMath
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Sigmoid(Vector256<float> x) => Vector256<float>.One / (Vector256<float>.One + Vector256.Exp(-x));

    /// <summary>tanh x = 1 − 2/(e^{2x} + 1): saturates cleanly to ±1 where e^{2x} over- or underflows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Tanh(Vector256<float> x)
    {
        var e = Vector256.Exp(x + x);
        return Vector256<float>.One - Vector256.Create(2f) / (e + Vector256<float>.One);
    }

    /// <summary>dst[i] += src[i] for i &lt; n.</summary>
    public static unsafe void AddInPlace(float* dst, float* src, int n)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
            for (; i + 8 <= n; i += 8) (Vector256.Load(dst + i) + Vector256.Load(src + i)).Store(dst + i);
        for (; i < n; i++) dst[i] += src[i];
    }
}
