using Xunit;

namespace GpuLstm.Tests;

[Collection(DeviceCollection.Name)]
public sealed class LossKernelTests(TestDevices devices)
{
    public static IEnumerable<object[]> Cases => TestDevices.WithKernelSets([5, 27, false], [1, 3, false], [7, 65, true]);

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
}
