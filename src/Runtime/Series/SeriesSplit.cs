using System.Globalization;

namespace GpuLstm.Runtime.Series;

/// <summary>
/// A chronological cut of n values into train | validation | test, in that order and never shuffled:
/// train = [0, TrainEnd), validation = [TrainEnd, ValidationEnd), test = [ValidationEnd, Count).
/// </summary>
internal sealed class SeriesSplit
{
    public int Count { get; }
    public SeriesRange Train { get; }
    public SeriesRange Validation { get; }
    public SeriesRange Test { get; }

    /// <summary>Cuts at explicit indices: 0 &lt; trainEnd ≤ validationEnd ≤ count.</summary>
    public SeriesSplit(int count, int trainEnd, int validationEnd)
    {
        if (count < 1) throw new GpuLstmException($"a series split needs at least one value, got {count}");
        if (trainEnd < 1 || trainEnd > validationEnd || validationEnd > count)
            throw new GpuLstmException($"a series split of {count} values needs 0 < train end ≤ validation end ≤ {count}, got {trainEnd} and {validationEnd}");
        Count = count;
        Train = new SeriesRange(0, trainEnd);
        Validation = new SeriesRange(trainEnd, validationEnd);
        Test = new SeriesRange(validationEnd, count);
    }

    /// <summary>
    /// The last round(count · testFraction) values are the test part, the round(count · validationFraction)
    /// before them the validation part (midpoints round up), the rest the training part. A positive fraction
    /// always gets at least one value; a zero fraction gives an empty part. The fractions must be in [0, 1)
    /// and leave the training part at least one value.
    /// </summary>
    public static SeriesSplit ByFractions(int count, double validationFraction, double testFraction)
    {
        if (count < 1) throw new GpuLstmException($"a series split needs at least one value, got {count}");
        CheckFraction("validation", validationFraction);
        CheckFraction("test", testFraction);
        int test = PartSize(count, testFraction), validation = PartSize(count, validationFraction);
        int train = count - test - validation;
        if (train < 1)
            throw new GpuLstmException(
                $"a series of {count} values split with validation fraction {F(validationFraction)} and test fraction {F(testFraction)} " +
                $"leaves no training values ({validation} validation, {test} test)");
        return new SeriesSplit(count, train, train + validation);
    }

    private static void CheckFraction(string name, double fraction)
    {
        if (!double.IsFinite(fraction) || fraction < 0 || fraction >= 1)
            throw new GpuLstmException($"the {name} fraction must be at least 0 and below 1, got {F(fraction)}");
    }

    private static int PartSize(int count, double fraction)
    {
        if (fraction == 0) return 0;
        return Math.Max(1, (int)Math.Round(count * fraction, MidpointRounding.AwayFromZero));
    }

    private static string F(double x) => x.ToString("G", CultureInfo.InvariantCulture);

    public SeriesRange this[SeriesPart part] => part switch
    {
        SeriesPart.Train => Train,
        SeriesPart.Validation => Validation,
        SeriesPart.Test => Test,
        _ => throw new ArgumentOutOfRangeException(nameof(part)),
    };

    /// <summary>The values of <paramref name="part"/>; <paramref name="values"/> must have <see cref="Count"/> values.</summary>
    public ReadOnlySpan<double> Slice(ReadOnlySpan<double> values, SeriesPart part)
    {
        CheckLength(values.Length);
        var range = this[part];
        return values.Slice(range.Start, range.Length);
    }

    /// <summary>Fits a scaler on the training part of <paramref name="values"/> only: validation and test values never reach it.</summary>
    public SeriesScaler FitScaler(SeriesScalerKind kind, ReadOnlySpan<double> values) => SeriesScaler.Fit(kind, Slice(values, SeriesPart.Train));

    internal void CheckLength(int length)
    {
        if (length != Count) throw new ArgumentException($"the split is for {Count} values, but {length} were given");
    }

    public override string ToString() => $"train {Train}, validation {Validation}, test {Test}";
}
