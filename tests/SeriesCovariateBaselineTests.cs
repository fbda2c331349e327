using System.Globalization;
using GpuLstm.Runtime.Checkpoints;
using GpuLstm.Runtime.Series;
using Xunit;

namespace GpuLstm.Tests;

/// <summary>AR(p) with covariates (direct per horizon step), and the AR row of `forecast train`'s test metrics.</summary>
public sealed class SeriesCovariateBaselineTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gpulstm-arx-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>
    /// y[t] = 1 + 0.5 y[t−1] − 0.2 y[t−2] + 2 x[t−1] with x[t] = 0.8 x[t−1] + u[t] (u seeded, uniform ±0.5).
    /// Step 0 is the process itself, noise-free given x[t−1], so least squares recovers it exactly. Step 1 is
    /// y[t+1] = 1.5 + 0.05 y[t−1] − 0.1 y[t−2] + 2.6 x[t−1] + 2 u[t] (substitute y[t] and x[t]); u[t] is
    /// independent of the regressors, so the estimate lands near those values.
    /// </summary>
    [Fact]
    public void DirectFitRecoversAKnownArxProcessAtEveryStep()
    {
        var (y, x) = Arx(6000, seed: 11);
        var fit = DirectAutoRegression.Fit(y, x, width: 1, order: 2, horizon: 2);
        double[] step0 = [1, 0.5, -0.2, 2];
        // Exact up to the 1e-8 relative ridge, which is relative to the mean diagonal (the lags' large squares) and so shrinks x's small one by ~5e-7.
        for (int i = 0; i < 4; i++) Assert.Equal(step0[i], fit.Coefficients(0)[i], 5);
        double[] step1 = [1.5, 0.05, -0.1, 2.6];
        for (int i = 0; i < 4; i++) Assert.InRange(fit.Coefficients(1)[i], step1[i] - 0.05, step1[i] + 0.05);

        // The forecast from an origin is the process's next value at step 0.
        Span<double> next = stackalloc double[2];
        fit.Forecast(y.AsSpan(0, 5000), x.AsSpan(4999, 1), next);
        Assert.Equal(y[5000], next[0], 5);
        Assert.Equal(1.5 + 0.05 * y[4999] - 0.1 * y[4998] + 2.6 * x[4999], next[1], 1);
    }

    /// <summary>Without covariates, the direct fit's step 0 solves the same normal equations as the recursive AR(p): the same numbers, bit for bit.</summary>
    [Fact]
    public void DirectFitWithoutCovariatesEqualsTheRecursiveFitAtStepZero()
    {
        var random = new Random(3);
        var y = new double[400];
        for (int t = 3; t < y.Length; t++) y[t] = 2 + 0.4 * y[t - 1] + 0.2 * y[t - 2] - 0.3 * y[t - 3] + random.NextDouble();
        var recursive = AutoRegression.Fit(y, order: 3);
        var direct = DirectAutoRegression.Fit(y, [], width: 0, order: 3, horizon: 4);
        Assert.Equal([recursive.Intercept, .. recursive.Coefficients], direct.Coefficients(0).ToArray());
        // Later steps are their own fits, not the recursion's.
        Assert.NotEqual(direct.Coefficients(0).ToArray(), direct.Coefficients(1).ToArray());
    }

    /// <summary>
    /// A future covariate z (known ahead) enters step j at its target row: y[t] = 3 + 0.6 y[t−1] + 5 z[t] with z a
    /// seeded 0/1 flag. The row's features are [x, z] (z last, future); step 0 recovers 0.6 and 5 on z[t] and
    /// nothing on z[t−1]; step 1 is y[t+1] = 3 + 0.6(3 + 0.6 y[t−1] + 5 z[t]) + 5 z[t+1], whose z[t] is not a
    /// regressor, so only its z[t+1] coefficient (5) is checked, loosely.
    /// </summary>
    [Fact]
    public void DirectFitReadsFutureCovariatesAtTheTargetRow()
    {
        var random = new Random(9);
        int n = 4000;
        var y = new double[n];
        var features = new double[n * 2];
        for (int t = 0; t < n; t++)
        {
            features[t * 2] = random.NextDouble();                 // a past covariate the process ignores
            features[t * 2 + 1] = random.Next(2);                  // z, known ahead
            y[t] = 3 + (t > 0 ? 0.6 * y[t - 1] : 0) + 5 * features[t * 2 + 1];
        }
        var fit = DirectAutoRegression.Fit(y, features, width: 2, order: 1, horizon: 2, futureWidth: 1);
        Assert.Equal(1 + 1 + 2 + 1, fit.Unknowns);
        var step0 = fit.Coefficients(0);   // [c, a1, b_x, b_z(t−1), d_z(t)]
        Assert.Equal(3, step0[0], 4);
        Assert.Equal(0.6, step0[1], 5);
        Assert.Equal(0, step0[2], 4);
        Assert.Equal(0, step0[3], 4);
        Assert.Equal(5, step0[4], 4);
        Assert.InRange(fit.Coefficients(1)[4], 4.8, 5.2);
        var next = new double[1];
        fit.Forecast(y.AsSpan(0, 3000), features.AsSpan(2999 * 2, 2), next, [features[3000 * 2 + 1]]);
        Assert.Equal(y[3000], next[0], 4);
        Assert.Throws<ArgumentException>(() => fit.Forecast(y.AsSpan(0, 3000), features.AsSpan(2999 * 2, 2), next));
    }

    [Fact]
    public void DirectFitRefusesTooFewValuesAndAForecastPastItsSteps()
    {
        // p = 2, w = 1, h = 3: step 2 needs 4 rows, from origin 2 on: 2 + 2 + 4 = 8 values.
        Assert.Equal(8, DirectAutoRegression.MinimumValues(2, 1, 3));
        var (y, x) = Arx(8, seed: 1);
        Assert.Contains("needs at least 8 values, got 7", Assert.Throws<GpuLstmException>(() => DirectAutoRegression.Fit(y.AsSpan(0, 7), x, 1, 2, 3)).Message);
        var fit = DirectAutoRegression.Fit(y, x, 1, 2, 3);
        Assert.Throws<ArgumentException>(() => fit.Forecast(y, x.AsSpan(7, 1), new double[4]));
    }

    /// <summary>
    /// `forecast train`'s AR row without covariates is AR(p) fitted on the training part's modeled values and
    /// forecast one step from every test origin, integrated back from the last value; its RMSE, recomputed here
    /// from <see cref="AutoRegression"/> directly, is the one the run reports and the checkpoint keeps.
    /// </summary>
    [Fact]
    public void TrainScoresAutoRegressionOnTheTestPartAndTheCheckpointKeepsIt()
    {
        var y = Enumerable.Range(0, 120).Select(i => 20 + 5 * Math.Sin(2 * Math.PI * i / 12) + 0.1 * i + 0.3 * Math.Cos(i * 1.7)).ToArray();
        string csv = Path.Combine(_dir, "s.csv");
        File.WriteAllText(csv, "y\n" + string.Join("\n", y.Select(v => v.ToString("R", CultureInfo.InvariantCulture))) + "\n");
        var settings = new SeriesTrainingSettings
        {
            Csv = csv, Column = "y", Window = 6, Hidden = 4, Epochs = 2, Difference = true, ArOrder = 5, Device = "cpu",
            Checkpoint = Path.Combine(_dir, "s.safetensors"),
        };
        using (var run = new SeriesTraining(settings))
        {
            run.Run();
            Assert.Equal(["LSTM", "persistence", "AR(5)"], run.Scores.Select(s => s.Name));

            var d = SeriesProblem.Differences(y);
            var split = SeriesSplit.ByFractions(d.Length, settings.ValFraction, settings.TestFraction);
            var ar = AutoRegression.Fit(d.AsSpan(0, split.Validation.End), 5);   // every value before the test part
            double sum = 0;
            int count = 0;
            for (int e = split.Test.Start; e < d.Length; e++, count++)
            {
                double forecast = y[e] + ar.Forecast(d.AsSpan(0, e), 1)[0];   // d[e] = y[e+1] − y[e]
                sum += (y[e + 1] - forecast) * (y[e + 1] - forecast);
            }
            Assert.Equal(Math.Sqrt(sum / count), run.Scores[2].Metrics.Rmse, 9);
        }
        var meta = SafeTensors.Read(settings.Checkpoint).Metadata;
        Assert.Equal("AR(5)", meta["ar_name"]);
        Assert.True(meta.ContainsKey("ar_rmse") && !meta.ContainsKey("seasonal_naive_rmse"));
        using var loaded = Forecaster.Load(settings.Checkpoint);
        Assert.Equal(["LSTM", "persistence", "AR(5)"], loaded.TestScores.Select(s => s.Name));
    }

    /// <summary>With covariates the AR row reads them (named so), and an order the values before the test part cannot carry is one line at once, before training.</summary>
    [Fact]
    public void TrainWithCovariatesNamesTheDirectArAndRefusesAnOrderTooLarge()
    {
        var (y, x) = Arx(150, seed: 5);
        string csv = Path.Combine(_dir, "arx.csv");
        File.WriteAllLines(csv, ["y,x", .. y.Select((v, i) => string.Create(CultureInfo.InvariantCulture, $"{v:R},{x[i]:R}"))]);
        var settings = new SeriesTrainingSettings
        {
            Csv = csv, Column = "y", Covariates = ["x"], Window = 4, Hidden = 4, Epochs = 2, Device = "cpu",
            Checkpoint = Path.Combine(_dir, "arx.safetensors"),
        };
        using (var run = new SeriesTraining(settings))
        {
            run.Run();
            var ar = run.Scores[^1];
            Assert.Equal("AR(4) with covariates", ar.Name);
            // The process is this AR with covariates, noise-free: the direct fit forecasts it all but exactly.
            Assert.True(ar.Metrics.Rmse < 1e-6 * y.Select(Math.Abs).Max(), $"AR-X test RMSE {ar.Metrics.Rmse}");
            Assert.True(ar.Metrics.Rmse < run.Scores[1].Metrics.Rmse);
        }
        var message = Assert.Throws<GpuLstmException>(() => new SeriesTraining(settings with { ArOrder = 70 })).Message;
        Assert.Contains("the AR(70) baseline with 1 covariate inputs needs at least", message);
    }

    private static (double[] Y, double[] X) Arx(int n, int seed)
    {
        var random = new Random(seed);
        var y = new double[n];
        var x = new double[n];
        y[0] = 1; y[1] = 2;
        x[0] = 0.3; x[1] = -0.2;
        for (int t = 2; t < n; t++)
        {
            x[t] = 0.8 * x[t - 1] + random.NextDouble() - 0.5;
            y[t] = 1 + 0.5 * y[t - 1] - 0.2 * y[t - 2] + 2 * x[t - 1];
        }
        return (y, x);
    }
}
