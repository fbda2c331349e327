namespace GpuLstm.Runtime.Series;

/// <summary>
/// Forecasts that need no model, to judge one by, on the same samples (usually the test part's). Both read
/// the raw series and use only values before each sample's end e. Predictions are (B, k) row-major like
/// <see cref="SeriesWindows.Targets"/>.
/// </summary>
internal static class SeriesBaselines
{
    /// <summary>Persistence: every step of the horizon predicts the last known value, y[e − 1].</summary>
    public static double[] Persistence(ReadOnlySpan<double> values, ReadOnlySpan<int> ends, int horizon)
    {
        if (horizon < 1) throw new GpuLstmException($"the horizon must be at least 1, got {horizon}");
        var result = new double[ends.Length * horizon];
        for (int b = 0; b < ends.Length; b++)
        {
            int e = ends[b];
            if (e < 1 || e + horizon > values.Length)
                throw new ArgumentOutOfRangeException(nameof(ends), e, $"a sample end must lie in [1, {values.Length - horizon}]");
            for (int j = 0; j < horizon; j++) result[b * horizon + j] = values[e - 1];
        }
        return result;
    }

    /// <summary>
    /// Seasonal naive with season s: target e + j is predicted by y[e + j − s · ceil((j + 1) / s)], the most
    /// recent value before e from the same season. It needs s values before every sample (e ≥ s).
    /// </summary>
    public static double[] SeasonalNaive(ReadOnlySpan<double> values, ReadOnlySpan<int> ends, int horizon, int season)
    {
        if (horizon < 1) throw new GpuLstmException($"the horizon must be at least 1, got {horizon}");
        if (season < 1) throw new GpuLstmException($"the season length must be at least 1, got {season}");
        var result = new double[ends.Length * horizon];
        for (int b = 0; b < ends.Length; b++)
        {
            int e = ends[b];
            if (e + horizon > values.Length || e < 0)
                throw new ArgumentOutOfRangeException(nameof(ends), e, $"a sample end must lie in [0, {values.Length - horizon}]");
            if (e < season)
                throw new GpuLstmException(
                    $"seasonal naive with season {season} needs {season} values before each forecast, but the sample at index {e} has only {e}");
            for (int j = 0; j < horizon; j++)
            {
                int back = season * ((j + season) / season);   // s · ceil((j + 1) / s)
                result[b * horizon + j] = values[e + j - back];
            }
        }
        return result;
    }

    /// <summary>Persistence's errors on <paramref name="part"/>'s samples (the test part by default), in the units of <paramref name="values"/>.</summary>
    public static ForecastMetrics EvaluatePersistence(ReadOnlySpan<double> values, SeriesWindows windows, SeriesPart part = SeriesPart.Test)
    {
        ArgumentNullException.ThrowIfNull(windows);
        var ends = Ends(windows, part);
        return ForecastMetrics.Compute(windows.Targets(values, ends), Persistence(values, ends, windows.Horizon));
    }

    /// <summary>Seasonal naive's errors on <paramref name="part"/>'s samples (the test part by default), in the units of <paramref name="values"/>.</summary>
    public static ForecastMetrics EvaluateSeasonalNaive(ReadOnlySpan<double> values, SeriesWindows windows, int season, SeriesPart part = SeriesPart.Test)
    {
        ArgumentNullException.ThrowIfNull(windows);
        var ends = Ends(windows, part);
        return ForecastMetrics.Compute(windows.Targets(values, ends), SeasonalNaive(values, ends, windows.Horizon, season));
    }

    private static int[] Ends(SeriesWindows windows, SeriesPart part)
    {
        var ends = windows.Samples(part);
        if (ends.Length == 0) throw new GpuLstmException($"the {SeriesWindows.Name(part)} part is empty; there is nothing to evaluate a baseline on");
        return ends;
    }
}
