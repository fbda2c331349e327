using System.Globalization;
using GpuLstm.Runtime.Models;

namespace GpuLstm.Runtime.Series;

/// <summary>How often the actual values fell inside a central interval [q(Low), q(High)] on the test part.</summary>
internal sealed record IntervalCoverage(double Low, double High, int Inside, int Count)
{
    public double Fraction => Count == 0 ? double.NaN : (double)Inside / Count;
    public double Nominal => High - Low;

    public string Describe() => string.Create(CultureInfo.InvariantCulture,
        $"{Nominal * 100:0.##}% interval [q{Low:0.###}, q{High:0.###}]: {Fraction * 100:F1}% of {Count} actual values inside");

    /// <summary>Several series' coverages of the same interval as one: their counts added (null entries, series without a test part, skipped); null when none.</summary>
    public static IntervalCoverage? Pool(IEnumerable<IntervalCoverage?> coverages)
    {
        IntervalCoverage? pooled = null;
        foreach (var c in coverages)
            if (c is not null) pooled = pooled is null ? c : pooled with { Inside = pooled.Inside + c.Inside, Count = pooled.Count + c.Count };
        return pooled;
    }
}

/// <summary>One forecast step with its interval: the point value and the quantiles at the head's reported levels, in original units.</summary>
internal sealed record IntervalPoint(long Step, double Value, double[] Quantiles);

/// <summary>
/// Prediction intervals from a probabilistic head (<see cref="SeriesHead"/>): coverage on the test part, and
/// recursive multi-step intervals past the end of the series from sampled paths.
/// </summary>
internal static class SeriesIntervals
{
    /// <summary>Most sample paths a forecast runs (one batch of the model each step).</summary>
    public const int MaxSamples = 100_000;

    /// <summary>
    /// The coverage of the head's outermost central interval (its lowest and highest reported levels) on the
    /// windows at <paramref name="ends"/>, against the original targets; null when the head reports fewer than
    /// two levels. Direct forecasts, as the test metrics are: horizon step j of window e is forecast from e.
    /// </summary>
    public static IntervalCoverage? TestCoverage(SeriesModel model, SeriesProblem problem, int[] ends)
    {
        var head = model.Config.Head;
        var levels = head.ReportedLevels;
        if (levels.Count < 2 || ends.Length == 0) return null;
        double low = levels[0], high = levels[^1];
        var windows = problem.Windows;
        int k = windows.Horizon, m = head.OutputsPerStep, b = model.MaxBatch;
        var inputs = new float[windows.Window * b * problem.InputWidth];
        var targets = new float[b * k];
        var outputs = new float[b * k * m];
        var lower = new float[ends.Length * k];
        var upper = new float[ends.Length * k];
        Span<double> step = stackalloc double[m];
        for (int start = 0; start < ends.Length; start += b)
        {
            int size = Math.Min(b, ends.Length - start);
            problem.FillBatch(ends.AsSpan(start, size), inputs, targets);
            model.PredictHead(inputs, size, outputs);
            for (int r = 0; r < size; r++)
                for (int j = 0; j < k; j++)
                {
                    for (int block = 0; block < m; block++) step[block] = outputs[(r * m + block) * k + j];
                    lower[(start + r) * k + j] = (float)head.QuantileOf(step, low);
                    upper[(start + r) * k + j] = (float)head.QuantileOf(step, high);
                }
        }
        // The scaler is increasing and (horizon 1 when differenced) the integration adds a known level, so
        // both map quantiles to quantiles.
        var lo = problem.ToOriginal(ends, lower);
        var hi = problem.ToOriginal(ends, upper);
        var actual = problem.OriginalTargets(ends);
        int inside = 0;
        for (int i = 0; i < actual.Length; i++)
            if (actual[i] >= lo[i] && actual[i] <= hi[i]) inside++;
        return new IntervalCoverage(low, high, inside, actual.Length);
    }

    /// <summary>
    /// Recursive forecasts past the end of the series from <paramref name="samples"/> sampled paths, as an
    /// endless stream in constant memory (each path keeps its last window). Each round runs every path's window
    /// through the model as one batch; every path draws each of the K steps from its predicted distribution
    /// (independently, the head predicting no correlation between steps), appends the draws and feeds them
    /// back. A step's value is the paths' mean (Gaussian) or median (quantile), and its quantiles are the
    /// paths' empirical quantiles at the head's reported levels, in original units (differences are integrated
    /// per path). Draws come from one stream seeded by <paramref name="seed"/>, in path then step order, so a
    /// seed gives the same forecast on every run and device that computes the same head outputs.
    /// </summary>
    /// <remarks>
    /// A model that reads covariates needs <paramref name="covariates"/>: the history's covariate cells, which
    /// every path shares (they do not depend on the draws). Past covariates are unknown after the end, so such
    /// a model samples one block of its horizon and the stream ends there, as its point forecast does. A model
    /// without them feeds its draws back: each future step's calendar computed from the dates' regular
    /// interval, its future covariates read from the rows after the end, and the stream ends before a block
    /// whose last target row has none.
    /// </remarks>
    public static IEnumerable<IntervalPoint> SampledStream(SeriesModel model, double[] original, bool difference, SeriesScaler scaler, int samples, ulong seed,
        CovariateHistory? covariates = null, SeriesIdentity identity = default, AutoRegression? linearBase = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        var head = model.Config.Head;
        if (head.Likelihood == SeriesLikelihood.Point)
            throw new GpuLstmException("sampled intervals need a checkpoint trained with a gaussian or quantile likelihood");
        if (samples < 1 || samples > MaxSamples)
            throw new SettingException("Samples", string.Create(CultureInfo.InvariantCulture, $"the number of sample paths must be 1 to {MaxSamples:N0}, got {samples}"), "the number of sample paths");
        if (samples > model.MaxBatch) throw new ArgumentException($"the model takes batches of up to {model.MaxBatch}, fewer than {samples} paths", nameof(model));
        var modeled = difference ? SeriesProblem.Differences(original) : original;
        int window = model.Config.Window;
        if (modeled.Length < window) throw new GpuLstmException($"a forecast needs the last {window} values, but the series has {modeled.Length}");
        var spec = covariates?.Spec;
        int width = spec?.Width ?? 0, past = spec?.PastWidth ?? 0, futureWidth = spec?.FutureWidth ?? 0;
        if (model.Config.Features != 1 + width + identity.Width)
            throw new ArgumentException($"the model reads {model.Config.Features} features per step; the target, the covariates and the identity give {1 + width + identity.Width}", nameof(covariates));
        var lastPast = new double[window * past];
        double[] ahead = [];
        Func<int, DateTime>? calendar = null;
        bool recursive = true;
        if (width > 0)
        {
            var all = spec!.Transform(covariates!.Columns, covariates.Dates, covariates.Labels);
            // Modeled value i is original row i + 1 when differenced; the window's last row is the history's last.
            int first = original.Length - window;
            for (int r = 0; r < window; r++) Array.Copy(all, (first + r) * width, lastPast, r * past, past);
            // The future part of every row from the window's first on: the history's, then the rows after it.
            var after = futureWidth > 0 && covariates.Future is { } rows ? spec.TransformFuture(rows.Covariates, rows.Labels) : [];
            ahead = new double[window * futureWidth + after.Length];
            for (int r = 0; r < window; r++) Array.Copy(all, (first + r) * width + past, ahead, r * futureWidth, futureWidth);
            after.CopyTo(ahead, window * futureWidth);
            recursive = spec.PastColumnCount == 0;
            if (recursive && spec.Calendar)
                calendar = SeriesForecast.FutureDate(covariates.Dates) ?? throw new GpuLstmException("the model reads calendar features, but the dates are not regular, so the future steps' dates are unknown");
        }
        return Stream(model, head, scaler.Transform(modeled)[^window..], difference ? original[^1] : null, scaler, samples, seed,
            new SampledCovariates(lastPast, past, ahead, futureWidth, recursive, calendar), identity, linearBase);
    }

    /// <summary>
    /// What sampled paths read besides their draws, the same for every path: the window's past part (past
    /// columns and calendar, (T, past)), the future part of every row from the window's first on ((rows, fw): the
    /// history's, then the rows after it), whether the paths may recurse past one block, and the dates for the calendar.
    /// </summary>
    private sealed record SampledCovariates(double[] LastPast, int PastWidth, double[] Ahead, int FutureWidth, bool Recursive, Func<int, DateTime>? Calendar)
    {
        public int Width => PastWidth + FutureWidth;
    }

    private static IEnumerable<IntervalPoint> Stream(SeriesModel model, SeriesHead head, double[] last, double? lastLevel, SeriesScaler scaler, int n, ulong seed,
        SampledCovariates covariates, SeriesIdentity identity, AutoRegression? linearBase)
    {
        var c = model.Config;
        int width = covariates.Width, past = covariates.PastWidth, futureWidth = covariates.FutureWidth;
        int t = c.Window, k = c.Horizon, m = head.OutputsPerStep, f = 1 + width;
        int aheadRows = futureWidth > 0 ? covariates.Ahead.Length / futureWidth : 0;
        // (T+K, past): the window's past covariates, then room for the next round's calendar; the same for every path.
        var features = new double[(t + k) * past];
        covariates.LastPast.CopyTo(features, 0);
        var rng = Rng.ForPurpose(seed, "forecast-samples");
        var paths = new double[n * (t + k)];   // (N, T+K): each path's last T scaled values, then the round's K draws
        for (int b = 0; b < n; b++) last.CopyTo(paths, b * (t + k));
        var levels = new double[n];             // (N) each path's last original value, when differenced
        if (lastLevel is double l) Array.Fill(levels, l);
        var inputs = new float[t * n * f];      // (T,N,F) time-major
        var wide = identity.Count > 0 ? new float[t * n * (f + identity.Count)] : []; // (T,N,F+S) with a series identity
        var outputs = new float[n * k * m];     // (N,K·M)
        var values = new double[n];
        var reported = head.ReportedLevels;
        var step = new double[m];
        var baseline = new double[k];           // a hybrid's linear base forecast for the path being drawn
        for (long made = 0; ; made += k)
        {
            // Row i of the window reads the future part of row i + k, counted from the first window's first row.
            long firstAhead = made + k;
            if (futureWidth > 0 && firstAhead + t - 1 >= aheadRows) yield break;   // the block's last target row has no future covariates
            for (int b = 0; b < n; b++)
                for (int i = 0; i < t; i++)
                {
                    int at = (i * n + b) * f;
                    inputs[at] = (float)paths[b * (t + k) + i];
                    for (int j = 0; j < past; j++) inputs[at + 1 + j] = (float)features[i * past + j];
                    for (int j = 0; j < futureWidth; j++) inputs[at + 1 + past + j] = (float)covariates.Ahead[(firstAhead + i) * futureWidth + j];
                }
            model.PredictHead(identity.Widen(inputs, t, n, f, wide), n, outputs);
            for (int b = 0; b < n; b++)
            {
                // The head's distribution is of the residual around the base's forecast from this path's window.
                if (linearBase is not null) linearBase.ForecastInto(paths.AsSpan(b * (t + k), t), baseline);
                for (int j = 0; j < k; j++)
                {
                    for (int block = 0; block < m; block++) step[block] = outputs[(b * m + block) * k + j];
                    // u in (0,1): 53 random bits, centred in their interval, so Φ⁻¹ never sees 0.
                    double u = ((rng.NextUInt64() >> 11) + 0.5) * (1.0 / (1UL << 53));
                    double draw = head.QuantileOf(step, u) + baseline[j];
                    if (!double.IsFinite(draw)) throw new GpuLstmException($"the model forecast a non-finite value at step {made + j + 1}");
                    paths[b * (t + k) + t + j] = draw;
                }
            }
            for (int j = 0; j < k; j++)
            {
                for (int b = 0; b < n; b++)
                {
                    double v = scaler.Inverse(paths[b * (t + k) + t + j]);
                    if (lastLevel is not null) v = levels[b] += v;
                    values[b] = v;
                }
                var quantiles = new double[reported.Count];
                for (int q = 0; q < reported.Count; q++) quantiles[q] = EmpiricalQuantile(values, reported[q], sorted: q > 0);
                double value = head.Likelihood == SeriesLikelihood.Gaussian ? values.Average() : EmpiricalQuantile(values, SeriesHead.MedianLevel, sorted: true);
                yield return new IntervalPoint(made + j + 1, value, quantiles);
                // values is sorted now; the paths' order is untouched (they live in `paths` and `levels`).
            }
            if (!covariates.Recursive) yield break;   // past covariates: their future is unknown
            if (past > 0)
            {
                // Only the calendar can be past here (no past columns): each new row's is computed from its date.
                for (int j = 0; j < k; j++)
                    SeriesCovariates.CalendarFeatures(SeriesForecast.CalendarDate(covariates.Calendar!, made + j + 1), features.AsSpan((t + j) * past, past));
                Array.Copy(features, k * past, features, 0, t * past);
            }
            for (int b = 0; b < n; b++) Array.Copy(paths, b * (t + k) + k, paths, b * (t + k), t);
        }
    }

    /// <summary>
    /// The level-quantile of <paramref name="values"/> (sorted in place unless already), interpolated linearly
    /// between order statistics at positions level·(N−1), as NumPy's default.
    /// </summary>
    public static double EmpiricalQuantile(double[] values, double level, bool sorted = false)
    {
        if (values.Length == 0) throw new ArgumentException("no values", nameof(values));
        if (!sorted) Array.Sort(values);
        double position = level * (values.Length - 1);
        int below = (int)Math.Floor(position);
        int above = Math.Min(below + 1, values.Length - 1);
        return values[below] + (values[above] - values[below]) * (position - below);
    }
}

/// <summary>A history's covariate cells for sampling a model that reads covariates: the fitted spec, the columns in its order, the dates and the row labels (for messages).</summary>
internal sealed record CovariateHistory(SeriesCovariates Spec, IReadOnlyList<CovariateColumn> Columns, DateTime[]? Dates, IReadOnlyList<string> Labels)
{
    /// <summary>The rows after the history, for a model with future covariates; null when none.</summary>
    public SeriesFutureRows? Future { get; init; }
}
