using GpuLstm.Runtime.Models;
using ILGPU;
using Xunit;

namespace GpuLstm.Tests;

/// <summary>
/// LstmLayer's reverse direction: over x it is the forward layer over time-reversed x, outputs reversed back,
/// in forward and in backward (weight gradients equal, dx reversed), and it matches the float64 reference.
/// </summary>
[Collection(DeviceCollection.Name)]
public sealed class LstmReverseDirectionTests(TestDevices devices)
{
    public static IEnumerable<object[]> Cases() =>
        (from set in new[] { TestDevices.IlgpuName, TestDevices.HostName }
         from shape in new (int Steps, int Batch, int MaxBatch)[] { (1, 2, 2), (5, 3, 3), (7, 2, 4) }
         from lastOnly in new[] { false, true }
         select new object[] { set, shape.Steps, shape.Batch, shape.MaxBatch, lastOnly })
        // The GPU's path: a tiled GEMM and a separate cell kernel per step instead of the fused step kernel.
        .Append([TestDevices.TiledName, 5, 3, 4, false]);

    private static float[] ReverseTime(float[] a, int steps, int rowLength)
    {
        var r = new float[a.Length];
        for (int t = 0; t < steps; t++) Array.Copy(a, t * rowLength, r, (steps - 1 - t) * rowLength, rowLength);
        return r;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void ReverseLayerIsTheForwardLayerOverReversedTime(string set, int steps, int batch, int maxBatch, bool lastOnly)
    {
        const int input = 3, hidden = 4;
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        var device = devices[set];
        var acc = device.Accelerator;
        using var forwardParams = new ParameterSet();
        using var reverseParams = new ParameterSet();
        using var forward = new LstmLayer(device.Kernels, acc, forwardParams, "f", input, hidden, steps + 1, maxBatch);
        using var reverse = new LstmLayer(device.Kernels, acc, reverseParams, "r", input, hidden, steps + 1, maxBatch, reverse: true);
        forwardParams.Allocate(acc);
        reverseParams.Allocate(acc);
        var values = TestData.Uniform(rng, forwardParams.Count, 0.7);
        forwardParams.SetValues(values);
        reverseParams.SetValues(values);

        int bh = batch * hidden;
        var x = TestData.Uniform(rng, steps * batch * input);
        var xReversed = ReverseTime(x, steps, batch * input);
        using var xBuf = TestData.Upload(acc, x);
        using var xReversedBuf = TestData.Upload(acc, xReversed);
        reverse.Forward(LayerInput.FromDense(xBuf.View), steps, batch);
        forward.Forward(LayerInput.FromDense(xReversedBuf.View), steps, batch);
        device.Kernels.Synchronize();

        var reverseOut = reverse.Outputs(steps, batch).GetAsArray();
        var forwardOut = forward.Outputs(steps, batch).GetAsArray();
        Close(ReverseTime(forwardOut, steps, bh), reverseOut, 1e-6, $"outputs seed {seed}");
        Close(forwardOut.AsSpan((steps - 1) * bh, bh).ToArray(), reverse.LastOutput(steps, batch).GetAsArray(), 1e-6, $"final state seed {seed}");
        Close(reverseOut.AsSpan(0, bh).ToArray(), reverse.LastOutput(steps, batch).GetAsArray(), 0, $"final state is the output at t = 0, seed {seed}");

        // Against float64: the reference runs t = T−1 … 0 itself.
        var w = new Reference.LstmWeights(values.AsSpan(0, input * 4 * hidden).ToArray().Select(v => (double)v).ToArray(),
            values.AsSpan(input * 4 * hidden, hidden * 4 * hidden).ToArray().Select(v => (double)v).ToArray(),
            values.AsSpan((input + hidden) * 4 * hidden, 4 * hidden).ToArray().Select(v => (double)v).ToArray(), input);
        var expected = SeriesReference.Lstm(w, SeriesReference.Sequence(x, steps, batch, input), hidden, reverse: true);
        var flat = expected.SelectMany(t => t.SelectMany(b => b)).ToArray();
        TestData.AssertClose(flat, reverseOut, 1e-5, 1e-6, $"reference seed {seed}");

        // Backward: output gradients at every step, or only at the final state.
        var g = TestData.Uniform(rng, steps * bh);
        var gReversed = ReverseTime(g, steps, bh);
        using var gBuf = TestData.Upload(acc, g);
        using var gReversedBuf = TestData.Upload(acc, gReversed);
        using var dxReverse = TestData.Poisoned(acc, steps * batch * input);
        using var dxForward = TestData.Poisoned(acc, steps * batch * input);
        var last = g.AsSpan(0, bh).ToArray();
        if (lastOnly)
        {
            reverse.LastOutputGradient(batch).CopyFromCPU(last);
            forward.LastOutputGradient(batch).CopyFromCPU(last);
        }
        reverse.Backward(LayerInput.FromDense(xBuf.View), steps, batch, gBuf.View, !lastOnly, dxReverse.View, computeInputGradient: true);
        forward.Backward(LayerInput.FromDense(xReversedBuf.View), steps, batch, gReversedBuf.View, !lastOnly, dxForward.View, computeInputGradient: true);
        device.Kernels.Synchronize();
        // Sums over rows run in a different order in the two, so allow float rounding.
        Close(forwardParams.GetGrads(), reverseParams.GetGrads(), 1e-5, $"weight gradients seed {seed}");
        Close(ReverseTime(dxForward.GetAsArray1D(), steps, batch * input), dxReverse.GetAsArray1D(), 1e-5, $"dx seed {seed}");
        Assert.Contains(reverseParams.GetGrads(), v => v != 0);
    }

    private static void Close(float[] expected, float[] actual, double tolerance, string what) =>
        TestData.AssertClose(expected.Select(v => (double)v).ToArray(), actual, tolerance, tolerance, what);
}
