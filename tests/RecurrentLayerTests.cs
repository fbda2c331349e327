using GpuLstm.Runtime.Models;
using GpuLstm.Runtime.Models.Cells;
using Xunit;

namespace GpuLstm.Tests;

/// <summary>
/// <see cref="RecurrentLayer"/> for every cell on every kernel set: its forward against the float64 reference
/// layer, its analytic gradients (every parameter tensor, and dx for dense inputs) against central differences
/// of L = Σ w ⊙ outputs or L = Σ w ⊙ final state, in both directions and with token or dense inputs; truncated
/// BPTT through a carried state; the reverse direction as the forward one over reversed time; Keras's initial
/// values. Buffers are sized larger than the sequence, so the layer's strides must follow the call's (T, B).
/// </summary>
[Collection(DeviceCollection.Name)]
public sealed class RecurrentLayerTests(TestDevices devices)
{
    private const int Steps = 5, Batch = 3, Hidden = 4, Input = 4;

    /// <summary>Both directions, both input kinds, both losses on the ILGPU CPU and host sets; one case on the tiled GEMM a GPU runs.</summary>
    public static IEnumerable<object[]> Cases() =>
        (from cell in CellReference.CellNames
         from set in new[] { TestDevices.IlgpuName, TestDevices.HostName }
         from reverse in new[] { false, true }
         from tokens in new[] { false, true }
         from allOutputs in new[] { true, false }
         select new object[] { cell, set, reverse, tokens, allOutputs })
        .Concat(CellReference.CellNames.Select(cell => new object[] { cell, TestDevices.TiledName, true, false, true }));

    [Theory]
    [MemberData(nameof(Cases))]
    public void AnalyticGradientsMatchFiniteDifferences(string cellName, string set, bool reverse, bool tokens, bool allOutputs)
    {
        var cell = RecurrentCell.Parse(cellName);
        var reference = CellReference.For(cell);
        var device = devices[set];
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        using var p = new ParameterSet();
        using var layer = new RecurrentLayer(cell, device.Kernels, device.Accelerator, p, cellName, Input, Hidden, Steps + 2, Batch + 1, reverse);
        p.Allocate(device.Accelerator);
        var values = TestData.Uniform(rng, p.Count, 0.6);
        p.SetValues(values);
        int[]? ids = tokens ? Enumerable.Range(0, Steps * Batch).Select(_ => rng.Next(Input)).ToArray() : null;
        float[]? dense = tokens ? null : TestData.Uniform(rng, Steps * Batch * Input);
        var w = TestData.Uniform(rng, (allOutputs ? Steps : 1) * Batch * Hidden);

        var run = RecurrentLayerCheck.ForwardBackward(device, layer, p, dense, ids, Steps, Batch, w, allOutputs);

        var x = tokens ? RecurrentLayerCheck.OneHot(ids!, Input) : RecurrentLayerCheck.ToDouble(dense!);
        var theta = RecurrentLayerCheck.ToDouble(values);
        var (refOutputs, refLast) = StackReference.Layer(reference, LayerWeights.Of(layer, theta), x, Steps, Batch, Hidden, reverse);
        TestData.AssertClose(refOutputs, run.Outputs, 1e-5, 1e-6, $"outputs seed {seed}");
        TestData.AssertClose(refLast, run.Last, 1e-5, 1e-6, $"last output seed {seed}");

        double LossAt(double[] th, double[] xs)
        {
            var (o, l) = StackReference.Layer(reference, LayerWeights.Of(layer, th), xs, Steps, Batch, Hidden, reverse);
            return RecurrentLayerCheck.Loss(o, l, w, allOutputs);
        }
        RecurrentLayerCheck.AssertParameterGradients(seed, p, theta, run.Grads, th => LossAt(th, x));
        if (!tokens)
            RecurrentLayerCheck.AssertGradient("dx", seed, x, 0, x.Length, run.Dx!, 0, xs => LossAt(theta, xs));
    }

    public static IEnumerable<object[]> CarryCases() =>
        from cell in CellReference.CellNames
        from set in new[] { TestDevices.IlgpuName, TestDevices.HostName }
        from allOutputs in new[] { true, false }
        select new object[] { cell, set, allOutputs };

    /// <summary>
    /// Forward a sequence, carry its final state, forward a second one from it: the second outputs are the
    /// reference's over the concatenated sequence, and its gradients are those of the second sequence's loss
    /// with the carried state held constant (truncated backpropagation through time).
    /// </summary>
    [Theory]
    [MemberData(nameof(CarryCases))]
    public void CarriedStateContinuesTheSequence(string cellName, string set, bool allOutputs)
    {
        const int first = 3, second = 4;
        var cell = RecurrentCell.Parse(cellName);
        var reference = CellReference.For(cell);
        var device = devices[set];
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        using var p = new ParameterSet();
        using var layer = new RecurrentLayer(cell, device.Kernels, device.Accelerator, p, cellName, Input, Hidden, second, Batch);
        p.Allocate(device.Accelerator);
        var values = TestData.Uniform(rng, p.Count, 0.6);
        p.SetValues(values);
        var x1 = TestData.Uniform(rng, first * Batch * Input);
        var x2 = TestData.Uniform(rng, second * Batch * Input);
        var w = TestData.Uniform(rng, (allOutputs ? second : 1) * Batch * Hidden);

        using var x1Buf = TestData.Upload(device.Accelerator, x1);
        layer.Forward(LayerInput.FromDense(x1Buf.View), first, Batch);
        layer.CarryState(first, Batch);
        var carried = new float[layer.StateLength(Batch)];
        layer.ReadState(Batch, carried);
        var run = RecurrentLayerCheck.ForwardBackward(device, layer, p, x2, null, second, Batch, w, allOutputs, fromCarriedState: true);

        var theta = RecurrentLayerCheck.ToDouble(values);
        var weights = LayerWeights.Of(layer, theta);
        var (whole, _) = StackReference.Layer(reference, weights, RecurrentLayerCheck.ToDouble(x1.Concat(x2).ToArray()), first + second, Batch, Hidden, false);
        TestData.AssertClose(whole.Skip(first * Batch * Hidden).ToArray(), run.Outputs, 1e-5, 1e-6, $"outputs after the carried state, seed {seed}");

        // The carried state holds h (and c), B·H each, as ReadState lays them out.
        int bh = Batch * Hidden;
        var h0 = RecurrentLayerCheck.ToDouble(carried[..bh]);
        var c0 = cell.HasCellState ? RecurrentLayerCheck.ToDouble(carried[bh..]) : null;
        Assert.Equal(cell.StateWidth(Hidden) * Batch, carried.Length);
        var xd = RecurrentLayerCheck.ToDouble(x2);
        double LossAt(double[] th, double[] xs)
        {
            var (o, l) = StackReference.Layer(reference, LayerWeights.Of(layer, th), xs, second, Batch, Hidden, false, h0, c0);
            return RecurrentLayerCheck.Loss(o, l, w, allOutputs);
        }
        RecurrentLayerCheck.AssertParameterGradients(seed, p, theta, run.Grads, th => LossAt(th, xd));
        RecurrentLayerCheck.AssertGradient("dx", seed, xd, 0, xd.Length, run.Dx!, 0, xs => LossAt(theta, xs));

        // ResetState zeroes the state: forward from the "carried" state is then forward from zero.
        layer.ResetState(Batch);
        using var x2Buf = TestData.Upload(device.Accelerator, x2);
        layer.Forward(LayerInput.FromDense(x2Buf.View), second, Batch, fromCarriedState: true);
        var (fresh, _) = StackReference.Layer(reference, weights, xd, second, Batch, Hidden, false);
        TestData.AssertClose(fresh, layer.Outputs(second, Batch).GetAsArray(), 1e-5, 1e-6, $"outputs after ResetState, seed {seed}");
    }

    public static IEnumerable<object[]> ReverseCases() =>
        (from cell in CellReference.CellNames
         from set in new[] { TestDevices.IlgpuName, TestDevices.HostName }
         from shape in new (int Steps, int Batch, int MaxBatch)[] { (1, 2, 2), (5, 3, 3), (7, 2, 4) }
         from lastOnly in new[] { false, true }
         select new object[] { cell, set, shape.Steps, shape.Batch, shape.MaxBatch, lastOnly })
        // The GPU's path: a tiled GEMM and a separate cell kernel per step instead of a fused step kernel.
        .Concat(CellReference.CellNames.Select(cell => new object[] { cell, TestDevices.TiledName, 5, 3, 4, false }));

    private static float[] ReverseTime(float[] a, int steps, int rowLength)
    {
        var r = new float[a.Length];
        for (int t = 0; t < steps; t++) Array.Copy(a, t * rowLength, r, (steps - 1 - t) * rowLength, rowLength);
        return r;
    }

    /// <summary>A reverse layer over x is the forward layer over x reversed in time, outputs reversed back, in forward and in backward (weight gradients equal, dx reversed).</summary>
    [Theory]
    [MemberData(nameof(ReverseCases))]
    public void ReverseLayerIsTheForwardLayerOverReversedTime(string cellName, string set, int steps, int batch, int maxBatch, bool lastOnly)
    {
        const int input = 3, hidden = 4;
        var cell = RecurrentCell.Parse(cellName);
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        var device = devices[set];
        var acc = device.Accelerator;
        using var forwardParams = new ParameterSet();
        using var reverseParams = new ParameterSet();
        using var forward = new RecurrentLayer(cell, device.Kernels, acc, forwardParams, "f", input, hidden, steps + 1, maxBatch);
        using var reverse = new RecurrentLayer(cell, device.Kernels, acc, reverseParams, "r", input, hidden, steps + 1, maxBatch, reverse: true);
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

        var g = TestData.Uniform(rng, steps * bh);
        using var gBuf = TestData.Upload(acc, g);
        using var gReversedBuf = TestData.Upload(acc, ReverseTime(g, steps, bh));
        using var dxReverse = TestData.Poisoned(acc, steps * batch * input);
        using var dxForward = TestData.Poisoned(acc, steps * batch * input);
        if (lastOnly)
        {
            reverse.LastOutputGradient(batch).CopyFromCPU(g.AsSpan(0, bh));
            forward.LastOutputGradient(batch).CopyFromCPU(g.AsSpan(0, bh));
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

    public static TheoryData<string> Cells() => new(CellReference.CellNames);

    /// <summary>Keras's defaults: glorot_uniform input kernel, orthogonal recurrent kernel (orthonormal rows), the cell's initial bias.</summary>
    [Theory]
    [MemberData(nameof(Cells))]
    public void KerasDefaultsAreGlorotOrthogonalAndTheCellsBias(string cellName)
    {
        var cell = RecurrentCell.Parse(cellName);
        var device = devices.Host;
        using var p = new ParameterSet();
        using var layer = new RecurrentLayer(cell, device.Kernels, device.Accelerator, p, cellName, 6, 5, 2, 1);
        p.Allocate(device.Accelerator);
        layer.InitializeKerasDefaults(new GpuLstm.Runtime.Rng(7));
        int gh = cell.Gates * 5;
        Assert.Same(cell, layer.Cell);
        Assert.Equal([6, gh], layer.InputWeights.Shape);
        Assert.Equal([5, gh], layer.RecurrentWeights.Shape);
        Assert.Equal(cell.ParameterCount(6, 5), p.Count);
        double limit = Math.Sqrt(6.0 / (6 + gh));
        var wx = p.GetValue(layer.InputWeights);
        Assert.All(wx, v => Assert.InRange(Math.Abs(v), 0, limit));
        Assert.Contains(wx, v => v != 0);
        var wh = p.GetValue(layer.RecurrentWeights);
        for (int a = 0; a < 5; a++)
            for (int b = 0; b < 5; b++)
            {
                double dot = 0;
                for (int c = 0; c < gh; c++) dot += (double)wh[a * gh + c] * wh[b * gh + c];
                Assert.True(Math.Abs(dot - (a == b ? 1 : 0)) < 1e-5, $"rows {a}, {b} of the recurrent kernel: dot {dot}");
            }
        Assert.Equal(cell.InitialBias(5), p.GetValue(layer.InputBias));
        if (layer.RecurrentBias is not null) Assert.All(p.GetValue(layer.RecurrentBias), v => Assert.Equal(0f, v));
        Assert.Equal(cell.Biases == BiasLayout.Separate, layer.RecurrentBias is not null);
    }

    [Theory]
    [MemberData(nameof(Cells))]
    public void AReverseLayerCarriesNoStateAndShapesAreChecked(string cellName)
    {
        var device = devices.Host;
        using var p = new ParameterSet();
        using var layer = new RecurrentLayer(RecurrentCell.Parse(cellName), device.Kernels, device.Accelerator, p, cellName, Input, Hidden, Steps, Batch, reverse: true);
        p.Allocate(device.Accelerator);
        Assert.Throws<InvalidOperationException>(() => layer.CarryState(Steps, Batch));
        Assert.Throws<ArgumentOutOfRangeException>(() => layer.Forward(default, Steps + 1, Batch));
    }
}
