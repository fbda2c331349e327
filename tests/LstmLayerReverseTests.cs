using GpuLstm.Runtime.Compute;
using GpuLstm.Runtime.Models;
using Xunit;

namespace GpuLstm.Tests;

/// <summary>
/// <see cref="LstmLayer"/>'s reverse direction: a reverse layer over x is a forward layer over x reversed in
/// time, outputs (and gradients) reversed back; and its analytic gradients match central differences of the
/// float64 reference layer. Buffers are sized larger than the sequence, so strides must follow the call's (T, B).
/// </summary>
[Collection(DeviceCollection.Name)]
public sealed class LstmLayerReverseTests(TestDevices devices)
{
    private const int Steps = 5, Batch = 3, Hidden = 4, Input = 4;

    public static IEnumerable<object[]> Cases() =>
        from set in new[] { TestDevices.IlgpuName, TestDevices.HostName }
        from tokens in new[] { false, true }
        from allOutputs in new[] { true, false }
        select new object[] { set, tokens, allOutputs };

    public static IEnumerable<object[]> DirectionCases() =>
        from c in Cases() from reverse in new[] { true, false } select c.Append(reverse).ToArray();

    /// <summary>Rows (T,B,·) in reverse time order.</summary>
    private static T[] ReverseTime<T>(T[] a, int steps)
    {
        int row = a.Length / steps;
        var r = new T[a.Length];
        for (int t = 0; t < steps; t++) Array.Copy(a, t * row, r, (steps - 1 - t) * row, row);
        return r;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void ReverseIsForwardOverTimeReversedInput(string set, bool tokens, bool allOutputs)
    {
        var device = devices[set];
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        using var p = new ParameterSet();
        using var backward = new LstmLayer(device.Kernels, device.Accelerator, p, "rev", Input, Hidden, Steps + 2, Batch + 1, reverse: true);
        using var forward = new LstmLayer(device.Kernels, device.Accelerator, p, "fwd", Input, Hidden, Steps + 2, Batch + 1);
        p.Allocate(device.Accelerator);
        var values = TestData.Uniform(rng, p.Count / 2, 0.6);
        p.SetValues(values.Concat(values).ToArray()); // the two layers' tensors have the same shapes, in the same order
        int[]? ids = tokens ? Enumerable.Range(0, Steps * Batch).Select(_ => rng.Next(Input)).ToArray() : null;
        float[]? dense = tokens ? null : TestData.Uniform(rng, Steps * Batch * Input);
        var w = TestData.Uniform(rng, (allOutputs ? Steps : 1) * Batch * Hidden);

        var rev = RecurrentLayerCheck.ForwardBackward(device, backward, p, dense, ids, Steps, Batch, w, allOutputs);
        var fwd = RecurrentLayerCheck.ForwardBackward(device, forward, p,
            dense is null ? null : ReverseTime(dense, Steps), ids is null ? null : ReverseTime(ids, Steps),
            Steps, Batch, allOutputs ? ReverseTime(w, Steps) : w, allOutputs);

        string what = $"seed {seed}";
        TestData.AssertClose(RecurrentLayerCheck.ToDouble(ReverseTime(fwd.Outputs, Steps)), rev.Outputs, 1e-6, 1e-7, "outputs " + what);
        TestData.AssertClose(RecurrentLayerCheck.ToDouble(fwd.Last), rev.Last, 1e-6, 1e-7, "last output " + what);
        // The weight gradients sum the same terms in another row order.
        int half = p.Count / 2;
        TestData.AssertClose(RecurrentLayerCheck.ToDouble(fwd.Grads[half..]), rev.Grads[..half], 1e-4, 1e-6, "gradients " + what);
        if (!tokens)
            TestData.AssertClose(RecurrentLayerCheck.ToDouble(ReverseTime(fwd.Dx!, Steps)), rev.Dx!, 1e-5, 1e-6, "dx " + what);
    }

    [Theory]
    [MemberData(nameof(DirectionCases))]
    public void AnalyticGradientsMatchFiniteDifferences(string set, bool tokens, bool allOutputs, bool reverse)
    {
        var device = devices[set];
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        using var p = new ParameterSet();
        using var layer = new LstmLayer(device.Kernels, device.Accelerator, p, "lstm", Input, Hidden, Steps + 2, Batch + 1, reverse);
        p.Allocate(device.Accelerator);
        var values = TestData.Uniform(rng, p.Count, 0.6);
        p.SetValues(values);
        int[]? ids = tokens ? Enumerable.Range(0, Steps * Batch).Select(_ => rng.Next(Input)).ToArray() : null;
        float[]? dense = tokens ? null : TestData.Uniform(rng, Steps * Batch * Input);
        var w = TestData.Uniform(rng, (allOutputs ? Steps : 1) * Batch * Hidden);

        var run = RecurrentLayerCheck.ForwardBackward(device, layer, p, dense, ids, Steps, Batch, w, allOutputs);

        var x = tokens ? RecurrentLayerCheck.OneHot(ids!, Input) : RecurrentLayerCheck.ToDouble(dense!);
        var theta = RecurrentLayerCheck.ToDouble(values);
        Reference.LstmWeights Weights(double[] th) => new(RecurrentLayerCheck.Slice(th, layer.InputWeights),
            RecurrentLayerCheck.Slice(th, layer.RecurrentWeights), RecurrentLayerCheck.Slice(th, layer.Bias), Input);
        var (refOutputs, refLast) = Reference.LstmLayerForward(Weights(theta), x, Steps, Batch, Hidden, reverse);
        TestData.AssertClose(refOutputs, run.Outputs, 1e-5, 1e-6, $"outputs seed {seed}");
        TestData.AssertClose(refLast, run.Last, 1e-5, 1e-6, $"last output seed {seed}");

        double LossAt(double[] th, double[] xs)
        {
            var (o, l) = Reference.LstmLayerForward(Weights(th), xs, Steps, Batch, Hidden, reverse);
            return RecurrentLayerCheck.Loss(o, l, w, allOutputs);
        }
        RecurrentLayerCheck.AssertParameterGradients(seed, p, theta, run.Grads, th => LossAt(th, x));
        if (!tokens)
            RecurrentLayerCheck.AssertGradient("dx", seed, x, 0, x.Length, run.Dx!, 0, xs => LossAt(theta, xs));
    }
}
