namespace GpuLstm.Runtime.Series;

/// <summary>
/// Errors of rolling-origin forecasts, with the M4 competition's definitions: RMSE, MAE, sMAPE (in percent,
/// 200 · |y − ŷ| / (|y| + |ŷ|) averaged over the pairs; a pair with y = ŷ = 0 counts 0) and MASE (each
/// absolute error divided by its origin's in-sample seasonal-naive error, then averaged).
/// </summary>
internal readonly record struct BacktestMetrics(double Rmse, double Mae, double Smape, double Mase)
{
    /// <summary>Each metric's mean over several series' metrics (every series weighs the same); a MASE that is n/a in any series makes the mean n/a.</summary>
    public static BacktestMetrics Mean(IEnumerable<BacktestMetrics> metrics)
    {
        var all = metrics.ToArray();
        if (all.Length == 0) throw new ArgumentException("no metrics to average", nameof(metrics));
        return new BacktestMetrics(all.Average(x => x.Rmse), all.Average(x => x.Mae), all.Average(x => x.Smape), all.Average(x => x.Mase));
    }

    /// <summary>
    /// MASE's scale for an origin: mean |y[t] − y[t − m]| over t = m..n−1 of the <paramref name="history"/>
    /// before it, with m = <paramref name="season"/> (1 when there is no season). Null when the history is too
    /// short (n ≤ m) or the scale is 0 (a history that never changes), where MASE is undefined.
    /// </summary>
    public static double? MaseScale(ReadOnlySpan<double> history, int season)
    {
        int m = Math.Max(1, season);
        if (history.Length <= m) return null;
        double sum = 0;
        for (int t = m; t < history.Length; t++) sum += Math.Abs(history[t] - history[t - m]);
        double scale = sum / (history.Length - m);
        return scale > 0 ? scale : null;
    }

    /// <summary>sMAPE's term for one pair, in percent.</summary>
    public static double SmapeTerm(double actual, double predicted)
    {
        double denominator = Math.Abs(actual) + Math.Abs(predicted);
        return denominator == 0 ? 0 : 200 * Math.Abs(actual - predicted) / denominator;
    }

    /// <summary>
    /// Metrics over every (origin, step) pair of (origins, h) row-major <paramref name="actual"/> and
    /// <paramref name="predicted"/>; <paramref name="scales"/> (origins) holds each origin's MASE scale. MASE is
    /// NaN when any origin has no scale.
    /// </summary>
    public static BacktestMetrics Overall(ReadOnlySpan<double> actual, ReadOnlySpan<double> predicted, ReadOnlySpan<double?> scales, int horizon) =>
        Over(actual, predicted, scales, horizon, step: null);

    /// <summary>The same metrics per horizon step j = 0..h−1, each over the origins.</summary>
    public static BacktestMetrics[] PerStep(ReadOnlySpan<double> actual, ReadOnlySpan<double> predicted, ReadOnlySpan<double?> scales, int horizon)
    {
        var result = new BacktestMetrics[horizon];
        for (int j = 0; j < horizon; j++) result[j] = Over(actual, predicted, scales, horizon, j);
        return result;
    }

    private static BacktestMetrics Over(ReadOnlySpan<double> actual, ReadOnlySpan<double> predicted, ReadOnlySpan<double?> scales, int horizon, int? step)
    {
        if (horizon < 1) throw new ArgumentOutOfRangeException(nameof(horizon));
        if (actual.Length != predicted.Length || actual.Length != scales.Length * horizon)
            throw new ArgumentException($"{actual.Length} actual values, {predicted.Length} predictions and {scales.Length} origins of horizon {horizon} do not match");
        if (actual.IsEmpty) throw new ArgumentException("metrics need at least one pair", nameof(actual));
        double squares = 0, absolute = 0, smape = 0, scaled = 0;
        int count = 0;
        bool scaledAll = true;
        for (int o = 0; o < scales.Length; o++)
        {
            for (int j = step ?? 0; j < (step is int s ? s + 1 : horizon); j++)
            {
                double y = actual[o * horizon + j], yHat = predicted[o * horizon + j], error = Math.Abs(y - yHat);
                squares += error * error;
                absolute += error;
                smape += SmapeTerm(y, yHat);
                if (scales[o] is double scale) scaled += error / scale;
                else scaledAll = false;
                count++;
            }
        }
        return new BacktestMetrics(Math.Sqrt(squares / count), absolute / count, smape / count, scaledAll ? scaled / count : double.NaN);
    }
}

/// <summary>
/// How a probabilistic forecaster's quantiles did over backtest pairs: the share of actual values inside the
/// outermost central interval [q(Low), q(High)] (both ends included), and the pinball loss averaged over every
/// pair and every level, ρ_τ(y − q) = max(τ·(y − q), (τ − 1)·(y − q)), in original units.
/// </summary>
internal readonly record struct IntervalScore(double Low, double High, int Inside, int Count, double MeanPinball)
{
    public double Coverage => (double)Inside / Count;
    public double Nominal => High - Low;

    /// <summary>The pinball loss of quantile <paramref name="forecast"/> at <paramref name="level"/> for <paramref name="actual"/>.</summary>
    public static double Pinball(double actual, double forecast, double level)
    {
        double error = actual - forecast;
        return Math.Max(level * error, (level - 1) * error);
    }

    /// <summary>
    /// The score over every (origin, step) pair of (origins, h) row-major <paramref name="actual"/> with
    /// (origins, h, Q) row-major <paramref name="quantiles"/> at ascending <paramref name="levels"/> (Q ≥ 2).
    /// </summary>
    public static IntervalScore Overall(ReadOnlySpan<double> actual, ReadOnlySpan<double> quantiles, IReadOnlyList<double> levels, int horizon) =>
        Over(actual, quantiles, levels, horizon, step: null);

    /// <summary>The same score per horizon step j = 0..h−1, each over the origins.</summary>
    public static IntervalScore[] PerStep(ReadOnlySpan<double> actual, ReadOnlySpan<double> quantiles, IReadOnlyList<double> levels, int horizon)
    {
        var result = new IntervalScore[horizon];
        for (int j = 0; j < horizon; j++) result[j] = Over(actual, quantiles, levels, horizon, j);
        return result;
    }

    private static IntervalScore Over(ReadOnlySpan<double> actual, ReadOnlySpan<double> quantiles, IReadOnlyList<double> levels, int horizon, int? step)
    {
        ArgumentNullException.ThrowIfNull(levels);
        if (horizon < 1) throw new ArgumentOutOfRangeException(nameof(horizon));
        int q = levels.Count;
        if (q < 2) throw new ArgumentException("an interval needs at least two levels", nameof(levels));
        if (actual.IsEmpty || actual.Length % horizon != 0 || quantiles.Length != actual.Length * q)
            throw new ArgumentException($"{actual.Length} actual values of horizon {horizon} and {quantiles.Length} quantiles at {q} levels do not match");
        int origins = actual.Length / horizon, inside = 0, count = 0;
        double pinball = 0;
        for (int o = 0; o < origins; o++)
            for (int j = step ?? 0; j < (step is int s ? s + 1 : horizon); j++)
            {
                int pair = o * horizon + j;
                double y = actual[pair];
                var row = quantiles.Slice(pair * q, q);
                if (y >= row[0] && y <= row[^1]) inside++;
                for (int l = 0; l < q; l++) pinball += Pinball(y, row[l], levels[l]);
                count++;
            }
        return new IntervalScore(levels[0], levels[^1], inside, count, pinball / ((double)count * q));
    }
}
