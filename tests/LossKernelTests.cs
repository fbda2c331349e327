using GpuLstm.Kernels;
using Xunit;

namespace GpuLstm.Tests;

[Collection(DeviceCollection.Name)]
public sealed class LossKernelTests(TestDevices devices)
{
    // V not a multiple of 8 or 32 (the host's vector and block widths) and below one vector; the last two split
    // their rows over the host's threads (≥ 32 K logits), at a word vocabulary's width.
    public static IEnumerable<object[]> Cases => TestDevices.WithKernelSets([5, 27, false], [1, 3, false], [7, 65, true],
        [3, 101, false], [9, 10007, true], [40, 1003, false]);

    [Theory]
    [MemberData(nameof(Cases))]
    public void SoftmaxCrossEntropyMatchesReference(string set, int rows, int vocab, bool inPlace)
    {
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        var acc = devices[set].Accelerator;
        // Large logits: the kernel must subtract the row maximum to stay finite.
        var logits = TestData.Uniform(rng, rows * vocab, 40);
        var targets = Enumerable.Range(0, rows).Select(_ => rng.Next(vocab)).ToArray();
        using var logitsBuf = TestData.Upload(acc, logits);
        using var targetsBuf = TestData.Upload(acc, targets);
        using var dBuf = TestData.Poisoned(acc, rows * vocab);
        using var lossBuf = TestData.Poisoned(acc, rows);
        float scale = 1f / rows;
        var dView = inPlace ? logitsBuf.View : dBuf.View;
        devices[set].Kernels.SoftmaxCrossEntropy(rows, vocab, logitsBuf.View, targetsBuf.View, dView, lossBuf.View, scale);
        devices[set].Kernels.Synchronize();
        var (loss, d) = Reference.SoftmaxCrossEntropy(logits, targets, rows, vocab, scale);
        TestData.AssertClose(loss, lossBuf.GetAsArray1D(), 1e-5, 1e-5, $"loss seed {seed}");
        TestData.AssertClose(d, (inPlace ? logitsBuf : dBuf).GetAsArray1D(), 1e-5, 1e-6, $"dlogits seed {seed}");
    }

    // The row-per-group kernel runs on the CPU accelerator with 16-thread warps and 256-thread groups, whose
    // barriers are OS-thread barriers: a few rows only. V 1 and 7 get one 16-thread warp, V 100 a 128-thread
    // group (a shorter tree), V 300 and 1000 the full 256 threads with one to four elements each.
    public static TheoryData<int, int, bool> RowsCases => new()
    {
        { 3, 1, false }, { 3, 1, true }, { 3, 7, false }, { 3, 7, true }, { 2, 100, true },
        { 3, 300, false }, { 3, 300, true }, { 3, 1000, false }, { 3, 1000, true },
    };

    private (float[] Loss, float[] DLogits) SoftmaxRows(float[] logits, int[] targets, int rows, int vocab, float scale, bool inPlace)
    {
        var acc = devices.CpuTiled.Accelerator;
        var kernel = acc.LoadKernel<ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, int, float>(LossKernels.SoftmaxCrossEntropyRows);
        using var logitsBuf = TestData.Upload(acc, logits);
        using var targetsBuf = TestData.Upload(acc, targets);
        using var dBuf = TestData.Poisoned(acc, rows * vocab);
        using var lossBuf = TestData.Poisoned(acc, rows);
        kernel(acc.DefaultStream, LossKernels.SoftmaxRowsConfig(rows, vocab, acc.WarpSize),
            logitsBuf.View, targetsBuf.View, inPlace ? logitsBuf.View : dBuf.View, lossBuf.View, vocab, scale);
        acc.Synchronize();
        return (lossBuf.GetAsArray1D(), (inPlace ? logitsBuf : dBuf).GetAsArray1D());
    }

    [Theory]
    [MemberData(nameof(RowsCases))]
    public void SoftmaxCrossEntropyRowsMatchesReference(int rows, int vocab, bool inPlace)
    {
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        var logits = TestData.Uniform(rng, rows * vocab, 40);
        var targets = Enumerable.Range(0, rows).Select(_ => rng.Next(vocab)).ToArray();
        float scale = 1f / rows;
        var (loss, d) = SoftmaxRows(logits, targets, rows, vocab, scale, inPlace);
        var expected = Reference.SoftmaxCrossEntropy(logits, targets, rows, vocab, scale);
        TestData.AssertClose(expected.Loss, loss, 1e-5, 1e-5, $"loss seed {seed}");
        TestData.AssertClose(expected.DLogits, d, 1e-5, 1e-6, $"dlogits seed {seed}");
    }

    /// <summary>
    /// Logits of ±80: exp(±80) overflows float and exp(−160) underflows, so only a kernel that subtracts the
    /// row maximum stays finite. One row has its target at −80 below a +80 maximum (loss 160), one has every
    /// logit at −80 (uniform softmax), one every logit at +80.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void SoftmaxCrossEntropyRowsStaysFiniteAtExtremeLogits(bool inPlace)
    {
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        const int rows = 4, vocab = 300;
        var logits = new float[rows * vocab];
        for (int i = 0; i < vocab; i++)
        {
            logits[i] = rng.Next(2) == 0 ? -80f : 80f;
            logits[vocab + i] = -80f;
            logits[2 * vocab + i] = 80f;
            logits[3 * vocab + i] = rng.Next(2) == 0 ? -80f : 80f;
        }
        var targets = Enumerable.Range(0, rows).Select(_ => rng.Next(vocab)).ToArray();
        logits[targets[0]] = -80f;
        logits[(targets[0] + 1 + rng.Next(vocab - 1)) % vocab] = 80f; // row 0 has a +80 maximum besides its −80 target
        float scale = 1f / rows;
        var (loss, d) = SoftmaxRows(logits, targets, rows, vocab, scale, inPlace);
        Assert.All(loss, x => Assert.True(float.IsFinite(x), $"loss {x}, seed {seed}"));
        Assert.All(d, x => Assert.True(float.IsFinite(x), $"dlogit {x}, seed {seed}"));
        var expected = Reference.SoftmaxCrossEntropy(logits, targets, rows, vocab, scale);
        TestData.AssertClose(expected.Loss, loss, 1e-5, 1e-5, $"loss seed {seed}");
        TestData.AssertClose(expected.DLogits, d, 1e-5, 1e-6, $"dlogits seed {seed}");
    }

    /// <summary>
    /// The host's softmax (HostSoftmax): rows whose maximum arrives late (in the last vector block and in the
    /// scalar tail), at ±80 and far beyond exp's range (±1e30), all in one lane or spread, stay finite and match
    /// float64; one and three threads give the same bits.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void HostSoftmaxStaysFiniteAndIsIndependentOfThreads(bool inPlace)
    {
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        const int rows = 6, vocab = 4099;
        var logits = TestData.Uniform(rng, rows * vocab, 5);
        for (int i = 0; i < vocab; i++)
        {
            logits[i] = i < vocab - 40 ? -80f : 80f;                       // the maximum in the last block and the tail
            logits[vocab + i] = rng.Next(2) == 0 ? -1e30f : 1e30f;
            logits[2 * vocab + i] = -1e30f;
        }
        logits[2 * vocab + 17] = 3f;                                          // one finite value among −1e30s
        logits[3 * vocab + vocab - 1] = 200f;                                 // a maximum only in the scalar tail
        var targets = Enumerable.Range(0, rows).Select(_ => rng.Next(vocab)).ToArray();
        targets[2] = 17;
        var expected = Reference.SoftmaxCrossEntropy(logits, targets, rows, vocab, 0.25f);
        float[]? firstLoss = null, firstD = null;
        foreach (int threads in new[] { 1, 3 })
        {
            using var pool = new GpuLstm.Runtime.Compute.Host.WorkerPool(threads);
            var softmax = new GpuLstm.Runtime.Compute.Host.HostSoftmax(pool);
            var x = (float[])logits.Clone();
            var d = inPlace ? x : new float[x.Length];
            var loss = new float[rows];
            unsafe
            {
                fixed (float* px = x, pd = d, pl = loss)
                fixed (int* pt = targets)
                    softmax.Run(rows, vocab, px, pt, pd, pl, 0.25f);
            }
            Assert.All(loss, v => Assert.True(float.IsFinite(v), $"loss {v}, seed {seed}"));
            Assert.All(d, v => Assert.True(float.IsFinite(v), $"dlogit {v}, seed {seed}"));
            TestData.AssertClose(expected.Loss, loss, 1e-5, 1e-5, $"loss, {threads} threads, seed {seed}");
            TestData.AssertClose(expected.DLogits, d, 1e-5, 1e-6, $"dlogits, {threads} threads, seed {seed}");
            if (firstLoss is null) { firstLoss = loss; firstD = d; }
            else
            {
                Assert.True(firstLoss.SequenceEqual(loss), $"loss differs between 1 and 3 threads, seed {seed}");
                Assert.True(firstD!.SequenceEqual(d), $"dlogits differ between 1 and 3 threads, seed {seed}");
            }
        }
    }

    /// <summary>The tree adds in a fixed order: two runs on the same logits agree to the bit.</summary>
    [Fact]
    public void SoftmaxCrossEntropyRowsIsDeterministic()
    {
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        const int rows = 2, vocab = 1000;
        var logits = TestData.Uniform(rng, rows * vocab, 10);
        var targets = Enumerable.Range(0, rows).Select(_ => rng.Next(vocab)).ToArray();
        var first = SoftmaxRows(logits, targets, rows, vocab, 0.5f, inPlace: false);
        var second = SoftmaxRows(logits, targets, rows, vocab, 0.5f, inPlace: false);
        Assert.True(first.Loss.SequenceEqual(second.Loss), $"loss differs between runs, seed {seed}");
        Assert.True(first.DLogits.SequenceEqual(second.DLogits), $"dlogits differ between runs, seed {seed}");
    }

    [Theory]
    [InlineData(1, 32, 32)]     // a warp per row
    [InlineData(7, 16, 16)]
    [InlineData(27, 32, 32)]    // the character vocabulary
    [InlineData(33, 32, 64)]
    [InlineData(100, 64, 128)]
    [InlineData(256, 32, 256)]
    [InlineData(257, 32, 256)]  // capped: threads hold two elements
    [InlineData(50_000, 64, 256)]
    public void SoftmaxRowsConfigIsOneGroupPerRowOfAPowerOfTwoThreads(int vocab, int warpSize, int threads)
    {
        var config = LossKernels.SoftmaxRowsConfig(11, vocab, warpSize);
        Assert.Equal(11, config.GridDim.X);
        Assert.Equal(threads, config.GroupDim.X);
        Assert.Equal(1, config.GridDim.Y * config.GridDim.Z * config.GroupDim.Y * config.GroupDim.Z);
    }

    [Theory]
    [InlineData(0, 32)]
    [InlineData(10, 0)]
    [InlineData(10, 48)]
    [InlineData(10, 512)]
    public void SoftmaxRowsConfigRejectsAnEmptyVocabularyAndOddWarps(int vocab, int warpSize) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => LossKernels.SoftmaxRowsConfig(4, vocab, warpSize));
}
