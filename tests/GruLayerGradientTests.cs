using GpuLstm.Runtime.Compute;
using GpuLstm.Runtime.Models;
using Xunit;

namespace GpuLstm.Tests;

/// <summary>
/// A whole <see cref="GruLayer"/> on a kernel set against the float64 reference layer: its forward outputs,
/// and its analytic gradients (every parameter tensor, and dx for dense inputs) against central differences
/// of L = Σ w ⊙ outputs or L = Σ w ⊙ final state. Buffers are sized larger than the sequence, so the
/// layer's strides must follow the call's (T, B), not its maxima.
/// </summary>
[Collection(DeviceCollection.Name)]
public sealed class GruLayerGradientTests(TestDevices devices)
{
    private const int Steps = 5, Batch = 3, Hidden = 4, Input = 4;

    /// <summary>Both directions, both input kinds, both losses on the ILGPU CPU and host sets; one case on the tiled GEMM a GPU runs.</summary>
    public static IEnumerable<object[]> Cases() =>
        (from set in new[] { TestDevices.IlgpuName, TestDevices.HostName }
         from reverse in new[] { false, true }
         from tokens in new[] { false, true }
         from allOutputs in new[] { true, false }
         select new object[] { set, reverse, tokens, allOutputs })
        .Append([TestDevices.TiledName, true, false, true]);

    private static GruReference.Weights Weights(double[] theta, GruLayer layer) => new(
        RecurrentLayerCheck.Slice(theta, layer.InputWeights), RecurrentLayerCheck.Slice(theta, layer.RecurrentWeights),
        RecurrentLayerCheck.Slice(theta, layer.InputBias), RecurrentLayerCheck.Slice(theta, layer.RecurrentBias), layer.InputSize);

    [Theory]
    [MemberData(nameof(Cases))]
    public void AnalyticGradientsMatchFiniteDifferences(string set, bool reverse, bool tokens, bool allOutputs)
    {
        var device = devices[set];
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        using var p = new ParameterSet();
        using var layer = new GruLayer(device.Kernels, device.Accelerator, p, "gru", Input, Hidden, Steps + 2, Batch + 1, reverse);
        p.Allocate(device.Accelerator);
        var values = TestData.Uniform(rng, p.Count, 0.6);
        p.SetValues(values);
        int[]? ids = tokens ? Enumerable.Range(0, Steps * Batch).Select(_ => rng.Next(Input)).ToArray() : null;
        float[]? dense = tokens ? null : TestData.Uniform(rng, Steps * Batch * Input);
        var w = TestData.Uniform(rng, (allOutputs ? Steps : 1) * Batch * Hidden);

        var run = RecurrentLayerCheck.ForwardBackward(device, layer, p, dense, ids, Steps, Batch, w, allOutputs);

        var x = tokens ? RecurrentLayerCheck.OneHot(ids!, Input) : RecurrentLayerCheck.ToDouble(dense!);
        var theta = RecurrentLayerCheck.ToDouble(values);
        var (refOutputs, refLast) = GruReference.LayerForward(Weights(theta, layer), x, Steps, Batch, Hidden, reverse);
        TestData.AssertClose(refOutputs, run.Outputs, 1e-5, 1e-6, $"outputs seed {seed}");
        TestData.AssertClose(refLast, run.Last, 1e-5, 1e-6, $"last output seed {seed}");

        double LossAt(double[] th, double[] xs)
        {
            var (o, l) = GruReference.LayerForward(Weights(th, layer), xs, Steps, Batch, Hidden, reverse);
            return RecurrentLayerCheck.Loss(o, l, w, allOutputs);
        }
        RecurrentLayerCheck.AssertParameterGradients(seed, p, theta, run.Grads, th => LossAt(th, x));
        if (!tokens)
            RecurrentLayerCheck.AssertGradient("dx", seed, x, 0, x.Length, run.Dx!, 0, xs => LossAt(theta, xs));
    }

    /// <summary>
    /// Forward a sequence, carry its final state, forward a second one from it: the second outputs are the
    /// reference's over the concatenated sequence, and its gradients are those of the second sequence's loss
    /// with the carried state held constant (truncated backpropagation through time).
    /// </summary>
    [Theory]
    [InlineData(TestDevices.IlgpuName, true)]
    [InlineData(TestDevices.IlgpuName, false)]
    [InlineData(TestDevices.HostName, true)]
    [InlineData(TestDevices.HostName, false)]
    public void CarriedStateContinuesTheSequence(string set, bool allOutputs)
    {
        const int first = 3, second = 4;
        var device = devices[set];
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        using var p = new ParameterSet();
        using var layer = new GruLayer(device.Kernels, device.Accelerator, p, "gru", Input, Hidden, second, Batch);
        p.Allocate(device.Accelerator);
        var values = TestData.Uniform(rng, p.Count, 0.6);
        p.SetValues(values);
        var x1 = TestData.Uniform(rng, first * Batch * Input);
        var x2 = TestData.Uniform(rng, second * Batch * Input);
        var w = TestData.Uniform(rng, (allOutputs ? second : 1) * Batch * Hidden);

        using var x1Buf = TestData.Upload(device.Accelerator, x1);
        layer.Forward(LayerInput.FromDense(x1Buf.View), first, Batch);
        layer.CarryState(first, Batch);
        var run = RecurrentLayerCheck.ForwardBackward(device, layer, p, x2, null, second, Batch, w, allOutputs, fromCarriedState: true);

        var theta = RecurrentLayerCheck.ToDouble(values);
        var weights = Weights(theta, layer);
        var (whole, _) = GruReference.LayerForward(weights, RecurrentLayerCheck.ToDouble(x1.Concat(x2).ToArray()), first + second, Batch, Hidden, false);
        TestData.AssertClose(whole.Skip(first * Batch * Hidden).ToArray(), run.Outputs, 1e-5, 1e-6, $"outputs after the carried state, seed {seed}");

        var (_, h0) = GruReference.LayerForward(weights, RecurrentLayerCheck.ToDouble(x1), first, Batch, Hidden, false);
        var xd = RecurrentLayerCheck.ToDouble(x2);
        double LossAt(double[] th, double[] xs)
        {
            var (o, l) = GruReference.LayerForward(Weights(th, layer), xs, second, Batch, Hidden, false, h0);
            return RecurrentLayerCheck.Loss(o, l, w, allOutputs);
        }
        RecurrentLayerCheck.AssertParameterGradients(seed, p, theta, run.Grads, th => LossAt(th, xd));
        RecurrentLayerCheck.AssertGradient("dx", seed, xd, 0, xd.Length, run.Dx!, 0, xs => LossAt(theta, xs));

        // ResetState zeroes h_0: forward from the "carried" state is then forward from zero.
        layer.ResetState(Batch);
        using var x2Buf = TestData.Upload(device.Accelerator, x2);
        layer.Forward(LayerInput.FromDense(x2Buf.View), second, Batch, fromCarriedState: true);
        var (fresh, _) = GruReference.LayerForward(weights, xd, second, Batch, Hidden, false);
        TestData.AssertClose(fresh, layer.Outputs(second, Batch).GetAsArray(), 1e-5, 1e-6, $"outputs after ResetState, seed {seed}");
    }

    [Fact]
    public void KerasDefaultsAreGlorotOrthogonalAndZeroBiases()
    {
        var device = devices.Host;
        using var p = new ParameterSet();
        using var layer = new GruLayer(device.Kernels, device.Accelerator, p, "gru", 6, 5, 2, 1);
        p.Allocate(device.Accelerator);
        layer.InitializeKerasDefaults(new GpuLstm.Runtime.Rng(7));
        Assert.Equal("gru", layer.Cell);
        Assert.Equal([6, 15], layer.InputWeights.Shape);
        Assert.Equal([5, 15], layer.RecurrentWeights.Shape);
        Assert.Equal([15], layer.InputBias.Shape);
        Assert.Equal([15], layer.RecurrentBias.Shape);
        double limit = Math.Sqrt(6.0 / (6 + 15));
        var wx = p.GetValue(layer.InputWeights);
        Assert.All(wx, v => Assert.InRange(Math.Abs(v), 0, limit));
        Assert.Contains(wx, v => v != 0);
        var wh = p.GetValue(layer.RecurrentWeights);
        for (int a = 0; a < 5; a++)
            for (int b = 0; b < 5; b++)
            {
                double dot = 0;
                for (int c = 0; c < 15; c++) dot += (double)wh[a * 15 + c] * wh[b * 15 + c];
                Assert.True(Math.Abs(dot - (a == b ? 1 : 0)) < 1e-5, $"rows {a}, {b} of the recurrent kernel: dot {dot}");
            }
        Assert.All(p.GetValue(layer.InputBias), v => Assert.Equal(0f, v));
        Assert.All(p.GetValue(layer.RecurrentBias), v => Assert.Equal(0f, v));
    }

    [Fact]
    public void ReverseLayerCarriesNoState()
    {
        var device = devices.Host;
        using var p = new ParameterSet();
        using var layer = new GruLayer(device.Kernels, device.Accelerator, p, "gru", Input, Hidden, Steps, Batch, reverse: true);
        p.Allocate(device.Accelerator);
        Assert.Throws<InvalidOperationException>(() => layer.CarryState(Steps, Batch));
        Assert.Throws<ArgumentOutOfRangeException>(() => layer.Forward(default, Steps + 1, Batch));
    }
}
