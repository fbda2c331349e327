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

    public SeriesProblem(double[] original, bool difference, SeriesScalerKind scale, int window, int horizon, double validationFraction, double testFraction)
    {
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
    /// inverse-scaled, and with differencing integrated from the last known value y[e'−1].
    /// </summary>
    public double[] ToOriginal(ReadOnlySpan<int> ends, ReadOnlySpan<float> scaled)
    {
        int k = Horizon;
        var result = Scaler.Inverse(scaled[..(ends.Length * k)]);
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
