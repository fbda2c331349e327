using System.Diagnostics;
using System.Runtime.InteropServices;

namespace GpuLstm.Cli;

/// <summary>
/// The machine's copy bandwidth, measured the way STREAM's copy kernel counts it (bytes read + bytes written per
/// second), on every core, with source and destination together as big as the working set being compared with it:
/// sampling's weights fit in L3 at the standard configurations, so DRAM bandwidth alone would understate what the
/// hardware gives there.
/// </summary>
internal static unsafe class MemoryBandwidth
{
    /// <summary>Best of five copies within a footprint of <paramref name="footprint"/> bytes (at least 2 MiB), split over the cores in equal parts.</summary>
    public static double CopyGBPerSecond(long footprint)
    {
        long bytes = Math.Max(footprint / 2, 1 << 20) / 64 * 64;
        byte* source = (byte*)NativeMemory.AlignedAlloc((nuint)bytes, 64), destination = (byte*)NativeMemory.AlignedAlloc((nuint)bytes, 64);
        try
        {
            new Span<byte>(source, (int)Math.Min(bytes, int.MaxValue)).Fill(1);
            int parts = Environment.ProcessorCount;
            double best = double.MaxValue;
            for (int rep = 0; rep < 6; rep++)
            {
                long t0 = Stopwatch.GetTimestamp();
                Parallel.For(0, parts, new ParallelOptions { MaxDegreeOfParallelism = parts }, p =>
                {
                    long from = bytes * p / parts / 64 * 64, to = bytes * (p + 1) / parts / 64 * 64;
                    Buffer.MemoryCopy(source + from, destination + from, to - from, to - from);
                });
                // The first copy faults the destination's pages in; it is not a bandwidth.
                if (rep > 0) best = Math.Min(best, Stopwatch.GetElapsedTime(t0).TotalSeconds);
            }
            return 2.0 * bytes / best / 1e9;
        }
        finally
        {
            NativeMemory.AlignedFree(source);
            NativeMemory.AlignedFree(destination);
        }
    }
}
