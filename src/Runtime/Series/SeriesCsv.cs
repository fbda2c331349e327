using System.Globalization;
using System.Text;
using GpuLstm.Runtime.Files;

namespace GpuLstm.Runtime.Series;

/// <summary>
/// Reads one numeric column of a CSV file with a header row (RFC 4180: quoted cells with doubled quotes,
/// commas and line breaks inside quotes; CRLF, LF or CR line ends; a UTF-8 BOM). Whitespace around a cell,
/// and outside the quotes of a quoted cell, is ignored. Lines that hold only whitespace are skipped wherever
/// they are (typically trailing blank lines). Numbers are parsed with the invariant culture (a '.' decimal
/// point, no thousands separators). With a date column the rows are sorted stably by date; two rows with
/// the same instant are an error. Series files are small, so the file is read whole.
/// Every error is a <see cref="GpuLstmException"/> naming the file and, where it applies, the 1-based
/// line (the line a row starts on) and the column.
/// </summary>
internal static class SeriesCsv
{
    /// <summary>The date formats accepted (invariant culture); a time zone suffix (Z, +02:00) is optional and converted to UTC.</summary>
    private static readonly string[] DateFormats =
    {
        "yyyy", "yyyy-MM", "yyyy-MM-dd", "yyyy/MM", "yyyy/MM/dd",
        "yyyy-MM-dd HH:mm", "yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd HH:mm:ss.FFFFFFF",
        "yyyy-MM-dd HH:mmK", "yyyy-MM-dd HH:mm:ssK", "yyyy-MM-dd HH:mm:ss.FFFFFFFK",
        "yyyy-MM-ddTHH:mm", "yyyy-MM-ddTHH:mm:ss", "yyyy-MM-ddTHH:mm:ss.FFFFFFF",
        "yyyy-MM-ddTHH:mmK", "yyyy-MM-ddTHH:mm:ssK", "yyyy-MM-ddTHH:mm:ss.FFFFFFFK",
    };

    private const int MaxQuotedCell = 40;

    /// <summary>One row of cells and the 1-based line it starts on.</summary>
    private readonly record struct Row(int Line, List<string> Cells);

    /// <summary>
    /// Reads <paramref name="column"/> as numbers; when <paramref name="dateColumn"/> is given its cells are
    /// parsed as dates (yyyy, yyyy-MM, yyyy-MM-dd, optionally with a time: yyyy-MM-dd HH:mm[:ss[.fff]], 'T'
    /// or a space between, an optional Z or ±hh:mm) and order the rows. Column names match exactly, or
    /// ignoring case when exactly one column matches that way.
    /// </summary>
    /// <param name="futureRows">let rows after the last value leave the value cell empty (they carry future
    /// covariates for a forecast): they go to <see cref="SeriesData.Future"/>, not into the series.</param>
    public static SeriesData Load(string path, string column, string? dateColumn = null, IReadOnlyList<string>? covariates = null, bool futureRows = false) =>
        Read(path, column, dateColumn, covariates, seriesColumn: null, futureRows)[0];

    /// <summary>
    /// A long-format CSV of several series: <paramref name="seriesColumn"/> names each row's series, and each
    /// series is read as <see cref="Load"/> reads one (its rows in file order, or sorted by its own dates; a date
    /// may repeat across series but not within one). Series come in the order they first appear in the file;
    /// each <see cref="SeriesData.Name"/> is its series cell. An empty series cell is an error. With
    /// <paramref name="futureRows"/>, each series' rows after its own last value may leave it empty (see <see cref="Load"/>).
    /// </summary>
    public static SeriesData[] LoadPanel(string path, string column, string? dateColumn, string seriesColumn, IReadOnlyList<string>? covariates = null,
        bool futureRows = false)
    {
        ArgumentNullException.ThrowIfNull(seriesColumn);
        return Read(path, column, dateColumn, covariates, seriesColumn, futureRows);
    }

    private static SeriesData[] Read(string path, string column, string? dateColumn, IReadOnlyList<string>? covariates, string? seriesColumn, bool futureRows)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(column);
        var source = InputSource.Open(path, "series file");
        string file = source.Describe();
        string text;
        try
        {
            text = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true).GetString(source.ReadAllBytes());
        }
        catch (DecoderFallbackException) { throw new GpuLstmException($"{file} is not valid UTF-8 text"); }
        var all = Parse(text, file, path, column, dateColumn, covariates ?? [], seriesColumn, futureRows);
        return futureRows ? all.Select(data => SplitFutureRows(data, file)).ToArray() : all;
    }

    /// <summary>
    /// The rows whose value is NaN (an empty cell) after the last value become <see cref="SeriesData.Future"/>; an
    /// empty value before it is refused as in any series.
    /// </summary>
    private static SeriesData SplitFutureRows(SeriesData data, string file)
    {
        int end = data.Count;
        while (end > 0 && double.IsNaN(data.Values[end - 1])) end--;
        string of = data.Name is null ? "" : $" of series '{data.Name}'";
        if (end == 0) throw new GpuLstmException($"{file} has no values{of} in column '{data.Column}', only rows with it empty");
        int gap = Array.FindIndex(data.Values, 0, end, double.IsNaN);
        if (gap >= 0)
            throw new GpuLstmException($"{file} row {data.Labels[gap]}{of}, column '{data.Column}': the cell is empty before the last value; only rows after it may leave it empty (they carry future covariates)");
        if (end == data.Count) return data;
        return data with
        {
            Values = data.Values[..end],
            Labels = data.Labels[..end],
            Dates = data.Dates?[..end],
            Covariates = data.Covariates.Select(c => c with { Cells = c.Cells[..end] }).ToArray(),
            Future = new SeriesFutureRows(data.Labels[end..], data.Dates?[end..], data.Covariates.Select(c => c with { Cells = c.Cells[end..] }).ToArray()),
        };
    }

    private static SeriesData[] Parse(string text, string file, string source, string column, string? dateColumn, IReadOnlyList<string> covariates, string? seriesColumn,
        bool futureRows)
    {
        if (text.Length > 0 && text[0] == '\uFEFF') text = text[1..];
        var rows = ReadRows(text, file);
        if (rows.Count == 0) throw new GpuLstmException($"{file} is empty");
        var header = rows[0];
        if (rows.Count == 1) throw new GpuLstmException($"{file} has a header (line {header.Line}) but no data rows");

        int valueIndex = FindColumn(file, header, column, "value");
        int dateIndex = -1;
        if (dateColumn is not null)
        {
            dateIndex = FindColumn(file, header, dateColumn, "date");
            if (dateIndex == valueIndex)
                throw new GpuLstmException($"{file}: the value column and the date column are both '{header.Cells[valueIndex]}'");
        }
        string valueName = Describe(header, valueIndex);
        int seriesIndex = -1;
        if (seriesColumn is not null)
        {
            seriesIndex = FindColumn(file, header, seriesColumn, "series");
            if (seriesIndex == valueIndex || seriesIndex == dateIndex)
                throw new GpuLstmException($"{file}: the series column {Describe(header, seriesIndex)} is also the {(seriesIndex == valueIndex ? "value" : "date")} column");
        }
        var covariateIndices = new int[covariates.Count];
        for (int c = 0; c < covariates.Count; c++)
        {
            covariateIndices[c] = FindColumn(file, header, covariates[c], "covariate");
            if (covariateIndices[c] == valueIndex || covariateIndices[c] == dateIndex)
                throw new GpuLstmException($"{file}: the covariate column {Describe(header, covariateIndices[c])} is also the {(covariateIndices[c] == valueIndex ? "value" : "date")} column");
            if (Array.IndexOf(covariateIndices, covariateIndices[c], 0, c) >= 0)
                throw new GpuLstmException($"{file}: the covariate column {Describe(header, covariateIndices[c])} is given twice");
            if (covariateIndices[c] == seriesIndex)
                throw new GpuLstmException($"{file}: the covariate column {Describe(header, covariateIndices[c])} is also the series column");
        }
        if (seriesIndex < 0) return [Series(rows.Skip(1).ToList(), name: null)];

        // Group the rows by series, in order of first appearance, checking each row's width first so a short row is named before its series cell is read.
        var groups = new Dictionary<string, List<Row>>(StringComparer.Ordinal);
        var order = new List<string>();
        foreach (var row in rows.Skip(1))
        {
            CheckWidth(row);
            string name = row.Cells[seriesIndex];
            if (name.Length == 0) throw new GpuLstmException($"{file} line {row.Line}, column {Describe(header, seriesIndex)}: the series cell is empty");
            if (!groups.TryGetValue(name, out var list))
            {
                groups[name] = list = [];
                order.Add(name);
            }
            list.Add(row);
        }
        return order.Select(name => Series(groups[name], name)).ToArray();

        void CheckWidth(Row row)
        {
            if (row.Cells.Count == header.Cells.Count) return;
            string which = row.Cells.Count < header.Cells.Count ? $"; column {Describe(header, row.Cells.Count)} is missing" : "";
            throw new GpuLstmException(
                $"{file} line {row.Line} has {Plural(row.Cells.Count, "cell")} but the header (line {header.Line}) has {header.Cells.Count}{which}");
        }

        SeriesData Series(List<Row> dataRows, string? name)
        {
        string where = name is null ? "" : $" in series '{name}'";
        var covariateCells = covariateIndices.Select(_ => new string[dataRows.Count]).ToArray();
        int n = dataRows.Count;
        var values = new double[n];
        var labels = new string[n];
        var dates = dateIndex >= 0 ? new DateTime[n] : null;
        var lines = new int[n];
        for (int i = 0; i < n; i++)
        {
            var row = dataRows[i];
            lines[i] = row.Line;
            CheckWidth(row);
            values[i] = futureRows && row.Cells[valueIndex].Length == 0 ? double.NaN : ParseValue(file, row, valueIndex, valueName);
            for (int c = 0; c < covariateIndices.Length; c++) covariateCells[c][i] = row.Cells[covariateIndices[c]];
            if (dates is not null)
            {
                labels[i] = row.Cells[dateIndex];
                dates[i] = ParseDate(file, row, dateIndex, Describe(header, dateIndex));
            }
            else labels[i] = (i + 1).ToString(CultureInfo.InvariantCulture);
        }

        if (dates is not null)
        {
            int[] order = Enumerable.Range(0, n).OrderBy(i => dates[i]).ToArray();   // OrderBy is stable
            for (int j = 1; j < n; j++)
            {
                int a = order[j - 1], b = order[j];
                if (dates[a] == dates[b])
                    throw new GpuLstmException(
                        $"{file} lines {lines[a]} and {lines[b]} have the same date{where} in column {Describe(header, dateIndex)}: {Quote(labels[a])} and {Quote(labels[b])}");
            }
            values = order.Select(i => values[i]).ToArray();
            labels = order.Select(i => labels[i]).ToArray();
            dates = order.Select(i => dates[i]).ToArray();
            for (int c = 0; c < covariateCells.Length; c++) covariateCells[c] = order.Select(i => covariateCells[c][i]).ToArray();
        }
        return new SeriesData(source, header.Cells[valueIndex], dateIndex >= 0 ? header.Cells[dateIndex] : null, values, labels, dates)
        {
            Covariates = covariateIndices.Select((index, c) => new CovariateColumn(header.Cells[index], covariateCells[c])).ToArray(),
            Name = name,
        };
        }
    }

    private static double ParseValue(string file, Row row, int index, string columnName)
    {
        string cell = row.Cells[index];
        if (cell.Length == 0)
            throw new GpuLstmException($"{file} line {row.Line}, column {columnName}: the cell is empty; expected a number");
        if (!double.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture, out double value))
            throw new GpuLstmException($"{file} line {row.Line}, column {columnName}: {Quote(cell)} is not a number");
        if (!double.IsFinite(value))
            throw new GpuLstmException($"{file} line {row.Line}, column {columnName}: {Quote(cell)} is not a finite number");
        return value;
    }

    private static DateTime ParseDate(string file, Row row, int index, string columnName)
    {
        string cell = row.Cells[index];
        if (!DateTime.TryParseExact(cell, DateFormats, CultureInfo.InvariantCulture,
                DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var date))
            throw new GpuLstmException(
                $"{file} line {row.Line}, column {columnName}: {Quote(cell)} is not a date (expected yyyy, yyyy-MM or yyyy-MM-dd, optionally with a time such as yyyy-MM-dd HH:mm:ss)");
        return date;
    }

    private static int FindColumn(string file, Row header, string name, string role)
    {
        var cells = header.Cells;
        var exact = Enumerable.Range(0, cells.Count).Where(i => string.Equals(cells[i], name, StringComparison.Ordinal)).ToList();
        if (exact.Count == 0)
            exact = Enumerable.Range(0, cells.Count).Where(i => string.Equals(cells[i], name, StringComparison.OrdinalIgnoreCase)).ToList();
        if (exact.Count == 1) return exact[0];
        string columns = string.Join(", ", cells.Select(c => $"'{c}'"));
        if (exact.Count == 0)
            throw new GpuLstmException($"{file} has no {role} column '{name}'; the header (line {header.Line}) has: {columns}");
        throw new GpuLstmException(
            $"{file}: the {role} column '{name}' is ambiguous, the header (line {header.Line}) has it as columns {string.Join(" and ", exact.Select(i => i + 1))}");
    }

    /// <summary>"'Passengers' (column 2)": the name and the 1-based position.</summary>
    private static string Describe(Row header, int index) => $"'{header.Cells[index]}' (column {index + 1})";

    private static string Plural(int count, string noun) => count == 1 ? $"1 {noun}" : $"{count} {noun}s";

    /// <summary>The cell in double quotes, cut to 40 characters, with line breaks and tabs made visible so the message stays one line.</summary>
    private static string Quote(string cell)
    {
        string shown = cell.Length > MaxQuotedCell ? cell[..MaxQuotedCell] + "…" : cell;
        shown = shown.Replace("\r", "\\r").Replace("\n", "\\n").Replace("\t", "\\t");
        return $"\"{shown}\"";
    }

    /// <summary>Splits the text into rows of trimmed, unquoted cells; rows that are only whitespace are dropped.</summary>
    private static List<Row> ReadRows(string text, string file)
    {
        var rows = new List<Row>();
        var cell = new StringBuilder();
        int pos = 0, line = 1;
        while (pos < text.Length)
        {
            int rowLine = line;
            var cells = new List<string>();
            bool anyQuoted = false;
            while (true)
            {
                while (pos < text.Length && (text[pos] == ' ' || text[pos] == '\t')) pos++;
                cell.Clear();
                if (pos < text.Length && text[pos] == '"')
                {
                    anyQuoted = true;
                    int openLine = line;
                    pos++;
                    while (true)
                    {
                        if (pos >= text.Length)
                            throw new GpuLstmException($"{file} line {openLine}, column {cells.Count + 1}: a quoted cell is never closed");
                        char c = text[pos];
                        if (c == '"')
                        {
                            if (pos + 1 < text.Length && text[pos + 1] == '"') { cell.Append('"'); pos += 2; continue; }
                            pos++;
                            break;
                        }
                        if (c == '\n' || (c == '\r' && (pos + 1 >= text.Length || text[pos + 1] != '\n'))) line++;
                        cell.Append(c);
                        pos++;
                    }
                    while (pos < text.Length && (text[pos] == ' ' || text[pos] == '\t')) pos++;
                    if (pos < text.Length && text[pos] != ',' && text[pos] != '\r' && text[pos] != '\n')
                        throw new GpuLstmException($"{file} line {line}, column {cells.Count + 1}: unexpected text after the closing quote of a cell");
                    cells.Add(cell.ToString().Trim());
                }
                else
                {
                    while (pos < text.Length && text[pos] != ',' && text[pos] != '\r' && text[pos] != '\n') cell.Append(text[pos++]);
                    cells.Add(cell.ToString().Trim());
                }
                if (pos < text.Length && text[pos] == ',') { pos++; continue; }
                if (pos < text.Length && text[pos] == '\r') pos++;
                if (pos < text.Length && text[pos] == '\n') pos++;
                line++;
                break;
            }
            bool blank = !anyQuoted && cells.Count == 1 && cells[0].Length == 0;
            if (!blank) rows.Add(new Row(rowLine, cells));
        }
        return rows;
    }
}
