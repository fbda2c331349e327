using GpuLstm.Runtime.Compute;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using Xunit;

namespace GpuLstm.Tests;

/// <summary>
/// The kernel sets the tests run, created once: the GPU kernels on ILGPU's machine-sized CPU accelerator
/// (naive GEMM), the GPU kernels on a CPU accelerator whose groups hold 16×16 threads (tiled GEMM), and
/// the host SIMD set on the CPU accelerator's buffers.
/// </summary>
public sealed class TestDevices : IDisposable
{
    public const string IlgpuName = "ilgpu-cpu", TiledName = "ilgpu-tiled", HostName = "host";

    internal ComputeDevice Cpu { get; }
    internal ComputeDevice CpuTiled { get; }
    internal ComputeDevice Host { get; }

    internal ComputeDevice this[string set] => set switch
    {
        IlgpuName => Cpu,
        TiledName => CpuTiled,
        HostName => Host,
        _ => throw new ArgumentException(set),
    };

    /// <summary>Every case crossed with the kernel sets that implement the whole interface.</summary>
    public static IEnumerable<object[]> WithKernelSets(params object[][] cases) =>
        from set in new[] { IlgpuName, HostName } from c in cases select c.Prepend(set).ToArray();

    public TestDevices()
    {
        Cpu = ComputeDevice.Open("ilgpu-cpu");
        Host = ComputeDevice.Open("cpu");
        // The GPU path on the CPU accelerator, with 256-thread groups.
        CpuTiled = ComputeDevice.Open("ilgpu-cpu", KernelProfile.Gpu);
    }

    public void Dispose()
    {
        Cpu.Dispose();
        CpuTiled.Dispose();
        Host.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class DeviceCollection : ICollectionFixture<TestDevices>
{
    public const string Name = "devices";
}

/// <summary>Buffers and random data for kernel tests.</summary>
public static class TestData
{
    public static float[] Uniform(Random rng, int n, double scale = 1)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)((rng.NextDouble() * 2 - 1) * scale);
        return a;
    }

    /// <summary>A fresh seed per run, printed on failure through the assertion message.</summary>
    public static int FreshSeed() => Random.Shared.Next();

    public static MemoryBuffer1D<float, Stride1D.Dense> Upload(Accelerator acc, float[] data)
    {
        var buffer = acc.Allocate1D<float>(Math.Max(1, data.Length));
        if (data.Length > 0) buffer.CopyFromCPU(data);
        return buffer;
    }

    public static MemoryBuffer1D<int, Stride1D.Dense> Upload(Accelerator acc, int[] data)
    {
        var buffer = acc.Allocate1D<int>(Math.Max(1, data.Length));
        if (data.Length > 0) buffer.CopyFromCPU(data);
        return buffer;
    }

    /// <summary>NaN everywhere: a kernel that skips an element leaves a NaN the comparison catches.</summary>
    public static MemoryBuffer1D<float, Stride1D.Dense> Poisoned(Accelerator acc, int n)
    {
        var a = new float[n];
        Array.Fill(a, float.NaN);
        return Upload(acc, a);
    }

    public static void AssertClose(double[] expected, float[] actual, double rtol, double atol, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            double diff = Math.Abs(expected[i] - actual[i]);
            if (!(diff <= atol + rtol * Math.Abs(expected[i])))
                Assert.Fail($"{what}: element {i}: expected {expected[i]:G9}, got {actual[i]:G9} (|diff| {diff:G3})");
        }
    }
}
