using GpuLstm.Kernels;
using Xunit;

namespace GpuLstm.Tests;

/// <summary>
/// The activations the ILGPU cell kernels use, against float64: tanh stays within 3e-7 of the true value
/// everywhere (PTX's tanh.approx.f32, which MathF.Tanh would compile to, is allowed a relative error of 2^−11,
/// about 5e-4), and the sigmoid within 2e-7. The kernels run these functions as they are on the CPU accelerator
/// and through exp on a GPU (CodegenTests checks that no tanh.approx is emitted).
/// </summary>
public sealed class CellMathTests
{
    private static IEnumerable<double> Points()
    {
        for (double x = -20; x <= 20; x += 1.0 / 1024) yield return x;
        foreach (double tiny in new[] { 1e-30, 1e-8, 1e-4, 0.0624, 0.0625, 0.0626 }) { yield return tiny; yield return -tiny; }
    }

    [Fact]
    public void TanhIsWithinThreeTenMillionthsOfTheTruth()
    {
        double worst = Points().Max(x => Math.Abs(CellMath.Tanh((float)x) - Math.Tanh((float)x)));
        Assert.True(worst <= 3e-7, $"max |tanh error| {worst:E2}");
        Assert.Equal(0f, CellMath.Tanh(0f));
        Assert.Equal(1f, CellMath.Tanh(50f));
        Assert.Equal(-1f, CellMath.Tanh(-50f));
    }

    [Fact]
    public void TanhKeepsItsRelativePrecisionNearZero()
    {
        // Below 1/16 the Taylor polynomial avoids 1 − e^(−2|x|)'s cancellation: relative error stays at float precision.
        foreach (double x in new[] { 1e-30, 1e-8, 1e-4, 0.01, 0.0624 })
            Assert.True(Math.Abs(CellMath.Tanh((float)x) / Math.Tanh((float)x) - 1) < 3e-7, $"tanh({x})");
    }

    [Fact]
    public void SigmoidIsWithinTwoTenMillionthsOfTheTruth()
    {
        double worst = Points().Max(x => Math.Abs(CellMath.Sigmoid((float)x) - 1 / (1 + Math.Exp(-(float)x))));
        Assert.True(worst <= 2e-7, $"max |sigmoid error| {worst:E2}");
    }
}
