using GpuLstm.Runtime;
using GpuLstm.Runtime.Models;
using Xunit;

namespace GpuLstm.Tests;

[Collection(DeviceCollection.Name)]
public sealed class InitializerTests(TestDevices devices)
{
    [Fact]
    public void OrthogonalRecurrentKernelHasOrthonormalRows()
    {
        const int rows = 13, cols = 52;
        var w = Initializers.Orthogonal(new Rng(5), rows, cols);
        for (int a = 0; a < rows; a++)
            for (int b = 0; b < rows; b++)
            {
                double dot = 0;
                for (int c = 0; c < cols; c++) dot += (double)w[a * cols + c] * w[b * cols + c];
                Assert.True(Math.Abs(dot - (a == b ? 1 : 0)) < 1e-5, $"rows {a},{b}: {dot}");
            }
    }

    [Fact]
    public void OrthogonalTallKernelHasOrthonormalColumns()
    {
        const int rows = 20, cols = 6;
        var w = Initializers.Orthogonal(new Rng(6), rows, cols);
        for (int a = 0; a < cols; a++)
            for (int b = 0; b < cols; b++)
            {
                double dot = 0;
                for (int r = 0; r < rows; r++) dot += (double)w[r * cols + a] * w[r * cols + b];
                Assert.True(Math.Abs(dot - (a == b ? 1 : 0)) < 1e-5, $"cols {a},{b}: {dot}");
            }
    }

    [Fact]
    public void KerasDefaultsForTheModel()
    {
        using var model = new LanguageModel(devices.Cpu, new LanguageModelConfig(27, 16, 5), 2);
        model.InitializeKerasDefaults(42);
        var p = model.Parameters;
        double limit = Math.Sqrt(6.0 / (27 + 64));
        var wx = p.GetValue(model.Stack.ForwardLayers[^1].InputWeights);
        Assert.All(wx, x => Assert.InRange(Math.Abs(x), 0, limit));
        Assert.True(wx.Max() > 0.9 * limit && wx.Min() < -0.9 * limit, "glorot uniform spans its range");
        var bias = p.GetValue(model.Stack.ForwardLayers[^1].InputBias);
        for (int i = 0; i < 64; i++) Assert.Equal(i is >= 16 and < 32 ? 1f : 0f, bias[i]);
        Assert.All(p.GetValue(model.Dense.Bias), x => Assert.Equal(0f, x));
        Assert.All(p.GetValue(model.Dense.Weights), x => Assert.InRange(Math.Abs(x), 0, Math.Sqrt(6.0 / (16 + 27))));
    }
}
