namespace GpuLstm.Runtime.Series;

/// <summary>
/// One numeric column of a CSV file, in time order. <see cref="Labels"/> holds, per value, the date cell as
/// written (unquoted, trimmed) when a date column was chosen, else the 1-based data-row number ("1", "2", …,
/// counting data rows in file order, not file lines). <see cref="Dates"/> holds the parsed dates (UTC) when a
/// date column was chosen, else null.
/// </summary>
internal sealed record SeriesData(string Source, string Column, string? DateColumn, double[] Values, string[] Labels, DateTime[]? Dates)
{
    public int Count => Values.Length;

    /// <summary>The covariate columns read beside the value column, cells in the same (date) order; empty when none were asked for.</summary>
    public IReadOnlyList<CovariateColumn> Covariates { get; init; } = [];

    /// <summary>Rows after the last value with an empty value cell (read for future covariates by `forecast predict --csv`); null when none.</summary>
    public SeriesFutureRows? Future { get; init; }
    /// <summary>The series' name in a many-series (long-format) file: its series-column cell; null for a file of one series.</summary>
    public string? Name { get; init; }
}
