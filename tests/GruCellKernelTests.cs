using Xunit;

namespace GpuLstm.Tests;

/// <summary>The fused GRU cell kernels of every kernel set against the float64 reference, on odd shapes.</summary>
[Collection(DeviceCollection.Name)]
public sealed class GruCellKernelTests(TestDevices devices)
{
    public static IEnumerable<object[]> ForwardCases => TestDevices.WithKernelSets([3, 7], [1, 13], [5, 1], [2, 19]);
    public static IEnumerable<object[]> BackwardCases => TestDevices.WithKernelSets(
        [3, 7, true], [3, 7, false], [1, 13, true], [1, 13, false], [5, 1, true], [5, 1, false], [2, 19, true], [2, 19, false]);

    [Theory]
    [MemberData(nameof(ForwardCases))]
    public void ForwardMatchesReference(string set, int batch, int hidden)
    {
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        var acc = devices[set].Accelerator;
        var xproj = TestData.Uniform(rng, batch * 3 * hidden, 3);
        var hproj = TestData.Uniform(rng, batch * 3 * hidden, 2);
        var hPrev = TestData.Uniform(rng, batch * hidden);
        using var gates = TestData.Upload(acc, xproj);
        using var hprojBuf = TestData.Upload(acc, hproj);
        using var hPrevBuf = TestData.Upload(acc, hPrev);
        using var h = TestData.Poisoned(acc, batch * hidden);
        devices[set].Kernels.GruCellForward(batch, hidden, gates.View, hprojBuf.View, hPrevBuf.View, h.View);
        devices[set].Kernels.Synchronize();
        var (act, hRef) = GruReference.CellForward(xproj, hproj, hPrev, batch, hidden);
        TestData.AssertClose(act, gates.GetAsArray1D(), 1e-5, 1e-6, $"gates seed {seed}");
        TestData.AssertClose(hRef, h.GetAsArray1D(), 1e-5, 1e-6, $"h seed {seed}");
        TestData.AssertClose(hproj.Select(v => (double)v).ToArray(), hprojBuf.GetAsArray1D(), 0, 0, $"hproj is read only, seed {seed}");
    }

    [Theory]
    [MemberData(nameof(BackwardCases))]
    public void BackwardMatchesReference(string set, int batch, int hidden, bool hasDhOut)
    {
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        var acc = devices[set].Accelerator;
        int n = batch * hidden;
        var hproj = TestData.Uniform(rng, batch * 3 * hidden, 2);
        var hPrev = TestData.Uniform(rng, n);
        var (actD, _) = GruReference.CellForward(TestData.Uniform(rng, batch * 3 * hidden, 3), hproj, hPrev, batch, hidden);
        var act = actD.Select(x => (float)x).ToArray();
        var dhOut = TestData.Uniform(rng, n);
        var dhRec = TestData.Uniform(rng, n);
        using var actBuf = TestData.Upload(acc, act);
        using var hprojBuf = TestData.Upload(acc, hproj);
        using var hPrevBuf = TestData.Upload(acc, hPrev);
        // Without dhOut, the kernel gets a NaN buffer it must not read.
        using var dhOutBuf = hasDhOut ? TestData.Upload(acc, dhOut) : TestData.Poisoned(acc, n);
        using var dhRecBuf = TestData.Upload(acc, dhRec);
        using var dIn = TestData.Poisoned(acc, batch * 3 * hidden);
        using var dHid = TestData.Poisoned(acc, batch * 3 * hidden);
        devices[set].Kernels.GruCellBackward(batch, hidden, actBuf.View, hprojBuf.View, hPrevBuf.View, dhOutBuf.View, hasDhOut,
            dhRecBuf.View, dIn.View, dHid.View);
        devices[set].Kernels.Synchronize();
        var dh = hasDhOut ? dhOut.Zip(dhRec, (x, y) => x + y).ToArray() : dhRec;
        var (dInRef, dHidRef, dDirectRef) = GruReference.CellBackward(act, hproj, hPrev, dh, batch, hidden);
        TestData.AssertClose(dInRef, dIn.GetAsArray1D(), 1e-5, 1e-6, $"dGatesInput seed {seed}");
        TestData.AssertClose(dHidRef, dHid.GetAsArray1D(), 1e-5, 1e-6, $"dGatesHidden seed {seed}");
        TestData.AssertClose(dDirectRef, dhRecBuf.GetAsArray1D(), 1e-5, 1e-6, $"dhRec seed {seed}");
    }

    /// <summary>The backward kernel is the derivative of the forward one: the reference backward against central differences of the reference forward.</summary>
    [Fact]
    public void ReferenceBackwardIsTheDerivativeOfReferenceForward()
    {
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        const int batch = 2, hidden = 3;
        var xproj = TestData.Uniform(rng, batch * 3 * hidden, 2);
        var hproj = TestData.Uniform(rng, batch * 3 * hidden, 2);
        var hPrev = TestData.Uniform(rng, batch * hidden);
        var dh = TestData.Uniform(rng, batch * hidden);
        var (act, _) = GruReference.CellForward(xproj, hproj, hPrev, batch, hidden);
        var (dIn, dHid, dDirect) = GruReference.CellBackward(act.Select(v => (float)v).ToArray(), hproj, hPrev, dh, batch, hidden);
        // L = Σ dh ⊙ h(xproj, hproj, hPrev), differentiated numerically in float64 through the float inputs' double images.
        double Loss(double[] xp, double[] hp, double[] prev)
        {
            double sum = 0;
            for (int b = 0; b < batch; b++)
                for (int j = 0; j < hidden; j++)
                {
                    int r = b * 3 * hidden + j, z = r + hidden, n = z + hidden, e = b * hidden + j;
                    double rg = Reference.Sigmoid(xp[r] + hp[r]), zg = Reference.Sigmoid(xp[z] + hp[z]);
                    double ng = Math.Tanh(xp[n] + rg * hp[n]);
                    sum += dh[e] * ((1 - zg) * ng + zg * prev[e]);
                }
            return sum;
        }
        var xd = RecurrentLayerCheck.ToDouble(xproj);
        var hd = RecurrentLayerCheck.ToDouble(hproj);
        var pd = RecurrentLayerCheck.ToDouble(hPrev);
        RecurrentLayerCheck.AssertGradient("dGatesInput", seed, xd, 0, xd.Length, dIn.Select(v => (float)v).ToArray(), 0, x => Loss(x, hd, pd));
        RecurrentLayerCheck.AssertGradient("dGatesHidden", seed, hd, 0, hd.Length, dHid.Select(v => (float)v).ToArray(), 0, h => Loss(xd, h, pd));
        // dDirect is ∂L/∂h_{t-1} with hproj held fixed: exactly the partial derivative in hPrev here.
        RecurrentLayerCheck.AssertGradient("dhDirect", seed, pd, 0, pd.Length, dDirect.Select(v => (float)v).ToArray(), 0, p => Loss(xd, hd, p));
    }
}
