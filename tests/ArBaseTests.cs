using System.Globalization;
using GpuLstm.Runtime;
using GpuLstm.Runtime.Checkpoints;
using GpuLstm.Runtime.Models;
using GpuLstm.Runtime.Series;
using Xunit;

namespace GpuLstm.Tests;

/// <summary>
/// The hybrid (--ar-base): the network learns the residual of a per-series AR(window) fitted on the values before
/// the test part, and every forecast path adds the base back. With the network's head zeroed the hybrid must
/// forecast exactly the AR; the targets must be the residuals; the checkpoint must keep the base.
/// </summary>
public sealed class ArBaseTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gpulstm-arbase-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>y[t] = 5 + 0.6 y[t−1] − 0.3 y[t−2] + a small deterministic wiggle, 120 values.</summary>
    private static double[] ArSeries(int n = 120)
    {
        var y = new double[n];
        y[0] = 10; y[1] = 11;
        for (int t = 2; t < n; t++) y[t] = 5 + 0.6 * y[t - 1] - 0.3 * y[t - 2] + Math.Sin(t * 1.7) * 0.8;
        return y;
    }

    [Fact]
    public void TheNetworksTargetsAreTheResidualsOfTheBaseForecastFromTheSameWindow()
    {
        var y = ArSeries();
        var problem = new SeriesProblem(y, difference: false, SeriesScalerKind.ZScore, window: 4, horizon: 3, 0.15, 0.15, baseOrder: 4);
        var plain = new SeriesProblem(y, difference: false, SeriesScalerKind.ZScore, window: 4, horizon: 3, 0.15, 0.15);
        Assert.NotNull(problem.Base);
        int[] ends = [4, 50, 97];
        var inputs = new float[4 * 3];
        var targets = new float[3 * 3];
        var plainInputs = new float[4 * 3];
        var plainTargets = new float[3 * 3];
        problem.FillBatch(ends, inputs, targets);
        plain.FillBatch(ends, plainInputs, plainTargets);
        Assert.Equal(plainInputs, inputs);   // the inputs are the scaled values either way
        for (int b = 0; b < ends.Length; b++)
        {
            var baseForecast = problem.Base!.Forecast(problem.Scaled.AsSpan(ends[b] - 4, 4), 3);
            for (int j = 0; j < 3; j++) Assert.Equal(problem.Scaled[ends[b] + j] - baseForecast[j], targets[b * 3 + j], 5);
        }
        // The base was fitted on the train and validation parts (85%): refitting on them gives the same coefficients.
        int fitted = problem.Split.Validation.End;
        var again = AutoRegression.Fit(problem.Scaled.AsSpan(0, fitted), 4);
        Assert.Equal(again.Coefficients, problem.Base!.Coefficients);
        // ToOriginal adds the base back: zero residuals give the base's forecast in original units.
        var original = problem.ToOriginal(ends, new float[9]);
        for (int b = 0; b < ends.Length; b++)
        {
            var baseForecast = problem.Base!.Forecast(problem.Scaled.AsSpan(ends[b] - 4, 4), 3);
            for (int j = 0; j < 3; j++) Assert.Equal(problem.Scaler.Inverse(baseForecast[j]), original[b * 3 + j], 9);
        }
    }

    /// <summary>The head's weights and bias set to 0, so the network's residual is exactly 0.</summary>
    private static SeriesModel ZeroHead(SeriesModel model)
    {
        model.Parameters.SetValue(model.Head.Weights, new float[model.Parameters.GetValue(model.Head.Weights).Length]);
        model.Parameters.SetValue(model.Head.Bias, new float[model.Parameters.GetValue(model.Head.Bias).Length]);
        return model;
    }

    private string Csv(double[] y) => Write("ar.csv", "t,value\n" + string.Concat(y.Select((v, i) => $"{i},{v.ToString("R", CultureInfo.InvariantCulture)}\n")));

    private string Write(string name, string text)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    /// <summary>
    /// With the head's weights and bias zeroed the network's residual is 0, so the hybrid's recursive forecast (k = 2
    /// fed back, differenced) is the AR's own: an AR fitted on the same values in original units (least squares is
    /// affine-equivariant, and the ridge is relative) forecasting from the same history.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void WithAZeroNetworkTheHybridForecastsExactlyItsAutoregression(bool difference)
    {
        var y = ArSeries();
        string checkpoint = Path.Combine(_dir, $"hybrid-{difference}.safetensors");
        var settings = new SeriesTrainingSettings
        {
            Csv = Csv(y), Column = "value", ArBase = true, Difference = difference, Window = 3, Horizon = 2, Hidden = 4, Epochs = 2,
            Scale = SeriesScalerKind.MinMax, Device = "cpu", Checkpoint = checkpoint,
        };
        using var run = new SeriesTraining(settings);
        run.Run();
        var model = ZeroHead(run.Model);
        var info = run.ModelInfo;
        var forecast = SeriesForecast.ForecastAhead(model, y, difference, info.Scaler, 7, linearBase: info.Base);
        // The same AR in original (modeled) units, fitted on the values before the test part.
        var modeled = difference ? SeriesProblem.Differences(y) : y;
        int fitted = SeriesSplit.ByFractions(modeled.Length, settings.ValFraction, settings.TestFraction).Validation.End;
        var ar = AutoRegression.Fit(modeled.AsSpan(0, fitted), 3);
        var expected = ar.Forecast(modeled, 7);
        if (difference)
            for (int j = 0; j < 7; j++) expected[j] = (j == 0 ? y[^1] : expected[j - 1]) + expected[j];
        for (int j = 0; j < 7; j++) Assert.Equal(expected[j], forecast[j], 1e-4 * Math.Abs(expected[j]));
    }

    /// <summary>With calendar features the base still reads the target alone: a zeroed network forecasts exactly the AR through the covariate path too.</summary>
    [Fact]
    public void WithCalendarFeaturesAZeroNetworkStillForecastsExactlyItsAutoregression()
    {
        var y = ArSeries();
        string csv = Write("dated.csv", "month,value\n" + string.Concat(y.Select((v, i) => $"{2000 + i / 12}-{i % 12 + 1:00},{v.ToString("R", CultureInfo.InvariantCulture)}\n")));
        var settings = new SeriesTrainingSettings
        {
            Csv = csv, Column = "value", DateColumn = "month", Calendar = true, ArBase = true, Window = 3, Horizon = 1, Hidden = 4, Epochs = 2,
            Device = "cpu", Checkpoint = Path.Combine(_dir, "dated.safetensors"),
        };
        using var run = new SeriesTraining(settings);
        run.Run();
        var model = ZeroHead(run.Model);
        var info = run.ModelInfo;
        var data = SeriesCsv.Load(csv, "value", "month");
        var forecast = SeriesForecast.CovariateStream(model, y, false, info.Scaler, info.Covariates, [], data.Dates, data.Labels, linearBase: info.Base).Take(6).ToArray();
        int fitted = SeriesSplit.ByFractions(y.Length, settings.ValFraction, settings.TestFraction).Validation.End;
        var expected = AutoRegression.Fit(y.AsSpan(0, fitted), 3).Forecast(y, 6);
        for (int j = 0; j < 6; j++) Assert.Equal(expected[j], forecast[j], 1e-4 * Math.Abs(expected[j]));
    }

    [Fact]
    public void TheCheckpointKeepsTheBaseAndPredictUsesIt()
    {
        var y = ArSeries();
        string checkpoint = Path.Combine(_dir, "kept.safetensors");
        var settings = new SeriesTrainingSettings
        {
            Csv = Csv(y), Column = "value", ArBase = true, Window = 3, Hidden = 4, Epochs = 2, Device = "cpu", Checkpoint = checkpoint,
        };
        IReadOnlyList<ForecastPoint> trained;
        AutoRegression saved;
        using (var forecaster = Forecaster.Train(settings))
        {
            trained = forecaster.Forecast(5);
            saved = forecaster.Info.Base!;
        }
        var loaded = SeriesCheckpoint.Load(checkpoint);
        Assert.Equal(saved.Intercept, loaded.Info.Base!.Intercept);
        Assert.Equal(saved.Coefficients, loaded.Info.Base.Coefficients);
        Assert.Contains("hybrid (--ar-base)", loaded.Metadata["head_output"]);
        using var again = Forecaster.Load(checkpoint);
        Assert.Equal(trained, again.Forecast(5));
        // Without the base the same weights forecast something else: the base is really added.
        using var device = GpuLstm.Runtime.Compute.ComputeDevice.Open("cpu");
        using var model = loaded.CreateModel(device, 1);
        var withoutBase = SeriesForecast.ForecastAhead(model, y, false, loaded.Info.Scaler, 5);
        Assert.NotEqual(trained.Select(p => p.Value), withoutBase);
    }

    /// <summary>Many series: each series gets its own base, fitted on its own values, and the checkpoint keeps each.</summary>
    [Fact]
    public void EachSeriesOfAGlobalHybridHasItsOwnBase()
    {
        var a = ArSeries();
        var b = ArSeries(90).Select((v, i) => 100 - 2 * v + (i % 4)).ToArray();
        string csv = Write("two.csv", "series,t,value\n" + string.Concat(a.Select((v, i) => $"a,{i},{v.ToString("R", CultureInfo.InvariantCulture)}\n"))
            + string.Concat(b.Select((v, i) => $"b,{i},{v.ToString("R", CultureInfo.InvariantCulture)}\n")));
        string checkpoint = Path.Combine(_dir, "two.safetensors");
        var settings = new SeriesTrainingSettings
        {
            Csv = csv, Column = "value", SeriesColumn = "series", ArBase = true, Window = 4, Hidden = 4, Epochs = 2, Device = "cpu", Checkpoint = checkpoint,
        };
        using (var forecaster = Forecaster.Train(settings)) Assert.Equal(2, forecaster.Series.Count);
        var members = SeriesCheckpoint.Load(checkpoint).Info.Members;
        var scaledB = members[1].Scaler.Transform(b);
        var expected = AutoRegression.Fit(scaledB.AsSpan(0, SeriesSplit.ByFractions(b.Length, 0.15, 0.15).Validation.End), 4);
        Assert.Equal(expected.Coefficients, members[1].Base!.Coefficients);
        Assert.NotEqual(members[0].Base!.Coefficients, members[1].Base!.Coefficients);
    }
}
