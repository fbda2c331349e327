namespace GpuLstm;

/// <summary>
/// Point-forecast errors over <see cref="Count"/> (actual, predicted) pairs, in the units of the values given.
/// MAPE is in percent, over the pairs whose |actual| ≥ 1e-12 only; <see cref="MapeSkipped"/> says how many
/// were left out, and MAPE is NaN when all were. For horizon k the pairs are all k · samples of them,
/// e.g. (B, k) arrays flattened.
/// </summary>
public readonly record struct ForecastMetrics(double Rmse, double Mae, double Mape, int Count, int MapeSkipped)
{
    /// <summary>Actual values with a magnitude below this are left out of MAPE.</summary>
    public const double MapeZeroThreshold = 1e-12;

    public static ForecastMetrics Compute(ReadOnlySpan<double> actual, ReadOnlySpan<double> predicted)
    {
        if (actual.Length != predicted.Length)
            throw new ArgumentException($"{actual.Length} actual values but {predicted.Length} predictions");
        if (actual.IsEmpty) throw new ArgumentException("metrics need at least one pair", nameof(actual));
        double squares = 0, absolute = 0, percent = 0;
        int skipped = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            double error = predicted[i] - actual[i];
            squares += error * error;
            absolute += Math.Abs(error);
            if (Math.Abs(actual[i]) < MapeZeroThreshold) skipped++;
            else percent += Math.Abs(error / actual[i]);
        }
        int n = actual.Length, used = n - skipped;
        return new ForecastMetrics(
            Math.Sqrt(squares / n),
            absolute / n,
            used == 0 ? double.NaN : 100.0 * percent / used,
            n,
            skipped);
    }

    /// <summary>Metrics per horizon step j = 0..k−1, from (B, k) row-major arrays.</summary>
    public static ForecastMetrics[] ComputePerStep(ReadOnlySpan<double> actual, ReadOnlySpan<double> predicted, int horizon)
    {
        if (horizon < 1) throw new ArgumentOutOfRangeException(nameof(horizon));
        if (actual.Length != predicted.Length)
            throw new ArgumentException($"{actual.Length} actual values but {predicted.Length} predictions");
        if (actual.Length % horizon != 0)
            throw new ArgumentException($"{actual.Length} values are not whole rows of horizon {horizon}");
        int rows = actual.Length / horizon;
        var result = new ForecastMetrics[horizon];
        var a = new double[rows];
        var p = new double[rows];
        for (int j = 0; j < horizon; j++)
        {
            for (int b = 0; b < rows; b++)
            {
                a[b] = actual[b * horizon + j];
                p[b] = predicted[b * horizon + j];
            }
            result[j] = Compute(a, p);
        }
        return result;
    }
}
