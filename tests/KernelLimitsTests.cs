using GpuLstm.Runtime.Compute;
using GpuLstm.Runtime.Data;
using GpuLstm.Runtime.Models;
using Xunit;

namespace GpuLstm.Tests;

/// <summary>
/// Shapes the 32-bit kernels cannot address are refused when the model is built, with the setting to change,
/// before anything is allocated: not a wrong result or a failed launch later.
/// </summary>
[Collection(DeviceCollection.Name)]
public sealed class KernelLimitsTests(TestDevices devices)
{
    [Theory]
    // T·B rows beyond the grids' 65,535 × 16.
    [InlineData(65, 64, 0, 100, 11_000, "rows a step")]
    // A gate buffer over 2³¹ floats: 100 × 2,000 rows × 4 × 4,096.
    [InlineData(65, 4096, 0, 100, 2_000, "gate buffer")]
    // Word-level logits at every position: 100 × 500 rows × 50,000 words.
    [InlineData(50_000, 64, 32, 100, 500, "logits buffer")]
    public void ALanguageModelTooBigForTheKernelsIsRefusedOnTheBatch(int vocab, int hidden, int embedding, int steps, int batch, string mentions)
    {
        var config = new LanguageModelConfig(vocab, hidden, steps, LossPositions.All, 1, embedding);
        var e = Assert.Throws<SettingException>(() => new LanguageModel(devices.Host, config, batch).Dispose());
        Assert.Equal("BatchSize", e.Setting);
        Assert.Contains(mentions, e.Message);
        Assert.Contains("smaller batch", e.Message);
    }

    [Fact]
    public void ASeriesModelTooBigForTheKernelsIsRefusedOnTheBatch()
    {
        var e = Assert.Throws<SettingException>(() => new SeriesModel(devices.Host, new SeriesModelConfig(1024, 2000, 1), 600_000).Dispose());
        Assert.Equal("BatchSize", e.Setting);
        Assert.Contains("rows a step", e.Message);
    }

    [Fact]
    public void TheLimitsAreInclusive()
    {
        KernelLimits.Check("a shape", KernelLimits.MaxRows, ("a buffer", KernelLimits.MaxElements));
        Assert.Throws<SettingException>(() => KernelLimits.Check("a shape", KernelLimits.MaxRows + 1));
        Assert.Throws<SettingException>(() => KernelLimits.Check("a shape", 1, ("a buffer", KernelLimits.MaxElements + 1)));
    }
}
