using GpuLstm.Runtime;
using Xunit;

namespace GpuLstm.Tests;

public sealed class RngTests
{
    [Fact]
    public void PurposesGiveIndependentReproducibleStreams()
    {
        var a = Rng.ForPurpose(42, "init");
        var b = Rng.ForPurpose(42, "init");
        var c = Rng.ForPurpose(42, "shuffle");
        var xs = Enumerable.Range(0, 8).Select(_ => a.NextUInt64()).ToArray();
        Assert.Equal(xs, Enumerable.Range(0, 8).Select(_ => b.NextUInt64()));
        Assert.NotEqual(xs, Enumerable.Range(0, 8).Select(_ => c.NextUInt64()));
    }

    [Fact]
    public void NextIntIsUniformAndStateRoundTrips()
    {
        var rng = new Rng(1);
        var counts = new int[7];
        for (int i = 0; i < 70000; i++) counts[rng.NextInt(7)]++;
        Assert.All(counts, n => Assert.InRange(n, 9500, 10500));
        var state = rng.GetState();
        ulong next = rng.NextUInt64();
        rng.SetState(state);
        Assert.Equal(next, rng.NextUInt64());
    }
}
