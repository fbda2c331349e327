using GpuLstm.Kernels;
using GpuLstm.Runtime.Compute;
using Xunit;

namespace GpuLstm.Tests;

[Collection(DeviceCollection.Name)]
public sealed class DropoutKernelTests(TestDevices devices)
{
    public static IEnumerable<object[]> Cases => TestDevices.WithKernelSets([1, 0.5f], [37, 0.25f], [1003, 0.1f], [4099, 0.7f]);

    /// <summary>The kernel against a float64 reference that draws the same hashed mask: y = x·mask, mask ∈ {0, 1/(1−p)}.</summary>
    [Theory]
    [MemberData(nameof(Cases))]
    public void ForwardAndBackwardMatchReference(string set, int n, float rate)
    {
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        var acc = devices[set].Accelerator;
        uint key = (uint)rng.Next();
        var x = TestData.Uniform(rng, n, 2);
        var dy = TestData.Uniform(rng, n, 2);
        using var xBuf = TestData.Upload(acc, x);
        using var mask = TestData.Poisoned(acc, n);
        using var y = TestData.Poisoned(acc, n);
        using var dyBuf = TestData.Upload(acc, dy);
        var k = devices[set].Kernels;
        k.DropoutForward(xBuf.View, mask.View, y.View, rate, key);
        k.DropoutBackward(dyBuf.View, mask.View, dyBuf.View); // in place, as the model runs it
        k.Synchronize();
        double scale = 1.0 / (1.0 - rate);
        uint threshold = (uint)Math.Round(rate * 16777216.0);
        var refMask = new double[n];
        for (int i = 0; i < n; i++)
        {
            // The reference hash, written out independently of DropoutKernels.Hash.
            uint h = key + (uint)i;
            h ^= h >> 16; h *= 0x7feb352du; h ^= h >> 15; h *= 0x846ca68bu; h ^= h >> 16;
            refMask[i] = (h >> 8) >= threshold ? scale : 0;
        }
        TestData.AssertClose(refMask, mask.GetAsArray1D(), 1e-6, 0, $"mask seed {seed}");
        TestData.AssertClose(refMask.Select((m, i) => m * x[i]).ToArray(), y.GetAsArray1D(), 1e-6, 1e-7, $"y seed {seed}");
        TestData.AssertClose(refMask.Select((m, i) => m * dy[i]).ToArray(), dyBuf.GetAsArray1D(), 1e-6, 1e-7, $"dx seed {seed}");
    }

    [Theory]
    [InlineData(0.1f)]
    [InlineData(0.5f)]
    [InlineData(0.8f)]
    public void DropsTheRequestedFractionIndependentlyPerKey(float rate)
    {
        const int n = 200_003;
        var (threshold, _) = Dropout.Parameters(rate);
        uint key1 = Dropout.Key(42, 7), key2 = Dropout.Key(42, 8);
        int dropped = 0, differ = 0;
        for (int i = 0; i < n; i++)
        {
            bool a = DropoutKernels.Keeps(key1, i, threshold), b = DropoutKernels.Keeps(key2, i, threshold);
            if (!a) dropped++;
            if (a != b) differ++;
        }
        // Binomial: 5 standard deviations is < 0.6% of n here.
        Assert.InRange(dropped / (double)n, rate - 0.006, rate + 0.006);
        // Two steps' masks are independent: they differ on 2p(1−p) of the elements.
        Assert.InRange(differ / (double)n, 2 * rate * (1 - rate) - 0.008, 2 * rate * (1 - rate) + 0.008);
        Assert.Equal(key1, Dropout.Key(42, 7));
        Assert.NotEqual(key1, Dropout.Key(43, 7));
    }

    [Fact]
    public void RateZeroKeepsEverythingAndBadRatesAreRefused()
    {
        for (int i = 0; i < 1000; i++) Assert.True(DropoutKernels.Keeps(12345u, i, Dropout.Parameters(0).DropThreshold));
        Assert.Throws<ArgumentOutOfRangeException>(() => Dropout.Parameters(1f));
        Assert.Throws<ArgumentOutOfRangeException>(() => Dropout.Parameters(-0.1f));
    }
}
