using GpuLstm.Runtime.Models;

namespace GpuLstm.Runtime.Series;

/// <summary>
/// A trained series model put to use: its loss and forecasts on a part of the problem (validation, test), and
/// recursive multi-step forecasting past the end of a series with labels for the forecast steps.
/// </summary>
internal static class SeriesForecast
{
    /// <summary>
    /// Feeds the last <paramref name="window"/> values of <paramref name="history"/> (scaled, modeled units) to
    /// <paramref name="predict"/> (window in, horizon values out), appends the predicted block to the history,
    /// and repeats until <paramref name="steps"/> values exist; returns those values (a last block is cut short).
    /// </summary>
    public static double[] Recursive(ReadOnlySpan<double> history, int window, int horizon, int steps, Action<float[], float[]> predict)
    {
        if (steps < 1) throw new GpuLstmException($"the number of forecast steps must be at least 1, got {steps}");
        var result = new double[steps];
        int made = 0;
        foreach (double v in RecursiveStream(history, window, horizon, predict))
        {
            result[made++] = v;
            if (made == steps) break;
        }
        return result;
    }

    /// <summary>
    /// The recursive forecast as an endless stream, in constant memory: only the last <paramref name="window"/>
    /// values are kept. A consumer takes as many values as it wants (and may stop at any time).
    /// </summary>
    public static IEnumerable<double> RecursiveStream(ReadOnlySpan<double> history, int window, int horizon, Action<float[], float[]> predict)
    {
        ArgumentNullException.ThrowIfNull(predict);
        if (window < 1) throw new ArgumentOutOfRangeException(nameof(window));
        if (horizon < 1) throw new ArgumentOutOfRangeException(nameof(horizon));
        if (history.Length < window) throw new GpuLstmException($"a forecast needs the last {window} values, but the series has {history.Length}");
        return Stream(history[^window..].ToArray(), horizon, predict);

        static IEnumerable<double> Stream(double[] last, int horizon, Action<float[], float[]> predict)
        {
            int window = last.Length;
            // The last `window` values, oldest first, in a buffer of twice that size compacted when full.
            var series = new double[2 * window + horizon];
            last.CopyTo(series, 0);
            int count = window;
            var input = new float[window];
            var output = new float[horizon];
            for (long made = 0; ; made += horizon)
            {
                for (int t = 0; t < window; t++) input[t] = (float)series[count - window + t];
                predict(input, output);
                if (count + horizon > series.Length)
                {
                    Array.Copy(series, count - window, series, 0, window);
                    count = window;
                }
                for (int j = 0; j < horizon; j++)
                {
                    if (!float.IsFinite(output[j])) throw new GpuLstmException($"the model forecast a non-finite value at step {made + j + 1}");
                    series[count++] = output[j];
                }
                for (int j = 0; j < horizon; j++) yield return output[j];
            }
        }
    }

    /// <summary>
    /// The dates of the <paramref name="steps"/> values after the end of a series when its dates are regular
    /// (yearly, monthly, or mostly one fixed interval such as a day; gaps are tolerated), else null.
    /// </summary>
    public static DateTime[]? FutureDates(DateTime[]? dates, int steps)
    {
        var next = dates is { Length: >= 2 } ? Stepper(dates) : null;
        if (next is null) return null;
        var result = new DateTime[steps];
        try
        {
            for (int i = 0; i < steps; i++) result[i] = next(dates![^1], i + 1);
        }
        catch (ArgumentOutOfRangeException) { return null; }
        return result;
    }

    /// <summary>
    /// The labels of the <paramref name="steps"/> values after the end of a series: its next dates (see
    /// <see cref="FutureDates"/>) written like its last label; otherwise "+1", "+2", ….
    /// </summary>
    public static string[] FutureLabels(DateTime[]? dates, string? lastLabel, int steps)
    {
        var future = lastLabel is null ? null : FutureDates(dates, steps);
        var labels = new string[steps];
        if (future is null)
        {
            for (int i = 0; i < steps; i++) labels[i] = "+" + (i + 1).ToString(System.Globalization.CultureInfo.InvariantCulture);
            return labels;
        }
        string format = FormatOf(dates![^1], lastLabel!);
        for (int i = 0; i < steps; i++) labels[i] = future[i].ToString(format, System.Globalization.CultureInfo.InvariantCulture);
        return labels;
    }

    /// <summary>
    /// The label of the i-th value (1-based) after the end of a series, computed one at a time: its date written
    /// like the last label when the dates are regular and the date exists, otherwise "+i".
    /// </summary>
    public static Func<long, string> FutureLabeler(DateTime[]? dates, string? lastLabel)
    {
        static string Offset(long i) => "+" + i.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var next = lastLabel is not null && dates is { Length: >= 2 } ? Stepper(dates) : null;
        if (next is null) return Offset;
        string format = FormatOf(dates![^1], lastLabel!);
        var last = dates[^1];
        return i =>
        {
            if (i > int.MaxValue) return Offset(i);
            try { return next(last, (int)i).ToString(format, System.Globalization.CultureInfo.InvariantCulture); }
            catch (ArgumentOutOfRangeException) { return Offset(i); } // past year 9999
        };
    }

    /// <summary>The i-th date (1-based) after the end of regular <paramref name="dates"/>, or null when they are not regular.</summary>
    public static Func<int, DateTime>? FutureDate(DateTime[]? dates)
    {
        var next = dates is { Length: >= 2 } ? Stepper(dates) : null;
        if (next is null) return null;
        var last = dates![^1];
        return i => next(last, i);
    }

    /// <summary>
    /// Forecast past the end of a series for a model that reads covariates, in original units, as a stream.
    /// Past covariates are known only up to the end, so such a model forecasts one block of its horizon and
    /// the stream ends there (direct multi-horizon: train with a larger horizon for more). A model without past
    /// covariates forecasts recursively: the calendar of each future step comes from the dates' regular
    /// interval (so <paramref name="dates"/> must be regular), and future covariates come from
    /// <paramref name="futureRows"/>, the rows after the end; the stream ends before a block whose last
    /// step's row k later has none.
    /// </summary>
    public static IEnumerable<double> CovariateStream(SeriesModel model, double[] original, bool difference, SeriesScaler scaler,
        SeriesCovariates covariates, IReadOnlyList<CovariateColumn> columns, DateTime[]? dates, IReadOnlyList<string> labels, SeriesFutureRows? futureRows = null,
        SeriesIdentity identity = default, AutoRegression? linearBase = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(covariates);
        var c = model.Config;
        int window = c.Window, horizon = c.Horizon, width = covariates.Width, f = 1 + width + identity.Width;
        if (c.Features != f) throw new ArgumentException($"the model reads {c.Features} features per step, the covariates and the identity give {f}", nameof(model));
        var modeled = difference ? SeriesProblem.Differences(original) : original;
        if (modeled.Length < window)
            throw new GpuLstmException($"a forecast needs the last {window} values{(difference ? " (differences)" : "")}, but the series has {modeled.Length}");
        int shift = difference ? 1 : 0;
        var history = covariates.Transform(columns, dates, labels);
        int past = covariates.PastWidth, futureWidth = covariates.FutureWidth;
        var ahead = futureWidth > 0 && futureRows is not null ? covariates.TransformFuture(futureRows.Covariates, futureRows.Labels) : [];
        int aheadRows = futureWidth > 0 ? ahead.Length / futureWidth : 0;
        bool recursive = covariates.PastColumnCount == 0;
        Func<int, DateTime>? calendarDate = null;
        if (recursive && covariates.Calendar)
            calendarDate = FutureDate(dates) ?? throw new GpuLstmException("the model reads calendar features, but the dates are not regular, so the future steps' dates are unknown");
        return Stream();

        IEnumerable<double> Stream()
        {
            // The scaled target and features of every modeled row so far, history then forecasts; a forecast
            // row's own future part is never read (a step reads the future part of the row k later, from `ahead`).
            var scaled = new List<double>(scaler.Transform(modeled));
            var features = new List<double>(history[(shift * width)..]);
            int known = scaled.Count;   // modeled rows with observed covariates; row known + i is futureRows row i
            var input = new float[window * f];
            var output = new float[horizon];
            var appended = new double[width];
            var baseWindow = new double[window];
            var baseline = new double[horizon];
            double? level = difference ? original[^1] : null;
            for (long made = 0; ; made += horizon)
            {
                int end = scaled.Count;
                if (futureWidth > 0 && end + horizon - 1 - known >= aheadRows) yield break;   // the block's last target row has no future covariates
                for (int t = 0; t < window; t++)
                {
                    int row = end - window + t, at = t * f;
                    input[at] = (float)scaled[row];
                    for (int j = 0; j < past; j++) input[at + 1 + j] = (float)features[row * width + j];
                    int later = row + horizon;
                    for (int j = 0; j < futureWidth; j++)
                        input[at + 1 + past + j] = (float)(later < known ? features[later * width + past + j] : ahead[(later - known) * futureWidth + j]);
                    identity.WriteOneHot(input.AsSpan(at + 1 + width, identity.Count));
                }
                model.Predict(input, 1, output);
                if (linearBase is not null)
                {
                    // A hybrid's network forecasts the residual of its AR base (of the target alone) from the same window.
                    for (int t = 0; t < window; t++) baseWindow[t] = scaled[end - window + t];
                    linearBase.ForecastInto(baseWindow, baseline);
                    for (int j = 0; j < horizon; j++) output[j] = (float)(output[j] + baseline[j]);
                }
                for (int j = 0; j < horizon; j++)
                {
                    if (!float.IsFinite(output[j])) throw new GpuLstmException($"the model forecast a non-finite value at step {made + j + 1}");
                    double value = scaler.Inverse(output[j]);
                    if (level is double l) level = value = l + value;
                    yield return value;
                }
                if (!recursive) yield break;   // past covariates: their future is unknown
                for (int j = 0; j < horizon; j++)
                {
                    scaled.Add(output[j]);
                    if (calendarDate is not null)
                        SeriesCovariates.CalendarFeatures(CalendarDate(calendarDate, made + j + 1), appended.AsSpan(past - SeriesCovariates.CalendarWidth, SeriesCovariates.CalendarWidth));
                    features.AddRange(appended);
                }
                // Constant memory however far the stream goes: the next block reads only the last `window` rows
                // (and, for future covariates, rows known + i from `ahead`, relative to `known`), so drop the rest now
                // and then, shifting `known` with them.
                if (scaled.Count > 4 * (window + horizon) + 1024)
                {
                    int drop = scaled.Count - (window + horizon);
                    scaled.RemoveRange(0, drop);
                    features.RemoveRange(0, drop * width);
                    known -= drop;
                }
            }
        }
    }

    /// <summary>
    /// The date of forecast step <paramref name="step"/> for calendar features, or a one-line error when it is past
    /// the last representable date (year 9999): the features cannot be computed there, so the forecast stops.
    /// </summary>
    internal static DateTime CalendarDate(Func<int, DateTime> date, long step)
    {
        const string Message = "the forecast reaches past the year 9999, whose dates its calendar features need; ask for fewer steps";
        if (step > int.MaxValue) throw new GpuLstmException(Message);
        try { return date((int)step); }
        catch (ArgumentOutOfRangeException) { throw new GpuLstmException(Message); }
    }

    private static Func<DateTime, int, DateTime>? Stepper(DateTime[] dates)
    {
        int pairs = dates.Length - 1, months = 0, years = 0;
        var counts = new Dictionary<TimeSpan, int>();
        for (int i = 1; i < dates.Length; i++)
        {
            if (dates[i] == dates[i - 1].AddMonths(1)) months++;
            if (dates[i] == dates[i - 1].AddYears(1)) years++;
            var gap = dates[i] - dates[i - 1];
            counts[gap] = counts.GetValueOrDefault(gap) + 1;
        }
        if (years * 2 > pairs) return (d, n) => d.AddYears(n);
        if (months * 2 > pairs) return (d, n) => d.AddMonths(n);
        var (common, count) = counts.MaxBy(p => p.Value);
        if (count * 2 > pairs && common > TimeSpan.Zero) return (d, n) => d + common * n;
        return null;
    }

    private static string FormatOf(DateTime last, string label)
    {
        foreach (string f in new[] { "yyyy", "yyyy-MM", "yyyy-MM-dd", "yyyy/MM", "yyyy/MM/dd", "yyyy-MM-dd HH:mm", "yyyy-MM-dd HH:mm:ss",
                     "yyyy-MM-ddTHH:mm", "yyyy-MM-ddTHH:mm:ss", "yyyy-MM-ddTHH:mm:ssZ", "yyyy-MM-dd HH:mm:ssZ" })
            if (last.ToString(f, System.Globalization.CultureInfo.InvariantCulture) == label) return f;
        return last.TimeOfDay == TimeSpan.Zero ? "yyyy-MM-dd" : "yyyy-MM-ddTHH:mm:ssZ";
    }

    /// <summary>
    /// The head's mean loss (scaled units) over every series' samples of <paramref name="part"/>, each sample
    /// weighing the same, in full batches across the series as training draws them (one buffer for the pass).
    /// </summary>
    public static double Evaluate(SeriesModel model, SeriesPanel panel, SeriesPart part)
    {
        var samples = panel.Samples(part);
        if (samples.Length == 0) throw new GpuLstmException($"the {SeriesWindows.Name(part)} part has no samples");
        int b = model.MaxBatch;
        var inputs = new float[panel.Window * b * panel.InputWidth];
        var targets = new float[b * panel.Horizon];
        double sum = 0;
        for (int start = 0; start < samples.Length; start += b)
        {
            int size = Math.Min(b, samples.Length - start);
            panel.FillBatch(samples.AsSpan(start, size), inputs, targets);
            sum += model.Loss(inputs, targets, size) * size;
        }
        return sum / samples.Length;
    }

    /// <summary>The head's mean loss (scaled units) over all of one series' <paramref name="part"/> samples.</summary>
    public static double Evaluate(SeriesModel model, SeriesProblem problem, SeriesPart part) => Evaluate(model, new SeriesPanel([problem], ["series"]), part);

    /// <summary>The model's forecasts (B,k) in scaled modeled units for the samples at <paramref name="ends"/>.</summary>
    public static float[] Predict(SeriesModel model, SeriesProblem problem, ReadOnlySpan<int> ends)
    {
        var windows = problem.Windows;
        int b = model.MaxBatch, k = windows.Horizon;
        var inputs = new float[windows.Window * b * problem.InputWidth];
        var targets = new float[b * k];
        var result = new float[ends.Length * k];
        for (int start = 0; start < ends.Length; start += b)
        {
            int size = Math.Min(b, ends.Length - start);
            problem.FillBatch(ends.Slice(start, size), inputs, targets);
            model.Predict(inputs, size, result.AsSpan(start * k, size * k));
        }
        return result;
    }

    /// <summary>
    /// <paramref name="steps"/> values past the end of the series in original units: the last window of the
    /// scaled modeled series through the model recursively, inverse-scaled, and integrated when differenced.
    /// </summary>
    public static double[] ForecastAhead(SeriesModel model, double[] original, bool difference, SeriesScaler scaler, int steps, SeriesIdentity identity = default,
        AutoRegression? linearBase = null)
    {
        if (steps < 1) throw new GpuLstmException($"the number of forecast steps must be at least 1, got {steps}");
        return ForecastStream(model, original, difference, scaler, identity, linearBase).Take(steps).ToArray();
    }

    /// <summary>
    /// The same forecast as an endless stream in original units, in constant memory: take as many values as
    /// needed, as they are computed.
    /// </summary>
    public static IEnumerable<double> ForecastStream(SeriesModel model, double[] original, bool difference, SeriesScaler scaler, SeriesIdentity identity = default,
        AutoRegression? linearBase = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(original);
        ArgumentNullException.ThrowIfNull(scaler);
        var modeled = difference ? SeriesProblem.Differences(original) : original;
        var scaled = scaler.Transform(modeled);
        var c = model.Config;
        if (c.Features != 1 + identity.Width) throw new ArgumentException($"the model reads {c.Features} features per step; the target and the identity give {1 + identity.Width}", nameof(model));
        var wide = identity.Count > 0 ? new float[c.Window * c.Features] : [];
        var window = new double[c.Window];
        var baseline = new double[c.Horizon];
        var raw = SeriesForecast.RecursiveStream(scaled, c.Window, c.Horizon, (input, output) =>
        {
            model.Predict(identity.Widen(input, c.Window, 1, 1, wide), 1, output);
            if (linearBase is null) return;
            // A hybrid's network forecasts the residual of the linear base's forecast from the same window.
            for (int t = 0; t < window.Length; t++) window[t] = input[t];
            linearBase.ForecastInto(window, baseline);
            for (int j = 0; j < output.Length; j++) output[j] = (float)(output[j] + baseline[j]);
        });
        return Integrate(raw, scaler, difference ? original[^1] : (double?)null);

        static IEnumerable<double> Integrate(IEnumerable<double> raw, SeriesScaler scaler, double? level)
        {
            foreach (double v in raw)
            {
                double value = scaler.Inverse(v);
                if (level is double l) level = value = l + value;
                yield return value;
            }
        }
    }
}
