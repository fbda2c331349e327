using GpuLstm.Kernels;
using GpuLstm.Runtime.Compute;
using Xunit;

namespace GpuLstm.Tests;

[Collection(DeviceCollection.Name)]
public sealed class GemmKernelTests(TestDevices devices)
{
    public enum Layout { NN, NNBias, NNAccumulate, NT, TN, TNAccumulate }

    // Odd shapes, none a multiple of the 16-wide tile, a K of 1, and M = 1 (one batch row).
    public static TheoryData<Layout, int, int, int> Cases()
    {
        var data = new TheoryData<Layout, int, int, int>();
        foreach (var layout in Enum.GetValues<Layout>())
        {
            data.Add(layout, 19, 23, 21);
            data.Add(layout, 1, 37, 5);
            data.Add(layout, 33, 17, 1);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void NaiveMatchesReference(Layout layout, int m, int n, int k) => Check(devices.Cpu, layout, m, n, k);

    [Theory]
    [MemberData(nameof(Cases))]
    public void TiledMatchesReference(Layout layout, int m, int n, int k) => Check(devices.CpuTiled, layout, m, n, k);

    [Theory]
    [MemberData(nameof(Cases))]
    public void HostMatchesReference(Layout layout, int m, int n, int k) => Check(devices.Host, layout, m, n, k);

    /// <summary>Shapes that reach the host GEMM's register-blocked paths and its worker threads.</summary>
    [Theory]
    [InlineData(Layout.NNAccumulate, 16, 512, 128)]
    [InlineData(Layout.NT, 16, 128, 512)]
    [InlineData(Layout.TN, 129, 515, 203)]
    [InlineData(Layout.NNBias, 37, 67, 131)]
    [InlineData(Layout.NNBias, 13, 45, 300)]       // K blocked in two: bias only once
    [InlineData(Layout.TNAccumulate, 50, 33, 601)] // K blocked in three: the old C only once
    [InlineData(Layout.NT, 70, 27, 45)]            // enough rows to pack Bᵀ
    [InlineData(Layout.NT, 129, 100, 300)]
    [InlineData(Layout.NN, 7, 5, 9)]               // narrower than one 8-wide strip
    public void HostMatchesReferenceAtLstmShapes(Layout layout, int m, int n, int k) => Check(devices.Host, layout, m, n, k);

    private static void Check(ComputeDevice device, Layout layout, int m, int n, int k)
    {
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        var acc = device.Accelerator;
        bool transA = layout is Layout.TN or Layout.TNAccumulate;
        bool transB = layout == Layout.NT;
        bool accumulate = layout is Layout.NNAccumulate or Layout.TNAccumulate;
        bool bias = layout == Layout.NNBias;
        var a = TestData.Uniform(rng, m * k);
        var b = TestData.Uniform(rng, k * n);
        var biasData = TestData.Uniform(rng, n);
        var cStart = TestData.Uniform(rng, m * n);
        var shape = layout switch
        {
            Layout.NN or Layout.NNBias or Layout.NNAccumulate => GemmShape.NN(m, n, k, accumulate, bias),
            Layout.NT => GemmShape.NT(m, n, k),
            _ => GemmShape.TN(m, n, k, accumulate),
        };
        using var aBuf = TestData.Upload(acc, a);
        using var bBuf = TestData.Upload(acc, b);
        using var biasBuf = TestData.Upload(acc, biasData);
        // Without accumulation the output starts as NaN, so every element must have been written.
        using var cBuf = accumulate ? TestData.Upload(acc, cStart) : TestData.Poisoned(acc, m * n);
        device.Kernels.Gemm(shape, aBuf.View, bBuf.View, biasBuf.View, cBuf.View);
        device.Kernels.Synchronize();
        var expected = Reference.Gemm(a, b, bias ? biasData : null, accumulate ? cStart : null, m, n, k, transA, transB);
        TestData.AssertClose(expected, cBuf.GetAsArray1D(), 1e-5, 1e-5 * Math.Sqrt(k), $"{layout} {m}x{n}x{k} seed {seed}");
    }
}
