using GpuLstm.Runtime.Compute;
using GpuLstm.Kernels;
using GpuLstm.Runtime.Training;
using Xunit;

namespace GpuLstm.Tests;

[Collection(DeviceCollection.Name)]
public sealed class AdamTests(TestDevices devices)
{
    /// <summary>
    /// From zero moments, one Keras Adam step moves every parameter by exactly
    /// lr·√(1−β2)/(1−β1)·(1−β1)g / (√((1−β2)g²) + ε) = lr·g/(|g| + ε/√(1−β2)).
    /// </summary>
    public static IEnumerable<object[]> Sets => TestDevices.WithKernelSets(Array.Empty<object>());

    [Theory]
    [MemberData(nameof(Sets))]
    public void FirstStepMatchesClosedForm(string set)
    {
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        var acc = devices[set].Accelerator;
        const int n = 1001;
        var p = TestData.Uniform(rng, n);
        var g = TestData.Uniform(rng, n);
        g[0] = 0; // a zero gradient leaves its parameter exactly where it was
        using var pBuf = TestData.Upload(acc, p);
        using var gBuf = TestData.Upload(acc, g);
        using var m = TestData.Upload(acc, new float[n]);
        using var v = TestData.Upload(acc, new float[n]);
        var o = new AdamOptions(LearningRate: 0.01);
        devices[set].Kernels.AdamStep(pBuf.View, gBuf.View, m.View, v.View,
            new AdamStepArgs((float)AdamOptimizer.StepSize(o, 1), (float)o.Beta1, (float)o.Beta2, (float)o.Epsilon, 1f));
        devices[set].Kernels.Synchronize();
        var expected = new double[n];
        for (int i = 0; i < n; i++)
            expected[i] = p[i] - o.LearningRate * g[i] / (Math.Abs(g[i]) + o.Epsilon / Math.Sqrt(1 - o.Beta2));
        TestData.AssertClose(expected, pBuf.GetAsArray1D(), 1e-6, 1e-7, $"parameters seed {seed}");
        TestData.AssertClose(g.Select(x => 0.1 * x).ToArray(), m.GetAsArray1D(), 1e-6, 1e-9, "first moment");
        // 1 − 0.999f is 0.00100005 in float32 (as in Keras): a 5e-5 relative offset in v.
        TestData.AssertClose(g.Select(x => 0.001 * x * (double)x).ToArray(), v.GetAsArray1D(), 1e-4, 1e-12, "second moment");
    }

    /// <summary>With a constant gradient the moments have closed forms: m_t = (1−β1ᵗ)g, v_t = (1−β2ᵗ)g², so every step moves by lr·g/(|g| + ε/√(1−β2ᵗ)).</summary>
    [Theory]
    [MemberData(nameof(Sets))]
    public void ConstantGradientStepsMatchClosedForm(string set)
    {
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        var acc = devices[set].Accelerator;
        const int n = 37, steps = 25;
        var p = TestData.Uniform(rng, n);
        var g = TestData.Uniform(rng, n, 1e-3);
        using var pBuf = TestData.Upload(acc, p);
        using var gBuf = TestData.Upload(acc, g);
        using var m = TestData.Upload(acc, new float[n]);
        using var v = TestData.Upload(acc, new float[n]);
        var o = new AdamOptions(LearningRate: 1e-3);
        var expected = p.Select(x => (double)x).ToArray();
        for (int t = 1; t <= steps; t++)
        {
            devices[set].Kernels.AdamStep(pBuf.View, gBuf.View, m.View, v.View,
                new AdamStepArgs((float)AdamOptimizer.StepSize(o, t), (float)o.Beta1, (float)o.Beta2, (float)o.Epsilon, 1f));
            for (int i = 0; i < n; i++)
                expected[i] -= o.LearningRate * g[i] / (Math.Abs(g[i]) + o.Epsilon / Math.Sqrt(1 - Math.Pow(o.Beta2, t)));
        }
        devices[set].Kernels.Synchronize();
        TestData.AssertClose(expected, pBuf.GetAsArray1D(), 1e-5, 1e-6, $"seed {seed}");
    }

    [Theory]
    [MemberData(nameof(Sets))]
    public void GradScaleMultipliesTheGradientBeforeTheMoments(string set)
    {
        var acc = devices[set].Accelerator;
        var g = new float[] { 2f, -4f, 0.5f };
        using var pBuf = TestData.Upload(acc, new float[3]);
        using var gBuf = TestData.Upload(acc, g);
        using var m = TestData.Upload(acc, new float[3]);
        using var v = TestData.Upload(acc, new float[3]);
        devices[set].Kernels.AdamStep(pBuf.View, gBuf.View, m.View, v.View, new AdamStepArgs(0.1f, 0.9f, 0.999f, 1e-7f, 0.25f));
        devices[set].Kernels.Synchronize();
        TestData.AssertClose(g.Select(x => 0.1 * 0.25 * x).ToArray(), m.GetAsArray1D(), 1e-6, 0, "m uses the scaled gradient");
    }

    public static IEnumerable<object[]> EverySet => new[] { TestDevices.IlgpuName, TestDevices.HostName, TestDevices.TiledName }.Select(x => new object[] { x });

    /// <summary>
    /// A step's end on the device (IKernelSet.FinishStep), on every set including the GPU path's kernels: the loss
    /// sum and the gradient norm against float64, Adam with the clip scale they imply, a NaN that halts this step
    /// and the next (sticky) with the weights untouched, and a reset that lets steps update again.
    /// </summary>
    [Theory]
    [MemberData(nameof(EverySet))]
    public void FinishStepReducesDecidesAndHaltsOnTheDevice(string set)
    {
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        var k = devices[set].Kernels;
        var acc = devices[set].Accelerator;
        const int n = 3001, rows = 37;
        var p = TestData.Uniform(rng, n);
        var g = TestData.Uniform(rng, n, 2);
        var losses = TestData.Uniform(rng, rows).Select(x => Math.Abs(x) + 1f).ToArray();
        using var pBuf = TestData.Upload(acc, p);
        using var gBuf = TestData.Upload(acc, g);
        using var lossBuf = TestData.Upload(acc, losses);
        using var m = TestData.Upload(acc, new float[n]);
        using var v = TestData.Upload(acc, new float[n]);
        var o = new AdamOptions(LearningRate: 0.01, ClipNorm: 1);
        var args = new AdamStepArgs((float)AdamOptimizer.StepSize(o, 1), (float)o.Beta1, (float)o.Beta2, (float)o.Epsilon, 1f);
        StepFinish Finish(int slot) => new(lossBuf.View, pBuf.View, gBuf.View, m.View, v.View, args, o.ClipNorm, slot);
        k.ResetStepGuard();
        k.FinishStep(Finish(0));
        var outcome = k.ReadStepOutcome(0);
        double norm = Math.Sqrt(g.Sum(x => (double)x * x));
        string what = $"{set} seed {seed}";
        Assert.True(Math.Abs(outcome.LossSum - losses.Sum(x => (double)x)) < 1e-4, $"loss sum {outcome.LossSum} {what}");
        Assert.True(Math.Abs(outcome.GradientNorm / norm - 1) < 1e-5, $"norm {outcome.GradientNorm} vs {norm} {what}");
        Assert.False(outcome.Diverged || outcome.Halted);
        // From zero moments one step moves p by lr·ĝ/(|ĝ| + ε/√(1−β2)), with ĝ = g·clip/norm (the norm is above the clip).
        double scale = o.ClipNorm / norm;
        var expected = p.Select((x, i) => x - o.LearningRate * g[i] * scale / (Math.Abs(g[i] * scale) + o.Epsilon / Math.Sqrt(1 - o.Beta2))).ToArray();
        var after = pBuf.GetAsArray1D();
        TestData.AssertClose(expected, after, 1e-5, 1e-7, "clipped Adam " + what);

        // A NaN gradient: this step halts, so does the next, and nothing moves.
        var poisoned = (float[])g.Clone();
        poisoned[n / 2] = float.NaN;
        gBuf.View.CopyFromCPU(poisoned);
        k.FinishStep(Finish(1));
        gBuf.View.CopyFromCPU(g);
        k.FinishStep(Finish(0));
        var diverged = k.ReadStepOutcome(1);
        var next = k.ReadStepOutcome(0);
        Assert.True(diverged.Diverged && diverged.Halted, what);
        Assert.True(next.Halted && !next.Diverged, what);
        Assert.Equal(after, pBuf.GetAsArray1D());
        k.ResetStepGuard();
        k.FinishStep(Finish(1));
        Assert.False(k.ReadStepOutcome(1).Halted);
        Assert.NotEqual(after, pBuf.GetAsArray1D());
    }
}

