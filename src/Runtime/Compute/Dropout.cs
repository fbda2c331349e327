namespace GpuLstm.Runtime.Compute;

/// <summary>Host-side helpers for <see cref="GpuLstm.Kernels.DropoutKernels"/>: the kernel's parameters and its per-step keys.</summary>
internal static class Dropout
{
    /// <summary>The kernel's integer threshold round(rate · 2²⁴) and its scale 1/(1 − rate).</summary>
    public static (uint DropThreshold, float Scale) Parameters(float rate)
    {
        if (!(rate >= 0 && rate < 1)) throw new ArgumentOutOfRangeException(nameof(rate), $"dropout rate must be in [0, 1), got {rate}");
        return ((uint)Math.Round(rate * 16777216.0), (float)(1.0 / (1.0 - rate)));
    }

    /// <summary>
    /// The mask key of (run seed, training step): SplitMix64 of the three, folded to 32 bits; the model offsets it per layer boundary.
    /// A function of the step, not a generator's state, so resuming at step s draws the masks an
    /// uninterrupted run would have drawn.
    /// </summary>
    public static uint Key(ulong seed, long step)
    {
        ulong z = seed ^ 0x64726F706F7574UL; // "dropout"
        z = Mix(z + (ulong)step * 0x9E3779B97F4A7C15UL);
        return (uint)(z ^ (z >> 32));
    }

    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
