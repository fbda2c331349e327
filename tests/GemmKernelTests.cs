using GpuLstm.Kernels;
using GpuLstm.Runtime.Compute;
using ILGPU;
using ILGPU.Runtime;
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

    // The register-blocked kernels at ragged shapes. Every layout (bias and accumulate included) at three shapes
    // that end mid-tile in M, N and K (a partial last K-tile of either width; 130×129 spans four 64 tiles and
    // crosses a 128 tile): 70×45×33 and 130×129×17 copy the panels float by float, 68×76×36 (every dimension
    // a multiple of 4) as float4s. The plain products also at a single element, one exact 64 tile (an exact
    // number of K-tiles, float4 copies) and a thin shape (5×200×9: B's rows as float4s in NN and TN, A's
    // float by float). Kept small: on the CPU accelerator every Group.Barrier is an OS-thread barrier across
    // the block's 256 threads.
    public static TheoryData<int, Layout, int, int, int> BlockedCases()
    {
        var data = new TheoryData<int, Layout, int, int, int>();
        foreach (var tile in new[] { GemmKernels.Blocked64Tile, GemmKernels.Blocked128Tile })
        {
            foreach (var layout in Enum.GetValues<Layout>())
                foreach (var (m, n, k) in new[] { (70, 45, 33), (130, 129, 17), (68, 76, 36) })
                    data.Add(tile, layout, m, n, k);
            foreach (var layout in new[] { Layout.NN, Layout.NT, Layout.TN })
                foreach (var (m, n, k) in new[] { (1, 1, 1), (64, 64, 64), (5, 200, 9) })
                    data.Add(tile, layout, m, n, k);
        }
        return data;
    }

    /// <summary>Blocked64 (blockTile 64) and Blocked128 (128) launched directly on the CPU accelerator with 256-thread groups.</summary>
    [Theory]
    [MemberData(nameof(BlockedCases))]
    public void BlockedMatchesReference(int blockTile, Layout layout, int m, int n, int k)
    {
        var acc = devices.CpuTiled.Accelerator;
        var kernel = LoadBlocked(acc, blockTile);
        Check(acc, layout, m, n, k, $"blocked{blockTile} ", (shape, a, b, bias, c) =>
        {
            kernel(acc.DefaultStream, GemmKernels.BlockedConfig(shape, blockTile), a, b, bias, c, shape);
            acc.Synchronize();
        });
    }

    /// <summary>
    /// A and B one float past a 16-byte boundary, at a shape that would otherwise take the float4 copies: the
    /// kernels must see the misalignment at run time and copy float by float.
    /// </summary>
    [Theory]
    [InlineData(64, Layout.NN)]
    [InlineData(64, Layout.NT)]
    [InlineData(64, Layout.TNAccumulate)]
    [InlineData(128, Layout.NNBias)]
    [InlineData(128, Layout.NT)]
    [InlineData(128, Layout.TN)]
    public void BlockedMatchesReferenceOnMisalignedViews(int blockTile, Layout layout)
    {
        var acc = devices.CpuTiled.Accelerator;
        var kernel = LoadBlocked(acc, blockTile);
        Check(acc, layout, 68, 76, 36, $"blocked{blockTile} misaligned ", (shape, a, b, bias, c) =>
        {
            kernel(acc.DefaultStream, GemmKernels.BlockedConfig(shape, blockTile), a, b, bias, c, shape);
            acc.Synchronize();
        }, operandOffset: 1);
    }

    private static Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmShape>
        LoadBlocked(Accelerator acc, int blockTile) => blockTile == GemmKernels.Blocked64Tile
            ? acc.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmShape>(GemmKernels.Blocked64)
            : acc.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmShape>(GemmKernels.Blocked128);

    // Multiprocessor counts: A100 (108 SMs), H100 SXM (132), MI210 (104 CUs), a 20-SM laptop GPU.
    [Theory]
    [InlineData(6400, 2048, 512, 108, nameof(GemmTile.Blocked128))]   // the input projection over all T·B rows: 800 tiles of 128
    [InlineData(6400, 2048, 512, 132, nameof(GemmTile.Blocked128))]
    [InlineData(512, 2048, 6400, 108, nameof(GemmTile.Blocked64))]    // the weight gradient: 64 tiles of 128 (< a wave), 256 of 64
    [InlineData(512, 2048, 6400, 104, nameof(GemmTile.Blocked64))]
    [InlineData(512, 2048, 6400, 40, nameof(GemmTile.Blocked128))]    // ... which are a full wave on a small GPU
    [InlineData(64, 2048, 512, 108, nameof(GemmTile.Blocked64))]      // the recurrent step B×4H×H: 32 tiles of 64 ≥ 108/4
    [InlineData(64, 2048, 512, 132, nameof(GemmTile.Tiled16))]        // ... fewer than a quarter of 132
    [InlineData(64, 512, 2048, 108, nameof(GemmTile.Tiled16))]        // dh = dgates·Whᵀ, B×H×4H: 8 tiles of 64; 128 of 16
    [InlineData(64, 512, 2048, 20, nameof(GemmTile.Blocked64))]
    [InlineData(16, 512, 128, 20, nameof(GemmTile.Tiled16))]          // batch 16: a 64 tile would be 3/4 padding
    [InlineData(1, 1, 1, 1, nameof(GemmTile.Tiled16))]
    [InlineData(128, 128, 128, 1, nameof(GemmTile.Blocked128))]
    public void ChooseFitsTheTileToTheShapeAndTheMachine(int m, int n, int k, int multiprocessors, string expected) =>
        Assert.Equal(Enum.Parse<GemmTile>(expected), GemmKernels.Choose(GemmShape.NN(m, n, k), multiprocessors));

    [Fact]
    public void ChooseNeedsAMultiprocessor() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => GemmKernels.Choose(GemmShape.NN(8, 8, 8), 0));

    [Fact]
    public void BlockedConfigCoversCWithOneSixteenBySixteenGroupPerTile()
    {
        var config = GemmKernels.BlockedConfig(GemmShape.NN(130, 65, 7), GemmKernels.Blocked64Tile);
        Assert.Equal(new Index3D(2, 3, 1), config.GridDim);
        Assert.Equal(new Index3D(16, 16, 1), config.GroupDim);
        config = GemmKernels.BlockedConfig(GemmShape.NN(130, 65, 7), GemmKernels.Blocked128Tile);
        Assert.Equal(new Index3D(1, 2, 1), config.GridDim);
        Assert.Throws<ArgumentOutOfRangeException>(() => GemmKernels.BlockedConfig(GemmShape.NN(8, 8, 8), 32));
    }

    private static void Check(ComputeDevice device, Layout layout, int m, int n, int k) =>
        Check(device.Accelerator, layout, m, n, k, "", (shape, a, b, bias, c) =>
        {
            device.Kernels.Gemm(shape, a, b, bias, c);
            device.Kernels.Synchronize();
        });

    private delegate void GemmLaunch(GemmShape shape, ArrayView<float> a, ArrayView<float> b, ArrayView<float> bias, ArrayView<float> c);

    /// <param name="operandOffset">Floats before A's and B's first element in their buffers.</param>
    private static void Check(Accelerator acc, Layout layout, int m, int n, int k, string what, GemmLaunch launch,
        int operandOffset = 0)
    {
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
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
        using var aBuf = TestData.Upload(acc, new float[operandOffset].Concat(a).ToArray());
        using var bBuf = TestData.Upload(acc, new float[operandOffset].Concat(b).ToArray());
        using var biasBuf = TestData.Upload(acc, biasData);
        // Without accumulation the output starts as NaN, so every element must have been written.
        using var cBuf = accumulate ? TestData.Upload(acc, cStart) : TestData.Poisoned(acc, m * n);
        launch(shape, aBuf.View.BaseView.SubView(operandOffset, a.Length), bBuf.View.BaseView.SubView(operandOffset, b.Length), biasBuf.View, cBuf.View);
        var expected = Reference.Gemm(a, b, bias ? biasData : null, accumulate ? cStart : null, m, n, k, transA, transB);
        TestData.AssertClose(expected, cBuf.GetAsArray1D(), 1e-5, 1e-5 * Math.Sqrt(k), $"{what}{layout} {m}x{n}x{k} seed {seed}");
    }
}
