using Xunit;

namespace GpuLstm.Tests;

[Collection(DeviceCollection.Name)]
public sealed class LstmCellKernelTests(TestDevices devices)
{
    public static IEnumerable<object[]> ForwardCases => TestDevices.WithKernelSets([3, 7], [1, 13], [5, 1], [2, 19]);
    public static IEnumerable<object[]> BackwardCases => TestDevices.WithKernelSets([3, 7, true], [3, 7, false], [1, 13, true], [5, 1, false], [2, 19, true]);

    [Theory]
    [MemberData(nameof(ForwardCases))]
    public void ForwardMatchesReference(string set, int batch, int hidden)
    {
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        var acc = devices[set].Accelerator;
        var pre = TestData.Uniform(rng, batch * 4 * hidden, 3);
        var cPrev = TestData.Uniform(rng, batch * hidden, 2);
        using var gates = TestData.Upload(acc, pre);
        using var cPrevBuf = TestData.Upload(acc, cPrev);
        using var c = TestData.Poisoned(acc, batch * hidden);
        using var h = TestData.Poisoned(acc, batch * hidden);
        devices[set].Kernels.LstmCellForward(batch, hidden, gates.View, cPrevBuf.View, c.View, h.View);
        devices[set].Kernels.Synchronize();
        var (act, cRef, hRef) = Reference.CellForward(pre, cPrev, batch, hidden);
        TestData.AssertClose(act, gates.GetAsArray1D(), 1e-5, 1e-6, $"gates seed {seed}");
        TestData.AssertClose(cRef, c.GetAsArray1D(), 1e-5, 1e-6, $"c seed {seed}");
        TestData.AssertClose(hRef, h.GetAsArray1D(), 1e-5, 1e-6, $"h seed {seed}");
    }

    /// <summary>The fused step (recurrent product, then the cell) against the reference GEMM followed by the reference cell.</summary>
    [Theory]
    [MemberData(nameof(ForwardCases))]
    public void StepForwardMatchesReference(string set, int batch, int hidden)
    {
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        var acc = devices[set].Accelerator;
        var hPrev = TestData.Uniform(rng, batch * hidden);
        var weights = TestData.Uniform(rng, hidden * 4 * hidden, 0.5);
        var xPart = TestData.Uniform(rng, batch * 4 * hidden, 2);
        var cPrev = TestData.Uniform(rng, batch * hidden, 2);
        using var hBuf = TestData.Upload(acc, hPrev);
        using var wBuf = TestData.Upload(acc, weights);
        using var gates = TestData.Upload(acc, xPart);
        using var cPrevBuf = TestData.Upload(acc, cPrev);
        using var c = TestData.Poisoned(acc, batch * hidden);
        using var h = TestData.Poisoned(acc, batch * hidden);
        devices[set].Kernels.LstmStepForward(batch, hidden, hBuf.View, wBuf.View, gates.View, cPrevBuf.View, c.View, h.View);
        devices[set].Kernels.Synchronize();
        var pre = Reference.Gemm(hPrev, weights, null, xPart, batch, 4 * hidden, hidden, transA: false, transB: false);
        var (act, cRef, hRef) = Reference.CellForward(pre.Select(x => (float)x).ToArray(), cPrev, batch, hidden);
        TestData.AssertClose(act, gates.GetAsArray1D(), 1e-5, 1e-5, $"gates seed {seed}");
        TestData.AssertClose(cRef, c.GetAsArray1D(), 1e-5, 1e-5, $"c seed {seed}");
        TestData.AssertClose(hRef, h.GetAsArray1D(), 1e-5, 1e-5, $"h seed {seed}");
    }

    [Theory]
    [MemberData(nameof(BackwardCases))]
    public void BackwardMatchesReference(string set, int batch, int hidden, bool hasDhOut)
    {
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        var acc = devices[set].Accelerator;
        int n = batch * hidden;
        var (actD, _, _) = Reference.CellForward(TestData.Uniform(rng, batch * 4 * hidden, 3), new float[n], batch, hidden);
        var act = actD.Select(x => (float)x).ToArray();
        var cPrev = TestData.Uniform(rng, n, 2);
        var c = TestData.Uniform(rng, n, 2);
        var dhOut = TestData.Uniform(rng, n);
        var dhRec = TestData.Uniform(rng, n);
        var dc = TestData.Uniform(rng, n);
        using var actBuf = TestData.Upload(acc, act);
        using var cPrevBuf = TestData.Upload(acc, cPrev);
        using var cBuf = TestData.Upload(acc, c);
        using var dhOutBuf = TestData.Upload(acc, dhOut);
        using var dhRecBuf = TestData.Upload(acc, dhRec);
        using var dcBuf = TestData.Upload(acc, dc);
        using var dGates = TestData.Poisoned(acc, batch * 4 * hidden);
        devices[set].Kernels.LstmCellBackward(batch, hidden, actBuf.View, cPrevBuf.View, cBuf.View, dhOutBuf.View, hasDhOut,
            dhRecBuf.View, dcBuf.View, dGates.View);
        devices[set].Kernels.Synchronize();
        var dh = hasDhOut ? dhOut.Zip(dhRec, (x, y) => x + y).ToArray() : dhRec;
        var (dGatesRef, dcPrevRef) = Reference.CellBackward(act, cPrev, c, dh, dc, batch, hidden);
        TestData.AssertClose(dGatesRef, dGates.GetAsArray1D(), 1e-5, 1e-6, $"dGates seed {seed}");
        TestData.AssertClose(dcPrevRef, dcBuf.GetAsArray1D(), 1e-5, 1e-6, $"dc seed {seed}");
    }
}
