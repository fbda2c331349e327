namespace GpuLstm.Runtime.Series;

/// <summary>
/// A series made ready for a model: the values it models (the original values, or with
/// <see cref="Difference"/> their first differences d[i] = y[i+1] − y[i]), their chronological split, the
/// scaler fitted on the training part of those modeled values only, the scaled values, and the windows.
/// A sample named by end e in modeled indices forecasts original values from index <see cref="OriginalEnd"/>
/// on, so model forecasts and baselines are compared on the same original targets.
/// </summary>
internal sealed class SeriesProblem
{
    public double[] Original { get; }
    public bool Difference { get; }
    public double[] Modeled { get; }
    public SeriesScaler Scaler { get; }
    public double[] Scaled { get; }
    public SeriesWindows Windows { get; }
    public SeriesSplit Split => Windows.Split;
    public int Horizon => Windows.Horizon;

    /// <summary>The covariates' fitted spec; empty (width 0) for a model reading the target alone.</summary>
    public SeriesCovariates Covariates { get; } = new([], false);

    /// <summary>Covariate inputs (modeled count, <see cref="SeriesCovariates.Width"/>) row-major, aligned with <see cref="Modeled"/>.</summary>
    public double[] CovariateFeatures { get; } = [];

    /// <summary>Which series of a many-series model this is, when the model reads a series embedding; <see cref="SeriesIdentity.None"/> otherwise.</summary>
    public SeriesIdentity Identity { get; }

    /// <summary>F: inputs per time step, the target, then its covariates, then the series identity.</summary>
    public int InputWidth => 1 + Covariates.Width + Identity.Width;

    /// <summary>
    /// With a linear base (--ar-base): the AR(p) fitted by least squares on the training part's scaled modeled values.
    /// The network then learns the residual: a sample's targets are its scaled values minus the base's recursive
    /// forecast from the same window, and forecasts add the base back. Null without one.
    /// </summary>
    public AutoRegression? Base { get; }

    // (modeled count, k): the base's forecast of scaled values e..e+k−1 from the p values before e, for every e ≥ p.
    private readonly double[] _baseForecasts = [];

    public SeriesProblem(double[] original, bool difference, SeriesScalerKind scale, int window, int horizon, double validationFraction, double testFraction,
        SeriesCovariateSource? covariates = null, SeriesIdentity identity = default, int baseOrder = 0, SeriesCovariates? fittedCovariates = null)
    {
        Identity = identity;
        ArgumentNullException.ThrowIfNull(original);
        if (window < 1) throw new GpuLstmException($"the window length must be at least 1, got {window}");
        if (horizon < 1) throw new GpuLstmException($"the horizon must be at least 1, got {horizon}");
        if (difference && original.Length < 2) throw new GpuLstmException($"differencing needs at least 2 values, got {original.Length}");
        Original = original;
        Difference = difference;
        Modeled = difference ? Differences(original) : original;
        var split = SeriesSplit.ByFractions(Modeled.Length, validationFraction, testFraction);
        Windows = new SeriesWindows(split, window, horizon);
        Scaler = split.FitScaler(scale, Modeled);
        Scaled = Scaler.Transform(Modeled);
        if (baseOrder > 0)
        {
            if (baseOrder > window) throw new GpuLstmException($"the AR base's order ({baseOrder}) must not exceed the window ({window}): it reads the same window");
            int train = split.Validation.End;
            if (train < AutoRegression.MinimumValues(baseOrder))
                throw new GpuLstmException($"the AR({baseOrder}) base needs at least {AutoRegression.MinimumValues(baseOrder)} values before the test part to be fitted on, and there are {train}; give a smaller --window or a larger series");
            Base = AutoRegression.Fit(Scaled.AsSpan(0, train), baseOrder);
            _baseForecasts = new double[Scaled.Length * horizon];
            for (int e = baseOrder; e < Scaled.Length; e++) Base.ForecastInto(Scaled.AsSpan(e - baseOrder, baseOrder), _baseForecasts.AsSpan(e * horizon, horizon));
        }
        if (covariates is { IsEmpty: false } source)
        {
            // Modeled index i is original row i + 1 when differenced (d[i] ends at y[i+1]): fit on the same rows the target's scaler saw.
            int shift = difference ? 1 : 0;
            // A many-series model's encoding is fitted once over every series' training part (fittedCovariates), so all series share one input layout.
            Covariates = fittedCovariates ?? SeriesCovariates.Fit(source.Columns, source.Dates, source.Calendar, scale, split.Train.End + shift, source.FutureCount);
            var all = Covariates.Transform(source.Columns, source.Dates, source.Labels);
            CovariateFeatures = all[(shift * Covariates.Width)..];
        }
    }

    /// <summary>
    /// A time-major batch (T, B, F) for the samples at <paramref name="ends"/>: per step the scaled target, then
    /// the past covariates and calendar of the same row (known up to the step they describe), then the future
    /// covariates of the row k later, then the series identity's one-hot; and targets (B, k).
    /// </summary>
    public void FillBatch(ReadOnlySpan<int> ends, Span<float> inputs, Span<float> targets)
    {
        int f = InputWidth, size = ends.Length, steps = Windows.Window;
        Windows.FillBatch(Scaled, ends, inputs, targets);
        if (Base is not null)
            for (int b = 0; b < size; b++) SubtractBase(ends[b], targets.Slice(b * Horizon, Horizon));
        if (f == 1) return;
        if (inputs.Length < steps * size * f) throw new ArgumentException($"inputs hold {inputs.Length} floats; the batch needs {steps} × {size} × {f}", nameof(inputs));
        // FillBatch wrote the target values in the (T, B, 1) layout into the front; spread it to (T, B, F) from the back so nothing is overwritten unread.
        for (int i = steps * size - 1; i >= 0; i--) inputs[i * f] = inputs[i];
        for (int b = 0; b < size; b++) FillFeatures(ends[b], b, size, f, inputs);
    }

    /// <summary>
    /// One sample of a batch whose samples may come from several series: column b of the (T, B, F)
    /// inputs (F = <see cref="InputWidth"/>) and row b of the (B, k) targets, for the sample ending at <paramref name="end"/>.
    /// </summary>
    public void FillSample(int end, int b, int size, Span<float> inputs, Span<float> targets)
    {
        int f = InputWidth, steps = Windows.Window, k = Horizon;
        if (end < steps || end + k > Scaled.Length) throw new ArgumentOutOfRangeException(nameof(end), end, $"a sample end must lie in [{steps}, {Scaled.Length - k}]");
        for (int t = 0; t < steps; t++) inputs[(t * size + b) * f] = (float)Scaled[end - steps + t];
        for (int j = 0; j < k; j++) targets[b * k + j] = (float)Scaled[end + j];
        if (Base is not null) SubtractBase(end, targets.Slice(b * k, k));
        if (f > 1) FillFeatures(end, b, size, f, inputs);
    }

    /// <summary>The network's targets for the sample at <paramref name="end"/>: the scaled values minus the linear base's forecast (in double, then rounded once).</summary>
    private void SubtractBase(int end, Span<float> targets)
    {
        for (int j = 0; j < targets.Length; j++) targets[j] = (float)(Scaled[end + j] - _baseForecasts[end * Horizon + j]);
    }

    /// <summary>Column b's covariates and identity, after the target at each step.</summary>
    private void FillFeatures(int end, int b, int size, int f, Span<float> inputs)
    {
        int steps = Windows.Window, w = Covariates.Width, past = Covariates.PastWidth, k = Horizon;
        for (int t = 0; t < steps; t++)
        {
            int row = end - steps + t, at = (t * size + b) * f + 1;
            for (int j = 0; j < past; j++) inputs[at + j] = (float)CovariateFeatures[row * w + j];
            // Future covariates are known ahead: step t carries row + k's, the last k steps the targets' own (row + k ≤ e + k − 1, a target row).
            for (int j = past; j < w; j++) inputs[at + j] = (float)CovariateFeatures[(row + k) * w + j];
            Identity.WriteOneHot(inputs.Slice(at + w, Identity.Count));
        }
    }

    public static double[] Differences(ReadOnlySpan<double> values)
    {
        var d = new double[Math.Max(0, values.Length - 1)];
        for (int i = 0; i < d.Length; i++) d[i] = values[i + 1] - values[i];
        return d;
    }

    /// <summary>The original index of the first value forecast by the sample ending at modeled index e.</summary>
    public int OriginalEnd(int e) => Difference ? e + 1 : e;

    /// <summary>
    /// Model outputs (B,k) in scaled modeled units for the samples at <paramref name="ends"/> → original units:
    /// the linear base's forecast added (with one), inverse-scaled, and with differencing integrated from the last
    /// known value y[e'−1].
    /// </summary>
    public double[] ToOriginal(ReadOnlySpan<int> ends, ReadOnlySpan<float> scaled)
    {
        int k = Horizon;
        double[] result;
        if (Base is null) result = Scaler.Inverse(scaled[..(ends.Length * k)]);
        else
        {
            result = new double[ends.Length * k];
            for (int b = 0; b < ends.Length; b++)
                for (int j = 0; j < k; j++) result[b * k + j] = Scaler.Inverse(scaled[b * k + j] + _baseForecasts[ends[b] * k + j]);
        }
        if (!Difference) return result;
        for (int b = 0; b < ends.Length; b++)
        {
            double level = Original[OriginalEnd(ends[b]) - 1];
            for (int j = 0; j < k; j++)
            {
                level += result[b * k + j];
                result[b * k + j] = level;
            }
        }
        return result;
    }

    /// <summary>The original targets (B,k) of the samples at <paramref name="ends"/>.</summary>
    public double[] OriginalTargets(ReadOnlySpan<int> ends)
    {
        int k = Horizon;
        var result = new double[ends.Length * k];
        for (int b = 0; b < ends.Length; b++)
            for (int j = 0; j < k; j++) result[b * k + j] = Original[OriginalEnd(ends[b]) + j];
        return result;
    }

    /// <summary>The sample ends in original indices, for the baselines.</summary>
    public int[] OriginalEnds(ReadOnlySpan<int> ends)
    {
        var result = new int[ends.Length];
        for (int b = 0; b < ends.Length; b++) result[b] = OriginalEnd(ends[b]);
        return result;
    }
}

/// <summary>Covariate columns and what calendar features need, in original rows (before differencing).</summary>
internal sealed record SeriesCovariateSource(IReadOnlyList<CovariateColumn> Columns, DateTime[]? Dates, bool Calendar, IReadOnlyList<string> Labels)
{
    /// <summary>How many of the last <see cref="Columns"/> are future covariates (known ahead).</summary>
    public int FutureCount { get; init; }

    public bool IsEmpty => Columns.Count == 0 && !Calendar;
}
