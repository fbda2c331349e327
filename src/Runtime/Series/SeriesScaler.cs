using System.Globalization;

namespace GpuLstm.Runtime.Series;

/// <summary>
/// An affine map fitted on the training part only: scaled = (x − a) / b, and back x = scaled · b + a.
/// MinMax: a = min, b = max − min, so the training part maps onto [0, 1] (later parts may leave it).
/// ZScore: a = mean, b = the population standard deviation (divided by n, as scikit-learn's StandardScaler).
/// A constant training part (b = 0) would divide by zero: then b falls back to 1, so the scaled series is
/// the original shifted by a (0 on the training part), and nothing is lost by inverting it.
/// Stored in a checkpoint as three invariant strings: kind, a and b (round-trip precision).
/// </summary>
internal sealed class SeriesScaler
{
    public const string KindKey = "kind";
    public const string OffsetKey = "a";
    public const string ScaleKey = "b";

    public SeriesScalerKind Kind { get; }

    /// <summary>a: subtracted before dividing (min or mean).</summary>
    public double Offset { get; }

    /// <summary>b: the divisor (max − min or standard deviation, 1 for a constant training part); always finite and positive.</summary>
    public double Scale { get; }

    public SeriesScaler(SeriesScalerKind kind, double offset, double scale)
    {
        if (!Enum.IsDefined(kind)) throw new ArgumentOutOfRangeException(nameof(kind));
        if (!double.IsFinite(offset)) throw new ArgumentOutOfRangeException(nameof(offset), "the offset must be finite");
        if (!double.IsFinite(scale) || scale <= 0) throw new ArgumentOutOfRangeException(nameof(scale), "the scale must be finite and positive");
        Kind = kind;
        Offset = offset;
        Scale = scale;
    }

    /// <summary>Fits on <paramref name="trainPart"/> alone (see <see cref="SeriesSplit.FitScaler"/> to take it from a split).</summary>
    public static SeriesScaler Fit(SeriesScalerKind kind, ReadOnlySpan<double> trainPart)
    {
        if (trainPart.IsEmpty) throw new GpuLstmException("cannot fit a series scaler on an empty training part");
        double a, spread;
        if (kind == SeriesScalerKind.MinMax)
        {
            double min = double.PositiveInfinity, max = double.NegativeInfinity;
            foreach (double x in trainPart)
            {
                if (!double.IsFinite(x)) throw new GpuLstmException($"cannot fit a series scaler: the training part holds {x}");
                min = Math.Min(min, x);
                max = Math.Max(max, x);
            }
            a = min;
            spread = max - min;
        }
        else if (kind == SeriesScalerKind.ZScore)
        {
            double sum = 0;
            foreach (double x in trainPart)
            {
                if (!double.IsFinite(x)) throw new GpuLstmException($"cannot fit a series scaler: the training part holds {x}");
                sum += x;
            }
            a = sum / trainPart.Length;
            double squares = 0;
            foreach (double x in trainPart) squares += (x - a) * (x - a);
            spread = Math.Sqrt(squares / trainPart.Length);
        }
        else throw new ArgumentOutOfRangeException(nameof(kind));
        // A constant part (or one whose spread overflows) has no usable scale: keep the units, only shift.
        double b = spread > 0 && double.IsFinite(spread) ? spread : 1.0;
        return new SeriesScaler(kind, a, b);
    }

    public double Transform(double value) => (value - Offset) / Scale;

    public double Inverse(double scaled) => scaled * Scale + Offset;

    public double[] Transform(ReadOnlySpan<double> values)
    {
        var result = new double[values.Length];
        for (int i = 0; i < values.Length; i++) result[i] = Transform(values[i]);
        return result;
    }

    public double[] Inverse(ReadOnlySpan<double> scaled)
    {
        var result = new double[scaled.Length];
        for (int i = 0; i < scaled.Length; i++) result[i] = Inverse(scaled[i]);
        return result;
    }

    /// <summary>Model outputs (floats) back to original units.</summary>
    public double[] Inverse(ReadOnlySpan<float> scaled)
    {
        var result = new double[scaled.Length];
        for (int i = 0; i < scaled.Length; i++) result[i] = Inverse(scaled[i]);
        return result;
    }

    /// <summary>
    /// Converts a difference-based error measured on scaled values (RMSE, MAE) to original units: the offset
    /// cancels in a difference, so it is <paramref name="scaledError"/> · b. Not for MAPE, which depends on the offset.
    /// </summary>
    public double InverseScale(double scaledError) => scaledError * Scale;

    /// <summary>{kind, a, b} as invariant strings; <paramref name="prefix"/> is put before each key (e.g. "scaler.").</summary>
    public Dictionary<string, string> ToDictionary(string prefix = "") => new(StringComparer.Ordinal)
    {
        [prefix + KindKey] = Kind.ToString(),
        [prefix + OffsetKey] = Offset.ToString("R", CultureInfo.InvariantCulture),
        [prefix + ScaleKey] = Scale.ToString("R", CultureInfo.InvariantCulture),
    };

    /// <summary>Reads what <see cref="ToDictionary"/> wrote; a missing or bad entry is a <see cref="GpuLstmException"/> naming the key.</summary>
    public static SeriesScaler FromDictionary(IReadOnlyDictionary<string, string> entries, string prefix = "")
    {
        ArgumentNullException.ThrowIfNull(entries);
        string Get(string key) => entries.TryGetValue(prefix + key, out var value)
            ? value
            : throw new GpuLstmException($"the series scaler entry '{prefix + key}' is missing");
        string kindText = Get(KindKey);
        if (!Enum.TryParse<SeriesScalerKind>(kindText, ignoreCase: true, out var kind) || !Enum.IsDefined(kind) || int.TryParse(kindText, out _))
            throw new GpuLstmException($"the series scaler entry '{prefix + KindKey}' is '{kindText}'; expected one of {string.Join(", ", Enum.GetNames<SeriesScalerKind>())}");
        double Number(string key)
        {
            string text = Get(key);
            if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || !double.IsFinite(v))
                throw new GpuLstmException($"the series scaler entry '{prefix + key}' is '{text}'; expected a finite number");
            return v;
        }
        double a = Number(OffsetKey), b = Number(ScaleKey);
        if (b <= 0) throw new GpuLstmException($"the series scaler entry '{prefix + ScaleKey}' is '{entries[prefix + ScaleKey]}'; the scale must be positive");
        return new SeriesScaler(kind, a, b);
    }

    public override string ToString() => $"{Kind}(a={Offset.ToString("G6", CultureInfo.InvariantCulture)}, b={Scale.ToString("G6", CultureInfo.InvariantCulture)})";
}
