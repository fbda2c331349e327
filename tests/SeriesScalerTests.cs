using GpuLstm.Runtime;
using GpuLstm.Runtime.Series;
using Xunit;

namespace GpuLstm.Tests;

public sealed class SeriesScalerTests
{
    private static readonly double[] Train = { 3.5, -2.0, 10.25, 7.0, 0.125, 4.0 };

    [Theory]
    [InlineData(SeriesScalerKind.MinMax)]
    [InlineData(SeriesScalerKind.ZScore)]
    public void InverseOfTransformIsTheIdentity(SeriesScalerKind kind)
    {
        var scaler = SeriesScaler.Fit(kind, Train);
        var rng = new Random(5);
        var values = Enumerable.Range(0, 200).Select(_ => (rng.NextDouble() - 0.5) * 1e4).Concat(Train).ToArray();
        var back = scaler.Inverse(scaler.Transform(values));
        for (int i = 0; i < values.Length; i++) Assert.Equal(values[i], back[i], 1e-9 * Math.Max(1, Math.Abs(values[i])));
    }

    [Fact]
    public void MinMaxMapsTheTrainingPartOntoZeroToOne()
    {
        var scaler = SeriesScaler.Fit(SeriesScalerKind.MinMax, Train);
        Assert.Equal(-2.0, scaler.Offset);
        Assert.Equal(12.25, scaler.Scale);
        var scaled = scaler.Transform(Train);
        Assert.Equal(0.0, scaled.Min());
        Assert.Equal(1.0, scaled.Max());
        Assert.Equal((3.5 + 2.0) / 12.25, scaled[0], 15);
        Assert.Equal(2.0, scaler.Transform(22.5), 15);   // later values may leave [0, 1]
    }

    [Fact]
    public void ZScoreGivesMeanZeroAndPopulationStandardDeviationOne()
    {
        var scaler = SeriesScaler.Fit(SeriesScalerKind.ZScore, Train);
        double mean = Train.Average();
        double std = Math.Sqrt(Train.Sum(x => (x - mean) * (x - mean)) / Train.Length);
        Assert.Equal(mean, scaler.Offset, 14);
        Assert.Equal(std, scaler.Scale, 14);
        var scaled = scaler.Transform(Train);
        Assert.Equal(0.0, scaled.Average(), 14);
        Assert.Equal(1.0, Math.Sqrt(scaled.Sum(x => x * x) / scaled.Length), 14);
    }

    [Theory]
    [InlineData(SeriesScalerKind.MinMax)]
    [InlineData(SeriesScalerKind.ZScore)]
    public void ConstantTrainingPartFallsBackToScaleOne(SeriesScalerKind kind)
    {
        var scaler = SeriesScaler.Fit(kind, new[] { 7.5, 7.5, 7.5 });
        Assert.Equal(7.5, scaler.Offset);
        Assert.Equal(1.0, scaler.Scale);
        Assert.Equal(0.0, scaler.Transform(7.5));
        Assert.Equal(2.5, scaler.Transform(10.0));
        Assert.Equal(10.0, scaler.Inverse(2.5));
    }

    [Theory]
    [InlineData(SeriesScalerKind.MinMax)]
    [InlineData(SeriesScalerKind.ZScore)]
    public void InverseScaleTurnsAScaledRmseIntoOriginalUnits(SeriesScalerKind kind)
    {
        var scaler = SeriesScaler.Fit(kind, Train);
        double[] actual = { 1, 5, 9, -3 }, predicted = { 2, 4.5, 12, -3.25 };
        var original = ForecastMetrics.Compute(actual, predicted);
        var scaled = ForecastMetrics.Compute(scaler.Transform(actual), scaler.Transform(predicted));
        Assert.Equal(original.Rmse, scaler.InverseScale(scaled.Rmse), 12);
        Assert.Equal(original.Mae, scaler.InverseScale(scaled.Mae), 12);
    }

    [Theory]
    [InlineData(SeriesScalerKind.MinMax, "")]
    [InlineData(SeriesScalerKind.ZScore, "scaler.")]
    public void DictionaryRoundTripIsExact(SeriesScalerKind kind, string prefix)
    {
        var scaler = SeriesScaler.Fit(kind, new[] { 0.1, 0.7, 1.0 / 3, Math.PI });
        var entries = scaler.ToDictionary(prefix);
        Assert.Equal(new[] { prefix + "a", prefix + "b", prefix + "kind" }, entries.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(kind.ToString(), entries[prefix + "kind"]);
        var back = SeriesScaler.FromDictionary(entries, prefix);
        Assert.Equal(kind, back.Kind);
        Assert.Equal(BitConverter.DoubleToInt64Bits(scaler.Offset), BitConverter.DoubleToInt64Bits(back.Offset));
        Assert.Equal(BitConverter.DoubleToInt64Bits(scaler.Scale), BitConverter.DoubleToInt64Bits(back.Scale));
    }

    [Fact]
    public void BadDictionaryEntriesNameTheKey()
    {
        var good = SeriesScaler.Fit(SeriesScalerKind.ZScore, Train).ToDictionary();
        Dictionary<string, string> With(string key, string? value)
        {
            var d = new Dictionary<string, string>(good);
            if (value is null) d.Remove(key); else d[key] = value;
            return d;
        }
        Assert.Equal("the series scaler entry 'b' is missing",
            Assert.Throws<GpuLstmException>(() => SeriesScaler.FromDictionary(With("b", null))).Message);
        Assert.StartsWith("the series scaler entry 'kind' is 'Robust'; expected one of MinMax, ZScore",
            Assert.Throws<GpuLstmException>(() => SeriesScaler.FromDictionary(With("kind", "Robust"))).Message);
        Assert.StartsWith("the series scaler entry 'kind' is '1'",
            Assert.Throws<GpuLstmException>(() => SeriesScaler.FromDictionary(With("kind", "1"))).Message);
        Assert.StartsWith("the series scaler entry 'a' is 'NaN'; expected a finite number",
            Assert.Throws<GpuLstmException>(() => SeriesScaler.FromDictionary(With("a", "NaN"))).Message);
        Assert.Contains("the scale must be positive",
            Assert.Throws<GpuLstmException>(() => SeriesScaler.FromDictionary(With("b", "0"))).Message);
    }

    [Fact]
    public void EmptyTrainingPartIsAnError() =>
        Assert.Throws<GpuLstmException>(() => SeriesScaler.Fit(SeriesScalerKind.MinMax, ReadOnlySpan<double>.Empty));

    /// <summary>
    /// Split leakage: validation and test hold outliers far outside the training range, so any of their values
    /// reaching the fit would show in min, max or mean. Fitted through the split, both kinds see train only.
    /// </summary>
    [Fact]
    public void ScalerFittedOnASplitNeverSeesValidationOrTestValues()
    {
        var values = new double[20];
        for (int i = 0; i < values.Length; i++) values[i] = 10 + i % 5;   // train 0..13: 10..14
        values[15] = -1e9;      // validation [14, 17)
        values[18] = 1e9;       // test [17, 20)
        var split = SeriesSplit.ByFractions(values.Length, 0.15, 0.15);
        Assert.Equal(new SeriesRange(0, 14), split.Train);

        var minMax = split.FitScaler(SeriesScalerKind.MinMax, values);
        Assert.Equal(10.0, minMax.Offset);
        Assert.Equal(4.0, minMax.Scale);

        var z = split.FitScaler(SeriesScalerKind.ZScore, values);
        var train = values[..14];
        Assert.Equal(train.Average(), z.Offset, 12);
        Assert.Equal(Math.Sqrt(train.Sum(x => (x - train.Average()) * (x - train.Average())) / 14), z.Scale, 12);

        Assert.Throws<ArgumentException>(() => split.FitScaler(SeriesScalerKind.MinMax, values[..19]));
    }
}
