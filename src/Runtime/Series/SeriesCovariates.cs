using System.Globalization;

namespace GpuLstm.Runtime.Series;

/// <summary>How a covariate column becomes model inputs.</summary>
internal enum CovariateKind
{
    /// <summary>Every training-part cell is a finite number: one input, scaled by the column's own scaler.</summary>
    Numeric,

    /// <summary>Some training-part cell is not a number: one 0/1 input per category seen in the training part.</summary>
    Categorical,
}

/// <summary>One covariate column as read from a CSV: its header name and its cells, in the series' time order.</summary>
internal sealed record CovariateColumn(string Name, string[] Cells);

/// <summary>
/// How one covariate column was fitted on the training part: a numeric column's scaler, or a categorical
/// column's categories (ordinal order, so the one-hot layout does not depend on which category came first).
/// </summary>
internal sealed record CovariateSpec(string Name, CovariateKind Kind, SeriesScaler? Scaler, IReadOnlyList<string> Categories)
{
    /// <summary>A future covariate (known ahead, `--future-covariates`): a window's step carries its value k rows later (see <see cref="SeriesCovariates"/>).</summary>
    public bool Future { get; init; }

    /// <summary>Inputs per time step: 1 for a numeric column, one per category for a categorical one.</summary>
    public int Width => Kind == CovariateKind.Numeric ? 1 : Categories.Count;
}

/// <summary>
/// Past covariates and calendar features, fitted on the training part only (as the target's scaler is) and
/// turned into per-step model inputs laid out [covariate columns in the order given…, calendar…]; the target
/// goes before them in a window. A numeric column is scaled by its own scaler (same kind as the target's); a
/// categorical column is one-hot over the categories seen in the training part. A category never seen in
/// training is refused with one line rather than mapped to all zeros: the model never learned what an
/// all-zero one-hot means, so a silent forecast from it would look trustworthy and not be.
/// Calendar features (needing dates) are sine/cosine pairs of hour of day (period 24), day of week (period
/// 7, Sunday = 0) and month (period 12, January = 0): six inputs, known ahead for any date.
/// Future covariates (known ahead) are encoded the same way and go last: a row's inputs are
/// [past columns…, calendar…, future columns…]. In a window of N steps ending at sample end e with horizon k,
/// step t reads the past part of row e − N + t and the future part of row e − N + t + k, so the last k steps
/// carry the known values of the k target rows (DeepAR and Darts do this for k = 1).
/// </summary>
internal sealed class SeriesCovariates
{
    /// <summary>Inputs the calendar adds per step: sin and cos of hour, day of week and month.</summary>
    public const int CalendarWidth = 6;

    public IReadOnlyList<CovariateSpec> Columns { get; }
    public bool Calendar { get; }

    /// <summary>Inputs per time step besides the target.</summary>
    public int Width { get; }

    /// <summary>Inputs per row read at the step's own row: the past columns and the calendar.</summary>
    public int PastWidth { get; }

    /// <summary>Inputs per row read k rows later: the future columns.</summary>
    public int FutureWidth { get; }

    /// <summary>Past covariate columns (their future is unknown, so a model reading them forecasts one block).</summary>
    public int PastColumnCount { get; }

    private readonly int[] _offsets;

    public SeriesCovariates(IReadOnlyList<CovariateSpec> columns, bool calendar)
    {
        ArgumentNullException.ThrowIfNull(columns);
        Columns = columns;
        Calendar = calendar;
        PastColumnCount = columns.Count(c => !c.Future);
        for (int c = 1; c < columns.Count; c++)
            if (columns[c - 1].Future && !columns[c].Future)
                throw new GpuLstmException($"covariate '{columns[c].Name}' is a past covariate listed after the future covariate '{columns[c - 1].Name}'; past ones come first");
        PastWidth = columns.Where(c => !c.Future).Sum(c => c.Width) + (calendar ? CalendarWidth : 0);
        FutureWidth = columns.Where(c => c.Future).Sum(c => c.Width);
        Width = PastWidth + FutureWidth;
        // Past columns from 0, then the calendar, then the future columns from PastWidth.
        _offsets = new int[columns.Count];
        int past = 0, future = PastWidth;
        for (int c = 0; c < columns.Count; c++)
        {
            if (columns[c].Future) { _offsets[c] = future; future += columns[c].Width; }
            else { _offsets[c] = past; past += columns[c].Width; }
        }
    }

    /// <summary>The future columns' names, for messages.</summary>
    public IEnumerable<string> FutureNames => Columns.Where(c => c.Future).Select(c => c.Name);

    /// <summary>No covariates and no calendar: a model reading the target alone.</summary>
    public bool IsEmpty => Width == 0;

    /// <summary>
    /// Fits every column on its first <paramref name="trainEnd"/> cells only: later cells never reach a scaler
    /// or the category list. A column is numeric when all of those cells are finite numbers.
    /// </summary>
    /// <param name="futureCount">how many of the last <paramref name="columns"/> are future covariates.</param>
    public static SeriesCovariates Fit(IReadOnlyList<CovariateColumn> columns, DateTime[]? dates, bool calendar, SeriesScalerKind scale, int trainEnd, int futureCount = 0)
    {
        ArgumentNullException.ThrowIfNull(columns);
        if (calendar && dates is null) throw new GpuLstmException("--calendar needs dates: give the date column with --date-column");
        var specs = new List<CovariateSpec>();
        foreach (var column in columns)
        {
            if (trainEnd < 1 || trainEnd > column.Cells.Length)
                throw new ArgumentOutOfRangeException(nameof(trainEnd), $"the training part must hold 1 to {column.Cells.Length} cells, got {trainEnd}");
            var train = column.Cells.AsSpan(0, trainEnd);
            var numbers = new double[trainEnd];
            bool numeric = true;
            for (int i = 0; i < trainEnd && numeric; i++) numeric = TryNumber(train[i], out numbers[i]);
            bool future = specs.Count >= columns.Count - futureCount;
            if (numeric)
                specs.Add(new CovariateSpec(column.Name, CovariateKind.Numeric, SeriesScaler.Fit(scale, numbers), []) { Future = future });
            else
            {
                var categories = new SortedSet<string>(StringComparer.Ordinal);
                foreach (string cell in train) categories.Add(cell);
                specs.Add(new CovariateSpec(column.Name, CovariateKind.Categorical, null, categories.ToArray()) { Future = future });
            }
        }
        return new SeriesCovariates(specs, calendar);
    }

    /// <summary>
    /// The inputs of every row, row-major (count, <see cref="Width"/>). <paramref name="columns"/> must be the
    /// fitted columns in the same order; <paramref name="labels"/> name rows in messages. A numeric column's
    /// non-number cell, or a categorical column's unseen value, is a one-line <see cref="GpuLstmException"/>.
    /// </summary>
    public double[] Transform(IReadOnlyList<CovariateColumn> columns, DateTime[]? dates, IReadOnlyList<string> labels)
    {
        ArgumentNullException.ThrowIfNull(columns);
        ArgumentNullException.ThrowIfNull(labels);
        if (columns.Count != Columns.Count)
            throw new GpuLstmException($"the model reads {Columns.Count} covariate columns, but {columns.Count} were given");
        int count = labels.Count;
        if (Calendar && (dates is null || dates.Length != count))
            throw new GpuLstmException("the model reads calendar features, which need the date column");
        var result = new double[count * Width];
        for (int c = 0; c < Columns.Count; c++)
        {
            var cells = columns[c].Cells;
            if (cells.Length != count) throw new ArgumentException($"covariate '{Columns[c].Name}' has {cells.Length} cells for {count} rows", nameof(columns));
            for (int i = 0; i < count; i++) Encode(Columns[c], cells[i], labels[i], result.AsSpan(i * Width + _offsets[c], Columns[c].Width));
        }
        if (Calendar)
            for (int i = 0; i < count; i++) CalendarFeatures(dates![i], result.AsSpan(i * Width + PastWidth - CalendarWidth, CalendarWidth));
        return result;
    }

    /// <summary>
    /// The future columns' inputs of rows after the history (count, <see cref="FutureWidth"/>) row-major, from
    /// <paramref name="columns"/> in the fitted order (past columns' cells are not read: their future is
    /// unknown). An empty cell is a one-line "missing future covariates" naming its row.
    /// </summary>
    public double[] TransformFuture(IReadOnlyList<CovariateColumn> columns, IReadOnlyList<string> labels)
    {
        ArgumentNullException.ThrowIfNull(columns);
        ArgumentNullException.ThrowIfNull(labels);
        if (columns.Count != Columns.Count)
            throw new GpuLstmException($"the model reads {Columns.Count} covariate columns, but {columns.Count} were given");
        int count = labels.Count;
        var result = new double[count * FutureWidth];
        for (int i = 0; i < count; i++)
            for (int c = 0; c < Columns.Count; c++)
            {
                if (!Columns[c].Future) continue;
                string cell = columns[c].Cells[i];
                if (cell.Length == 0)
                    throw new GpuLstmException($"missing future covariates: '{Columns[c].Name}' is empty at row {labels[i]}, which the forecast reads");
                Encode(Columns[c], cell, labels[i], result.AsSpan(i * FutureWidth + _offsets[c] - PastWidth, Columns[c].Width));
            }
        return result;
    }

    /// <summary>One cell into its inputs: a numeric column's scaled value, or a categorical column's one-hot.</summary>
    private static void Encode(CovariateSpec spec, string cell, string label, Span<double> into)
    {
        if (spec.Kind == CovariateKind.Numeric)
        {
            if (!TryNumber(cell, out double x))
                throw new GpuLstmException($"covariate '{spec.Name}' at row {label}: \"{cell}\" is not a number, but the column was numeric in training");
            into[0] = spec.Scaler!.Transform(x);
        }
        else
        {
            int category = IndexOf(spec.Categories, cell);
            if (category < 0)
                throw new GpuLstmException($"covariate '{spec.Name}' at row {label}: the category \"{cell}\" was not seen in training (seen: {Shown(spec.Categories)})");
            into[category] = 1;
        }
    }

    /// <summary>[sin, cos] of hour/24, day of week/7 and (month − 1)/12, each times 2π.</summary>
    public static void CalendarFeatures(DateTime date, Span<double> into)
    {
        if (into.Length < CalendarWidth) throw new ArgumentException($"calendar features need {CalendarWidth} slots", nameof(into));
        Pair(date.Hour, 24, into[..2]);
        Pair((int)date.DayOfWeek, 7, into[2..4]);
        Pair(date.Month - 1, 12, into[4..6]);

        static void Pair(int value, int period, Span<double> pair)
        {
            double angle = 2 * Math.PI * value / period;
            pair[0] = Math.Sin(angle);
            pair[1] = Math.Cos(angle);
        }
    }

    /// <summary>The categories for a one-line message: the first ten, then how many more.</summary>
    private static string Shown(IReadOnlyList<string> categories) =>
        string.Join(", ", categories.Take(10)) + (categories.Count > 10 ? $" and {categories.Count - 10} more" : "");

    private static int IndexOf(IReadOnlyList<string> categories, string value)
    {
        for (int i = 0; i < categories.Count; i++)
            if (string.Equals(categories[i], value, StringComparison.Ordinal)) return i;
        return -1;
    }

    private static bool TryNumber(string cell, out double value) =>
        double.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture, out value) && double.IsFinite(value);
}

/// <summary>
/// Rows after the last target value, read by `forecast predict --csv` for a model with future covariates:
/// their labels, dates, and cells of every covariate column (the past ones' stay unread).
/// </summary>
internal sealed record SeriesFutureRows(string[] Labels, DateTime[]? Dates, IReadOnlyList<CovariateColumn> Covariates)
{
    public int Count => Labels.Length;
}
