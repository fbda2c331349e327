using GpuLstm.Runtime.Models.Cells;
using Xunit;

namespace GpuLstm.Tests;

/// <summary>
/// Every cell's pointwise kernels on every kernel set, against its float64 <see cref="CellReference"/> step at
/// odd shapes: the forward (h, and c), the step with its recurrent GEMM, and the backward, whose reference is
/// the step differentiated numerically in float64 (so no hand-derived gradient is trusted).
/// </summary>
[Collection(DeviceCollection.Name)]
public sealed class CellKernelTests(TestDevices devices)
{
    public static IEnumerable<object[]> Cases() =>
        from cell in CellReference.CellNames
        from set in new[] { TestDevices.IlgpuName, TestDevices.HostName }
        from shape in new (int Batch, int Hidden)[] { (3, 7), (1, 13), (5, 1), (2, 19) }
        select new object[] { cell, set, shape.Batch, shape.Hidden };

    /// <summary>
    /// The whole recurrent step on every set, the GPU path's fused kernels included (on the CPU accelerator with
    /// 256-thread groups), at shapes that cross its 16×16 tiles and leave them ragged.
    /// </summary>
    public static IEnumerable<object[]> StepCases() =>
        from cell in CellReference.CellNames
        from set in new[] { TestDevices.IlgpuName, TestDevices.HostName, TestDevices.TiledName }
        from shape in new (int Batch, int Hidden)[] { (3, 7), (19, 18), (1, 33) }
        select new object[] { cell, set, shape.Batch, shape.Hidden };

    public static IEnumerable<object[]> BackwardCases() =>
        from c in Cases() from hasDhOut in new[] { true, false } where hasDhOut || (int)c[2] == 3 select c.Append(hasDhOut).ToArray();

    private static double[] D(float[] a) => a.Select(x => (double)x).ToArray();
    private static double[] Row(float[] a, int b, int width) => D(a.AsSpan(b * width, width).ToArray());

    /// <summary>Pre-activations as the layer leaves them before the cell: the input part, and for a cell that keeps it, the recurrent projection apart.</summary>
    private static (float[] Gates, float[] Recurrent) Inputs(RecurrentCell cell, Random rng, int batch, int hidden)
    {
        int gh = cell.Gates * hidden;
        return (TestData.Uniform(rng, batch * gh, 3), cell.KeepsRecurrentProjection ? TestData.Uniform(rng, batch * gh, 2) : []);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void ForwardMatchesTheReferenceStep(string cellName, string set, int batch, int hidden)
    {
        var cell = RecurrentCell.Parse(cellName);
        var reference = CellReference.For(cell);
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        var device = devices[set];
        var acc = device.Accelerator;
        int n = batch * hidden, gh = cell.Gates * hidden;
        var (pre, recurrent) = Inputs(cell, rng, batch, hidden);
        var hPrev = TestData.Uniform(rng, n);
        var cPrev = TestData.Uniform(rng, n, 2);
        using var gates = TestData.Upload(acc, pre);
        using var recurrentBuf = TestData.Upload(acc, recurrent);
        using var hPrevBuf = TestData.Upload(acc, hPrev);
        using var cPrevBuf = TestData.Upload(acc, cPrev);
        using var h = TestData.Poisoned(acc, n);
        using var c = TestData.Poisoned(acc, n);
        device.Kernels.CellForward(cell, new CellStep
        {
            Batch = batch, Hidden = hidden, Gates = gates.View, Recurrent = cell.KeepsRecurrentProjection ? recurrentBuf.View : default,
            PrevH = hPrevBuf.View, PrevC = cell.HasCellState ? cPrevBuf.View : default, H = h.View, C = cell.HasCellState ? c.View : default,
        });
        device.Kernels.Synchronize();
        var hDevice = h.GetAsArray1D();
        var cDevice = c.GetAsArray1D();
        for (int b = 0; b < batch; b++)
        {
            var (hRef, cRef) = reference.Step(Row(pre, b, gh), cell.KeepsRecurrentProjection ? Row(recurrent, b, gh) : new double[gh],
                Row(hPrev, b, hidden), Row(cPrev, b, hidden), hidden);
            TestData.AssertClose(hRef, hDevice.AsSpan(b * hidden, hidden).ToArray(), 1e-5, 1e-6, $"{cellName} h row {b} seed {seed}");
            if (cRef is not null) TestData.AssertClose(cRef, cDevice.AsSpan(b * hidden, hidden).ToArray(), 1e-5, 1e-6, $"{cellName} c row {b} seed {seed}");
        }
    }

    /// <summary>The whole step (recurrent GEMM, then the cell; fused where the set fuses them) against the reference GEMM and step.</summary>
    [Theory]
    [MemberData(nameof(StepCases))]
    public void StepForwardMatchesTheReferenceGemmAndStep(string cellName, string set, int batch, int hidden)
    {
        var cell = RecurrentCell.Parse(cellName);
        var reference = CellReference.For(cell);
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        var device = devices[set];
        var acc = device.Accelerator;
        int n = batch * hidden, gh = cell.Gates * hidden;
        var hPrev = TestData.Uniform(rng, n);
        var weights = TestData.Uniform(rng, hidden * gh, 0.5);
        var recurrentBias = TestData.Uniform(rng, gh, 0.5);
        var xPart = TestData.Uniform(rng, batch * gh, 2);
        var cPrev = TestData.Uniform(rng, n, 2);
        using var hPrevBuf = TestData.Upload(acc, hPrev);
        using var wBuf = TestData.Upload(acc, weights);
        using var biasBuf = TestData.Upload(acc, recurrentBias);
        using var gates = TestData.Upload(acc, xPart);
        using var recurrent = TestData.Poisoned(acc, batch * gh);
        using var cPrevBuf = TestData.Upload(acc, cPrev);
        using var h = TestData.Poisoned(acc, n);
        using var c = TestData.Poisoned(acc, n);
        bool kept = cell.KeepsRecurrentProjection;
        device.Kernels.CellStepForward(cell, new CellStep
        {
            Batch = batch, Hidden = hidden, Gates = gates.View, Recurrent = kept ? recurrent.View : default,
            PrevH = hPrevBuf.View, PrevC = cell.HasCellState ? cPrevBuf.View : default, H = h.View, C = cell.HasCellState ? c.View : default,
        }, wBuf.View, kept ? biasBuf.View : default);
        device.Kernels.Synchronize();
        var hPre = Reference.Gemm(hPrev, weights, kept ? recurrentBias : null, null, batch, gh, hidden, transA: false, transB: false);
        var hDevice = h.GetAsArray1D();
        var cDevice = c.GetAsArray1D();
        for (int b = 0; b < batch; b++)
        {
            var (hRef, cRef) = reference.Step(Row(xPart, b, gh), hPre.AsSpan(b * gh, gh).ToArray(), Row(hPrev, b, hidden), Row(cPrev, b, hidden), hidden);
            TestData.AssertClose(hRef, hDevice.AsSpan(b * hidden, hidden).ToArray(), 1e-5, 1e-5, $"{cellName} h row {b} seed {seed}");
            if (cRef is not null) TestData.AssertClose(cRef, cDevice.AsSpan(b * hidden, hidden).ToArray(), 1e-5, 1e-5, $"{cellName} c row {b} seed {seed}");
        }
    }

    /// <summary>
    /// The backward after the device's own forward (whose saved activations it reads), against the numeric
    /// derivative of L = Σ dh·h' + Σ dc·c' of the reference step: dL/d(input pre-activations), dL/d(recurrent
    /// projection) for a cell that keeps it, dL/dc_prev, and for such a cell the direct part of dL/dh_prev in
    /// place of dhRec (any other cell leaves dhRec to the layer's recurrent GEMM, unchanged).
    /// </summary>
    [Theory]
    [MemberData(nameof(BackwardCases))]
    public void BackwardIsTheDerivativeOfTheReferenceStep(string cellName, string set, int batch, int hidden, bool hasDhOut) =>
        CheckBackward(cellName, set, batch, hidden, hasDhOut, wholeStep: false, first: false, dhRecIsZero: false);

    /// <summary>A sequence's first step: the previous state is zero (and becomes zeros in its slot), whatever the slot held.</summary>
    [Theory]
    [MemberData(nameof(StepCases))]
    public void StepForwardFromZeroIgnoresAndClearsThePreviousSlot(string cellName, string set, int batch, int hidden)
    {
        var cell = RecurrentCell.Parse(cellName);
        var reference = CellReference.For(cell);
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        var device = devices[set];
        var acc = device.Accelerator;
        int n = batch * hidden, gh = cell.Gates * hidden;
        bool kept = cell.KeepsRecurrentProjection, hasC = cell.HasCellState;
        var weights = TestData.Uniform(rng, hidden * gh, 0.5);
        var recurrentBias = TestData.Uniform(rng, gh, 0.5);
        var xPart = TestData.Uniform(rng, batch * gh, 2);
        using var hPrevBuf = TestData.Poisoned(acc, n); // whatever the slot held is never read
        using var cPrevBuf = TestData.Poisoned(acc, n);
        using var wBuf = TestData.Upload(acc, weights);
        using var biasBuf = TestData.Upload(acc, recurrentBias);
        using var gates = TestData.Upload(acc, xPart);
        using var recurrent = TestData.Poisoned(acc, batch * gh);
        using var h = TestData.Poisoned(acc, n);
        using var c = TestData.Poisoned(acc, n);
        device.Kernels.CellStepForward(cell, new CellStep
        {
            Batch = batch, Hidden = hidden, Gates = gates.View, Recurrent = kept ? recurrent.View : default,
            PrevH = hPrevBuf.View, PrevC = hasC ? cPrevBuf.View : default, H = h.View, C = hasC ? c.View : default, StartsFromZero = true,
        }, wBuf.View, kept ? biasBuf.View : default);
        device.Kernels.Synchronize();
        Assert.All(hPrevBuf.GetAsArray1D(), v => Assert.Equal(0f, v));
        if (hasC) Assert.All(cPrevBuf.GetAsArray1D(), v => Assert.Equal(0f, v));
        var hDevice = h.GetAsArray1D();
        for (int b = 0; b < batch; b++)
        {
            var (hRef, _) = reference.Step(Row(xPart, b, gh), kept ? D(recurrentBias) : new double[gh], new double[hidden], hasC ? new double[hidden] : null, hidden);
            TestData.AssertClose(hRef, hDevice.AsSpan(b * hidden, hidden).ToArray(), 1e-5, 1e-5, $"{cellName} h row {b} seed {seed}");
        }
    }

    /// <summary>
    /// A whole step backward (the recurrent product of the step after it, fused with the cell where the set fuses
    /// them) against the reference: dL/dh_t = nextGrads·Whᵀ (+ the direct part a kept-projection cell left in
    /// dhRec) + dhOut, then the derivative of the reference step as in <see cref="BackwardIsTheDerivativeOfTheReferenceStep"/>.
    /// On the first step processed nothing flows in: dhRec is the caller's gradient, or zero, and dc starts at zero.
    /// </summary>
    [Theory]
    [MemberData(nameof(StepBackwardCases))]
    public void StepBackwardIsTheDerivativeOfTheReferenceStep(string cellName, string set, int batch, int hidden, bool first, bool dhRecIsZero) =>
        CheckBackward(cellName, set, batch, hidden, hasDhOut: true, wholeStep: true, first, dhRecIsZero);

    public static IEnumerable<object[]> StepBackwardCases() =>
        from c in StepCases()
        from flags in new[] { (First: false, Zero: false), (First: true, Zero: true), (First: true, Zero: false) }
        where !flags.First || (int)c[2] == 3
        select c.Append(flags.First).Append(flags.Zero).ToArray();

    /// <summary>
    /// Runs the cell's backward (or, with <paramref name="wholeStep"/>, the whole step backward with its recurrent
    /// product) after the device's forward and checks it against the numeric derivative of the reference step.
    /// </summary>
    private void CheckBackward(string cellName, string set, int batch, int hidden, bool hasDhOut, bool wholeStep, bool first, bool dhRecIsZero)
    {
        var cell = RecurrentCell.Parse(cellName);
        var reference = CellReference.For(cell);
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        var device = devices[set];
        var acc = device.Accelerator;
        int n = batch * hidden, gh = cell.Gates * hidden;
        bool kept = cell.KeepsRecurrentProjection, hasC = cell.HasCellState;
        var (pre, recurrent) = Inputs(cell, rng, batch, hidden);
        var hPrev = TestData.Uniform(rng, n);
        var cPrev = TestData.Uniform(rng, n, 2);
        var dhOut = TestData.Uniform(rng, n);
        var dhRec = TestData.Uniform(rng, n);
        var dcIn = TestData.Uniform(rng, n);
        var nextGrads = TestData.Uniform(rng, batch * gh);
        var weights = TestData.Uniform(rng, hidden * gh, 0.5);
        var weightsT = new float[gh * hidden];
        for (int k = 0; k < hidden; k++) for (int g = 0; g < gh; g++) weightsT[g * hidden + k] = weights[k * gh + g];
        using var gates = TestData.Upload(acc, pre);
        using var recurrentBuf = TestData.Upload(acc, recurrent);
        using var hPrevBuf = TestData.Upload(acc, hPrev);
        using var cPrevBuf = TestData.Upload(acc, cPrev);
        using var h = TestData.Poisoned(acc, n);
        using var c = TestData.Poisoned(acc, n);
        using var dhOutBuf = TestData.Upload(acc, dhOut);
        using var dhRecBuf = TestData.Upload(acc, dhRec);
        using var dcBuf = TestData.Upload(acc, dcIn);
        using var next = TestData.Upload(acc, nextGrads);
        using var wBuf = TestData.Upload(acc, weights);
        using var wtBuf = TestData.Upload(acc, weightsT);
        using var dGates = TestData.Poisoned(acc, batch * gh);
        using var dRecurrent = TestData.Poisoned(acc, batch * gh);
        var step = new CellStep
        {
            Batch = batch, Hidden = hidden, Gates = gates.View, Recurrent = kept ? recurrentBuf.View : default,
            PrevH = hPrevBuf.View, PrevC = hasC ? cPrevBuf.View : default, H = h.View, C = hasC ? c.View : default,
            DhOut = hasDhOut ? dhOutBuf.View : default, HasDhOut = hasDhOut, DhRec = dhRecBuf.View, Dc = hasC ? dcBuf.View : default,
            DGates = dGates.View, DRecurrent = kept ? dRecurrent.View : default, FirstBackward = wholeStep && first, DhRecIsZero = dhRecIsZero,
        };
        device.Kernels.CellForward(cell, step);
        if (wholeStep) device.Kernels.CellStepBackward(cell, step, wBuf.View, wtBuf.View, first ? default : next.View);
        else device.Kernels.CellBackward(cell, step);
        device.Kernels.Synchronize();
        var product = Reference.Gemm(nextGrads, weightsT, null, null, batch, hidden, gh, transA: false, transB: false);
        var dGatesDevice = dGates.GetAsArray1D();
        var dRecurrentDevice = dRecurrent.GetAsArray1D();
        var dcDevice = dcBuf.GetAsArray1D();
        var dhRecDevice = dhRecBuf.GetAsArray1D();
        for (int b = 0; b < batch; b++)
        {
            var dh = new double[hidden];
            for (int j = 0; j < hidden; j++)
            {
                int e = b * hidden + j;
                // What reaches the cell as dL/dh_t: the cell alone reads dhRec as it is; a whole step adds the
                // recurrent product to a kept-projection cell's direct part, or starts from the caller's (or no) gradient.
                double incoming = !wholeStep ? dhRec[e] : first ? (dhRecIsZero ? 0 : dhRec[e]) : product[e] + (kept ? dhRec[e] : 0);
                dh[j] = incoming + (hasDhOut ? dhOut[e] : 0);
            }
            var dc = wholeStep && first ? new double[hidden] : Row(dcIn, b, hidden);
            double[] x = Row(pre, b, gh), r = kept ? Row(recurrent, b, gh) : new double[gh], hp = Row(hPrev, b, hidden), cp = Row(cPrev, b, hidden);
            double L()
            {
                var (hn, cn) = reference.Step(x, r, hp, hasC ? cp : null, hidden);
                double sum = 0;
                for (int j = 0; j < hidden; j++) sum += dh[j] * hn[j] + (cn is null ? 0 : dc[j] * cn[j]);
                return sum;
            }
            string what = $"{cellName} {set} row {b} seed {seed}";
            TestData.AssertClose(Numeric(x, L), dGatesDevice.AsSpan(b * gh, gh).ToArray(), 1e-4, 1e-4, "dGates " + what);
            if (kept) TestData.AssertClose(Numeric(r, L), dRecurrentDevice.AsSpan(b * gh, gh).ToArray(), 1e-4, 1e-4, "dRecurrent " + what);
            if (hasC) TestData.AssertClose(Numeric(cp, L), dcDevice.AsSpan(b * hidden, hidden).ToArray(), 1e-4, 1e-4, "dc_prev " + what);
            // A kept-projection cell leaves the direct part of dL/dh_prev in dhRec; the cell alone leaves any other's as it was.
            if (kept) TestData.AssertClose(Numeric(hp, L), dhRecDevice.AsSpan(b * hidden, hidden).ToArray(), 1e-4, 1e-4, "dhRec " + what);
            else if (!wholeStep) TestData.AssertClose(Row(dhRec, b, hidden), dhRecDevice.AsSpan(b * hidden, hidden).ToArray(), 0, 0, "dhRec " + what);
        }
    }

    /// <summary>Central differences of f at every element of point (restored after each).</summary>
    private static double[] Numeric(double[] point, Func<double> f)
    {
        const double eps = 1e-6;
        var g = new double[point.Length];
        for (int i = 0; i < point.Length; i++)
        {
            double saved = point[i];
            point[i] = saved + eps; double up = f();
            point[i] = saved - eps; double down = f();
            point[i] = saved;
            g[i] = (up - down) / (2 * eps);
        }
        return g;
    }

    [Fact]
    public void EveryCellHasAReference() =>
        Assert.All(RecurrentCell.All, cell => Assert.Same(cell, CellReference.For(cell).Cell));
}
