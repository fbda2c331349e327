using System.Globalization;
using GpuLstm.Kernels;

namespace GpuLstm.Runtime.Models;

/// <summary>
/// The forecaster's output head: its <see cref="SeriesLikelihood"/> and, for quantile heads, the levels. A row of
/// head outputs is <see cref="OutputsPerStep"/> blocks of K (one value per horizon step each): Point [ŷ];
/// Gaussian [μ | raw scale s], σ = softplus(s) + floor (LossKernels.GaussianScale); Quantile [q(τ_0) | q(τ_1) | …]
/// in the levels' (ascending) order.
/// </summary>
internal sealed record SeriesHead
{
    public static SeriesHead Point { get; } = new(SeriesLikelihood.Point, []);
    public static SeriesHead Gaussian { get; } = new(SeriesLikelihood.Gaussian, []);

    /// <summary>The level whose forecast is the point forecast of a quantile head: the median.</summary>
    public const double MedianLevel = 0.5;

    /// <summary>The two levels a Gaussian head's interval is reported at (an 80% central interval), like the quantile head's default set.</summary>
    public static readonly double[] GaussianIntervalLevels = [0.1, 0.9];

    public SeriesLikelihood Likelihood { get; }

    /// <summary>Quantile levels, ascending, distinct, in (0,1), including 0.5; empty for Point and Gaussian.</summary>
    public IReadOnlyList<double> Quantiles => _quantiles;
    private readonly double[] _quantiles;

    private SeriesHead(SeriesLikelihood likelihood, double[] quantiles)
    {
        Likelihood = likelihood;
        _quantiles = quantiles;
    }

    /// <summary>A quantile head for <paramref name="levels"/>; a <see cref="SettingException"/> unless they are ascending, distinct, in (0,1), and include 0.5.</summary>
    public static SeriesHead Quantile(IReadOnlyList<double> levels)
    {
        ArgumentNullException.ThrowIfNull(levels);
        if (levels.Count == 0) throw new SettingException("Quantiles", "a quantile head needs at least one quantile level", "the quantile levels");
        // Kept as the float the kernel reads, and checked as that: two levels one float apart would be one level
        // there, and a level must survive a checkpoint's round trip to compare equal.
        var rounded = levels.Select(q => (double)(float)q).ToArray();
        for (int i = 0; i < rounded.Length; i++)
        {
            double q = rounded[i];
            if (!double.IsFinite(q) || q <= 0 || q >= 1)
                throw new SettingException("Quantiles", string.Create(CultureInfo.InvariantCulture, $"quantile levels must lie strictly between 0 and 1, got {q}"), "the quantile levels");
            if (i > 0 && q <= rounded[i - 1])
                throw new SettingException("Quantiles", string.Create(CultureInfo.InvariantCulture,
                    $"quantile levels must be in ascending order without repeats, got {(float)rounded[i - 1]} then {(float)q}"), "the quantile levels");
        }
        // The median is the point forecast the test metrics, the baselines and a plot's line compare; a set
        // without it would be scored on some other quantile, which is not a forecast of the value.
        if (!rounded.Contains(MedianLevel))
            throw new SettingException("Quantiles", "the quantile levels must include 0.5: the median is the point forecast the test metrics use", "the quantile levels");
        return new(SeriesLikelihood.Quantile, rounded);
    }

    /// <summary>The head for <paramref name="likelihood"/> (and levels when Quantile; none otherwise).</summary>
    public static SeriesHead For(SeriesLikelihood likelihood, IReadOnlyList<double>? levels)
    {
        if (likelihood != SeriesLikelihood.Quantile && levels is { Count: > 0 })
            throw new SettingException("Quantiles", "quantile levels need the quantile likelihood (--likelihood quantile)", "the quantile levels");
        return likelihood switch
        {
            SeriesLikelihood.Point => Point,
            SeriesLikelihood.Gaussian => Gaussian,
            SeriesLikelihood.Quantile => Quantile(levels is { Count: > 0 } ? levels : DefaultQuantiles),
            _ => throw new ArgumentOutOfRangeException(nameof(likelihood)),
        };
    }

    /// <summary>The levels of a quantile head given no --quantiles: the 80% interval and the median.</summary>
    public static readonly double[] DefaultQuantiles = [0.1, 0.5, 0.9];

    /// <summary>Outputs per horizon step: 1, 2 (μ, raw scale), or Q.</summary>
    public int OutputsPerStep => Likelihood switch
    {
        SeriesLikelihood.Gaussian => 2,
        SeriesLikelihood.Quantile => _quantiles.Length,
        _ => 1,
    };

    /// <summary>The block of a head row that is the point forecast: the mean (block 0) or the median's block.</summary>
    public int PointBlock => Likelihood == SeriesLikelihood.Quantile ? Array.IndexOf(_quantiles, MedianLevel) : 0;

    /// <summary>The levels an interval forecast reports: the quantile head's own, or the Gaussian's 10% and 90% with its mean.</summary>
    public IReadOnlyList<double> ReportedLevels => Likelihood switch
    {
        SeriesLikelihood.Quantile => _quantiles,
        SeriesLikelihood.Gaussian => GaussianIntervalLevels,
        _ => [],
    };

    /// <summary>"point", "gaussian", "quantile": the name in the CLI and the checkpoint.</summary>
    public string Name => Likelihood.ToString().ToLowerInvariant();

    public static SeriesLikelihood ParseName(string name) => name switch
    {
        "point" or "mse" => SeriesLikelihood.Point,
        "gaussian" => SeriesLikelihood.Gaussian,
        "quantile" => SeriesLikelihood.Quantile,
        _ => throw new GpuLstmException($"unknown likelihood '{name}'; use point, gaussian or quantile"),
    };

    /// <summary>Levels as the CLI and checkpoint write them: "0.1,0.5,0.9" (shortest round-trip of the float level).</summary>
    public string QuantilesText => string.Join(",", _quantiles.Select(q => ((float)q).ToString("R", CultureInfo.InvariantCulture)));

    /// <summary>The head in the model description: "Dense(K)", or its outputs and loss for a probabilistic head.</summary>
    public string Describe(int horizon) => Likelihood switch
    {
        SeriesLikelihood.Gaussian => $"Dense({2 * horizon}): a Gaussian's mean and scale per step, NLL loss",
        SeriesLikelihood.Quantile => $"Dense({_quantiles.Length * horizon}): quantiles {QuantilesText} per step, pinball loss",
        _ => $"Dense({horizon})",
    };

    public bool Equals(SeriesHead? other) =>
        other is not null && Likelihood == other.Likelihood && _quantiles.AsSpan().SequenceEqual(other._quantiles);

    public override int GetHashCode() => HashCode.Combine(Likelihood, _quantiles.Length);

    /// <summary>
    /// The quantile at level <paramref name="level"/> of one step's predictive distribution, in scaled units, from
    /// that step's head outputs <paramref name="outputs"/> (OutputsPerStep values: block j's value at the step).
    /// Gaussian: μ + σ·Φ⁻¹(level). Quantile: the predicted quantile function, sorted (a head may predict crossing
    /// quantiles; sorting them is the monotone rearrangement) and interpolated linearly between levels, and
    /// extended past the outer levels along the outer segments' slopes.
    /// </summary>
    public double QuantileOf(ReadOnlySpan<double> outputs, double level)
    {
        switch (Likelihood)
        {
            case SeriesLikelihood.Point:
                return outputs[0];
            case SeriesLikelihood.Gaussian:
                return outputs[0] + LossKernels.GaussianScale((float)outputs[1]) * Normal.InverseCdf(level);
            default:
            {
                int q = _quantiles.Length;
                Span<double> sorted = stackalloc double[q];
                outputs[..q].CopyTo(sorted);
                sorted.Sort();
                if (q == 1) return sorted[0];
                int i = 0;
                while (i < q - 2 && level > _quantiles[i + 1]) i++; // segment [i, i+1], the outer ones extended
                double slope = (sorted[i + 1] - sorted[i]) / (_quantiles[i + 1] - _quantiles[i]);
                return sorted[i] + slope * (level - _quantiles[i]);
            }
        }
    }
}

/// <summary>The standard normal distribution's inverse CDF, for the Gaussian head's intervals and samples.</summary>
internal static class Normal
{
    /// <summary>Φ⁻¹(p) for p in (0,1), by Acklam's rational approximation (relative error below 1.2e-9).</summary>
    public static double InverseCdf(double p)
    {
        if (!(p > 0 && p < 1)) throw new ArgumentOutOfRangeException(nameof(p), p, "a probability strictly between 0 and 1");
        double[] a = [-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00];
        double[] b = [-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01, -1.328068155288572e+01];
        double[] c = [-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00];
        double[] d = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00];
        const double low = 0.02425;
        if (p < low)
        {
            double q = Math.Sqrt(-2 * Math.Log(p));
            return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
        }
        if (p > 1 - low)
        {
            double q = Math.Sqrt(-2 * Math.Log(1 - p));
            return -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
        }
        double r = p - 0.5, s = r * r;
        return (((((a[0] * s + a[1]) * s + a[2]) * s + a[3]) * s + a[4]) * s + a[5]) * r / (((((b[0] * s + b[1]) * s + b[2]) * s + b[3]) * s + b[4]) * s + 1);
    }
}
