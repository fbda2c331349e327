using GpuLstm.Runtime;
using GpuLstm.Runtime.Series;
using Xunit;

namespace GpuLstm.Tests;

public sealed class SeriesCovariateTests
{
    private static string[] Labels(int n) => Enumerable.Range(1, n).Select(i => i.ToString()).ToArray();

    [Fact]
    public void NumericScalerIsFittedOnTheTrainingPartOnly()
    {
        var temp = new CovariateColumn("Temp", ["1", "3", "5", "100", "200"]);
        var fitted = SeriesCovariates.Fit([temp], null, calendar: false, SeriesScalerKind.MinMax, trainEnd: 3);
        var changed = SeriesCovariates.Fit([temp with { Cells = ["1", "3", "5", "-7", "9999"] }], null, false, SeriesScalerKind.MinMax, 3);
        var spec = Assert.Single(fitted.Columns);
        Assert.Equal(CovariateKind.Numeric, spec.Kind);
        Assert.Equal(1.0, spec.Scaler!.Offset);
        Assert.Equal(4.0, spec.Scaler.Scale);
        Assert.Equal(spec.Scaler.Offset, changed.Columns[0].Scaler!.Offset);
        Assert.Equal(spec.Scaler.Scale, changed.Columns[0].Scaler!.Scale);
        var features = fitted.Transform([temp], null, Labels(5));
        Assert.Equal([0.0, 0.5, 1.0, 24.75, 49.75], features);
    }

    [Fact]
    public void CategoricalColumnIsOneHotOverTheTrainingCategories()
    {
        var wind = new CovariateColumn("Wnd_dir", ["SE", "NW", "SE", "cv", "NW"]);
        var fitted = SeriesCovariates.Fit([wind], null, false, SeriesScalerKind.MinMax, trainEnd: 3);
        var spec = Assert.Single(fitted.Columns);
        Assert.Equal(CovariateKind.Categorical, spec.Kind);
        Assert.Equal(["NW", "SE"], spec.Categories);   // "cv" appears only after the training part
        Assert.Equal(2, fitted.Width);
        var features = fitted.Transform([wind with { Cells = ["SE", "NW", "NW"] }], null, Labels(3));
        Assert.Equal([0.0, 1.0, 1.0, 0.0, 1.0, 0.0], features);
        var e = Assert.Throws<GpuLstmException>(() => fitted.Transform([wind], null, Labels(5)));
        Assert.Contains("\"cv\" was not seen in training", e.Message);
        Assert.Contains("row 4", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void CalendarFeaturesAreSineCosinePairsOfHourWeekdayAndMonth()
    {
        // 2014-03-05 18:00 is a Wednesday (day 3 of 7), hour 18 of 24, month index 2 of 12.
        var date = new DateTime(2014, 3, 5, 18, 0, 0, DateTimeKind.Utc);
        var f = new double[SeriesCovariates.CalendarWidth];
        SeriesCovariates.CalendarFeatures(date, f);
        Assert.Equal(-1.0, f[0], 12);                            // sin(2π·18/24)
        Assert.Equal(0.0, f[1], 12);
        Assert.Equal(Math.Sin(2 * Math.PI * 3 / 7), f[2], 12);
        Assert.Equal(Math.Cos(2 * Math.PI * 3 / 7), f[3], 12);
        Assert.Equal(Math.Sqrt(3) / 2, f[4], 12);                // sin(2π·2/12) = sin(π/3)
        Assert.Equal(0.5, f[5], 12);
    }

    [Fact]
    public void FeaturesAreLaidOutColumnsThenCalendar()
    {
        var dates = new[] { new DateTime(2010, 1, 3, 0, 0, 0, DateTimeKind.Utc), new DateTime(2010, 1, 3, 6, 0, 0, DateTimeKind.Utc) };
        var columns = new[] { new CovariateColumn("Dew", ["2", "4"]), new CovariateColumn("Dir", ["N", "S"]) };
        var fitted = SeriesCovariates.Fit(columns, dates, calendar: true, SeriesScalerKind.MinMax, trainEnd: 2);
        Assert.Equal(1 + 2 + 6, fitted.Width);
        var x = fitted.Transform(columns, dates, Labels(2));
        // Row 1: Dew 1.0, Dir S one-hot [0,1], hour 6 → sin 1, cos 0; Sunday → sin 0, cos 1; January → sin 0, cos 1.
        Assert.Equal([1.0, 0.0, 1.0], x[9..12]);
        Assert.Equal(1.0, x[12], 12);
        Assert.Equal(0.0, x[13], 12);
        Assert.Equal(0.0, x[14], 12);
        Assert.Equal(1.0, x[15], 12);
    }

    /// <summary>
    /// A batch is (T, B, F) time-major with [target, covariates] per step, the covariate of the same row as the
    /// target; with differencing, modeled value i = y[i+1] − y[i] sits beside original row i + 1's covariate.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void BatchesPutEachStepsCovariateBesideItsTarget(bool difference)
    {
        int n = 20;
        var original = Enumerable.Range(0, n).Select(i => (double)(i * i)).ToArray();
        var index = new CovariateColumn("Index", Enumerable.Range(0, n).Select(i => i.ToString()).ToArray());
        var problem = new SeriesProblem(original, difference, SeriesScalerKind.MinMax, window: 3, horizon: 1, 0, 0.2,
            new SeriesCovariateSource([index], null, false, Labels(n)));
        Assert.Equal(2, problem.InputWidth);
        var scaler = problem.Covariates.Columns[0].Scaler!;
        int shift = difference ? 1 : 0;
        Assert.Equal(0.0, scaler.Offset);                                   // fitted on rows 0 .. train end only
        Assert.Equal(problem.Split.Train.End - 1 + shift, scaler.Scale);
        int[] ends = [3, 7];
        var inputs = new float[3 * 2 * 2];
        var targets = new float[2];
        problem.FillBatch(ends, inputs, targets);
        for (int b = 0; b < 2; b++)
            for (int t = 0; t < 3; t++)
            {
                int row = ends[b] - 3 + t, at = (t * 2 + b) * 2;
                Assert.Equal((float)problem.Scaled[row], inputs[at]);
                Assert.Equal((float)scaler.Transform(row + shift), inputs[at + 1]);
            }
    }

    [Fact]
    public void CalendarWithoutDatesIsRefused()
    {
        var e = Assert.Throws<GpuLstmException>(() => SeriesCovariates.Fit([], null, calendar: true, SeriesScalerKind.MinMax, 1));
        Assert.Contains("--date-column", e.Message);
    }

    [Fact]
    public void CsvReadsCovariateColumnsInDateOrder()
    {
        string path = Path.Combine(Path.GetTempPath(), $"cov-{Guid.NewGuid():N}.csv");
        File.WriteAllText(path, "Date,y,Dir,T\n2010-01-02,2,SE,5\n2010-01-01,1,NW,4\n");
        try
        {
            var data = SeriesCsv.Load(path, "y", "Date", ["t", "Dir"]);
            Assert.Equal([1.0, 2.0], data.Values);
            Assert.Equal("T", data.Covariates[0].Name);
            Assert.Equal(["4", "5"], data.Covariates[0].Cells);
            Assert.Equal(["NW", "SE"], data.Covariates[1].Cells);
            var e = Assert.Throws<GpuLstmException>(() => SeriesCsv.Load(path, "y", "Date", ["Wind"]));
            Assert.Contains("no covariate column 'Wind'", e.Message);
        }
        finally { File.Delete(path); }
    }
}
