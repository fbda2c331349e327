using GpuLstm.Runtime;
using GpuLstm.Runtime.Series;
using Xunit;

namespace GpuLstm.Tests;

public sealed class SeriesWindowTests
{
    /// <summary>10 values: train [0, 6), validation [6, 8), test [8, 10).</summary>
    private static readonly SeriesSplit Tiny = new(10, 6, 8);

    [Fact]
    public void SamplesOfATinySeriesHaveExactIndices()
    {
        var windows = new SeriesWindows(Tiny, window: 3, horizon: 2);
        // Train: e ≥ 3 (three inputs exist) and e + 1 < 6 → e = 3, 4.
        Assert.Equal(new[] { 3, 4 }, windows.Samples(SeriesPart.Train));
        // Validation: targets 6..7 only → e = 6, with inputs 3..5 from train.
        Assert.Equal(new[] { 6 }, windows.Samples(SeriesPart.Validation));
        Assert.Equal(new[] { 8 }, windows.Samples(SeriesPart.Test));
        Assert.Equal(new SeriesRange(3, 5), windows.SampleEnds(SeriesPart.Train));

        double[] values = Enumerable.Range(0, 10).Select(i => (double)i).ToArray();
        Assert.Equal(new[] { 6.0, 7.0, 8.0, 9.0 }, windows.Targets(values, new[] { 6, 8 }));

        // Horizon 1: the train samples are e = 3, 4, 5; the sample at 5 has targets [5] — never 6.
        var one = new SeriesWindows(Tiny, 3, 1);
        Assert.Equal(new[] { 3, 4, 5 }, one.Samples(SeriesPart.Train));
        Assert.Equal(new[] { 6, 7 }, one.Samples(SeriesPart.Validation));
        Assert.Equal(new[] { 8, 9 }, one.Samples(SeriesPart.Test));
    }

    [Fact]
    public void BatchIsTimeMajor()
    {
        var windows = new SeriesWindows(Tiny, window: 3, horizon: 2);
        double[] scaled = Enumerable.Range(0, 10).Select(i => i / 10.0).ToArray();
        int[] ends = { 4, 8, 3 };
        var inputs = new float[3 * 3 + 5];   // larger than needed: the tail stays untouched
        var targets = new float[3 * 2];
        Array.Fill(inputs, -1f);
        windows.FillBatch(scaled, ends, inputs, targets);
        // row t·B + b holds value e_b − 3 + t
        float[] expectedInputs =
        {
            0.1f, 0.5f, 0.0f,   // t = 0: e − 3
            0.2f, 0.6f, 0.1f,   // t = 1
            0.3f, 0.7f, 0.2f,   // t = 2: e − 1
            -1f, -1f, -1f, -1f, -1f,
        };
        Assert.Equal(expectedInputs, inputs);
        Assert.Equal(new[] { 0.4f, 0.5f, 0.8f, 0.9f, 0.3f, 0.4f }, targets);   // (B, k) row-major

        Assert.Throws<ArgumentException>(() => windows.FillBatch(scaled, ends, new float[8], targets));
        Assert.Throws<ArgumentException>(() => windows.FillBatch(scaled, ends, inputs, new float[5]));
        Assert.Throws<ArgumentOutOfRangeException>(() => windows.FillBatch(scaled, new[] { 2 }, inputs, targets));
        Assert.Throws<ArgumentOutOfRangeException>(() => windows.FillBatch(scaled, new[] { 9 }, inputs, targets));
    }

    /// <summary>On random series and settings, every sample's targets lie in its own part, and no sample that could exist is lost.</summary>
    [Fact]
    public void TargetsNeverCrossAPartAndEveryFittingSampleIsKept()
    {
        var rng = new Random(11);
        for (int trial = 0; trial < 300; trial++)
        {
            int n = rng.Next(20, 120), window = rng.Next(1, 12), horizon = rng.Next(1, 6);
            SeriesSplit split;
            SeriesWindows windows;
            try
            {
                split = SeriesSplit.ByFractions(n, rng.Next(0, 3) * 0.1, rng.Next(1, 3) * 0.1);
                windows = new SeriesWindows(split, window, horizon);
            }
            catch (GpuLstmException) { continue; }
            var seen = new List<int>();
            foreach (var part in Enum.GetValues<SeriesPart>())
            {
                var range = split[part];
                foreach (int e in windows.Samples(part))
                {
                    Assert.True(e - window >= 0);
                    Assert.True(range.Contains(e) && range.Contains(e + horizon - 1), $"{part} sample {e} leaves {range}");
                    seen.Add(e);
                }
            }
            var expected = Enumerable.Range(window, Math.Max(0, n - horizon - window + 1))
                .Where(e => Enum.GetValues<SeriesPart>().Any(p => split[p].Contains(e) && split[p].Contains(e + horizon - 1)));
            Assert.Equal(expected, seen);
        }
    }

    [Fact]
    public void TooFewValuesNameWindowHorizonAndPartSize()
    {
        var e = Assert.Throws<GpuLstmException>(() => new SeriesWindows(Tiny, window: 3, horizon: 3));
        Assert.Equal("the validation part has 2 values (indices 6..7 of 10), too few for one sample with window 3 and horizon 3: it needs at least 3", e.Message);
        e = Assert.Throws<GpuLstmException>(() => new SeriesWindows(Tiny, window: 6, horizon: 1));
        Assert.Equal("the train part has 6 values (indices 0..5 of 10), too few for one sample with window 6 and horizon 1: it needs at least 7 (window + horizon)", e.Message);
        // A test part that starts before N values exist needs the missing history too.
        e = Assert.Throws<GpuLstmException>(() => new SeriesWindows(new SeriesSplit(10, 3, 3), window: 5, horizon: 1));
        Assert.Contains("the train part has 3 values", e.Message);
        Assert.Throws<GpuLstmException>(() => new SeriesWindows(Tiny, window: 0, horizon: 1));
        Assert.Throws<GpuLstmException>(() => new SeriesWindows(Tiny, window: 2, horizon: 0));
    }

    [Fact]
    public void AnEmptyPartHasNoSamplesRatherThanAnError()
    {
        var windows = new SeriesWindows(new SeriesSplit(10, 8, 8), 3, 1);
        Assert.Empty(windows.Samples(SeriesPart.Validation));
        Assert.Equal(new[] { 8, 9 }, windows.Samples(SeriesPart.Test));
    }
}
