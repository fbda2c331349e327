using GpuLstm.Runtime.Training;
using Xunit;

namespace GpuLstm.Tests;

public sealed class EarlyStoppingTests
{
    private static (StoppingDecision[] StoppingDecisions, EarlyStopping Stopper) Feed(EarlyStoppingOptions options, params double[] losses)
    {
        var stopper = new EarlyStopping(options);
        var decisions = new List<StoppingDecision>();
        for (int epoch = 0; epoch < losses.Length; epoch++)
        {
            var d = stopper.Update(epoch, losses[epoch]);
            decisions.Add(d);
            if (d == StoppingDecision.Stop) break;
        }
        return (decisions.ToArray(), stopper);
    }

    [Fact]
    public void StopsAfterPatienceEpochsWithoutImprovement()
    {
        var (d, s) = Feed(new EarlyStoppingOptions(Patience: 2), 3.0, 2.0, 2.5, 2.1, 1.0);
        Assert.Equal(new[] { StoppingDecision.Improved, StoppingDecision.Improved, StoppingDecision.Continue, StoppingDecision.Stop }, d);
        Assert.Equal(3, s.StoppedEpoch);
        Assert.Equal(1, s.BestEpoch);
        Assert.Equal(2.0, s.Best);
    }

    [Fact]
    public void AnImprovementResetsTheWait()
    {
        var (d, s) = Feed(new EarlyStoppingOptions(Patience: 2), 3.0, 3.1, 2.9, 3.0, 3.0, 1.0);
        Assert.Equal(new[] { StoppingDecision.Improved, StoppingDecision.Continue, StoppingDecision.Improved, StoppingDecision.Continue, StoppingDecision.Stop }, d);
        Assert.Equal(4, s.StoppedEpoch);
    }

    [Fact]
    public void MinDeltaDemandsALargerDecrease()
    {
        // 2.95 and 2.92 improve on 3.0 by less than 0.1: not improvements.
        var (d, s) = Feed(new EarlyStoppingOptions(Patience: 2, MinDelta: 0.1), 3.0, 2.95, 2.92);
        Assert.Equal(new[] { StoppingDecision.Improved, StoppingDecision.Continue, StoppingDecision.Stop }, d);
        Assert.Equal(3.0, s.Best);
        var (d2, _) = Feed(new EarlyStoppingOptions(Patience: 2, MinDelta: 0.1), 3.0, 2.85, 2.7);
        Assert.Equal(new[] { StoppingDecision.Improved, StoppingDecision.Improved, StoppingDecision.Improved }, d2);
    }

    [Fact]
    public void NeverStopsAfterTheFirstEpochEvenWithZeroPatience()
    {
        var (d, _) = Feed(new EarlyStoppingOptions(Patience: 0), double.NaN, 1.0, 1.0);
        Assert.Equal(new[] { StoppingDecision.Continue, StoppingDecision.Improved, StoppingDecision.Stop }, d);
    }

    [Fact]
    public void EqualLossIsNotAnImprovement()
    {
        var (d, _) = Feed(new EarlyStoppingOptions(Patience: 1), 1.0, 1.0);
        Assert.Equal(new[] { StoppingDecision.Improved, StoppingDecision.Stop }, d);
    }
}
