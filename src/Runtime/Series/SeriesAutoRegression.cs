namespace GpuLstm.Runtime.Series;

/// <summary>
/// The AR(p) baseline as `forecast train` and `forecast backtest` put it beside the model, on the modeled
/// values (the differences with --difference, integrated back) in original units. Without covariates it is
/// the recursive <see cref="AutoRegression"/>; with covariates (past ones or the calendar) it is a
/// <see cref="DirectAutoRegression"/> reading the same encoded features as the model, one fit per horizon
/// step, because past covariates after the origin are unknown.
/// </summary>
internal sealed class SeriesAutoRegression
{
    private readonly AutoRegression? _recursive;
    private readonly DirectAutoRegression? _direct;
    private readonly bool _difference;

    public int Order { get; }

    /// <summary>Covariate features per row (0: a pure AR).</summary>
    public int Width { get; }

    /// <summary>"AR(p)", or "AR(p) with covariates" when it reads them.</summary>
    public string Name => $"AR({Order})" + (Width > 0 ? " with covariates" : "");

    private SeriesAutoRegression(int order, int width, bool difference, AutoRegression? recursive, DirectAutoRegression? direct)
    {
        Order = order;
        Width = width;
        _difference = difference;
        _recursive = recursive;
        _direct = direct;
    }

    /// <summary>
    /// Fits on <paramref name="modeled"/> (the training values, modeled units) and, when <paramref name="width"/>
    /// &gt; 0, on <paramref name="features"/> ((rows, w) row-major, row i describing modeled value i; rows past
    /// the modeled values are ignored). A direct fit covers <paramref name="horizon"/> steps; a recursive one any.
    /// </summary>
    /// <param name="futureWidth">how many of a row's last features are future covariates, read also at each step's target row.</param>
    public static SeriesAutoRegression Fit(ReadOnlySpan<double> modeled, ReadOnlySpan<double> features, int width, int order, int horizon, bool difference,
        int futureWidth = 0)
    {
        if (order < 1) throw new GpuLstmException($"--ar-order must be a positive integer, got {order}");
        string what = difference ? "differences" : "values";
        if (width == 0)
        {
            if (modeled.Length < AutoRegression.MinimumValues(order))
                throw new GpuLstmException($"the AR({order}) baseline needs at least {AutoRegression.MinimumValues(order)} {what} to be fitted on, and there are {modeled.Length}; give a smaller --ar-order");
            return new SeriesAutoRegression(order, 0, difference, AutoRegression.Fit(modeled, order), null);
        }
        int minimum = DirectAutoRegression.MinimumValues(order, width, horizon, futureWidth);
        if (modeled.Length < minimum)
            throw new GpuLstmException($"the AR({order}) baseline with {width + futureWidth} covariate inputs needs at least {minimum} {what} to be fitted on, and there are {modeled.Length}; give a smaller --ar-order");
        return new SeriesAutoRegression(order, width, difference, null, DirectAutoRegression.Fit(modeled, features, width, order, horizon, futureWidth));
    }

    /// <summary>
    /// The <paramref name="into"/>.Length values after the origin in original units, from the modeled values
    /// before it (<paramref name="modeledHistory"/>), the covariate features of the last of them
    /// (<paramref name="lastFeatures"/>, empty for a pure AR) and the last original value
    /// <paramref name="lastOriginal"/> (the level differences are integrated from); with future covariates,
    /// <paramref name="targetFuture"/> holds theirs at the target rows ((steps, fw) row-major).
    /// </summary>
    public void Forecast(ReadOnlySpan<double> modeledHistory, ReadOnlySpan<double> lastFeatures, double lastOriginal, Span<double> into,
        ReadOnlySpan<double> targetFuture = default)
    {
        if (_direct is not null)
        {
            if (into.Length > _direct.Horizon)
                throw new GpuLstmException($"the direct AR({Order}) with covariates was fitted for {_direct.Horizon} steps, not {into.Length}");
            _direct.Forecast(modeledHistory, lastFeatures, into, targetFuture);
        }
        else _recursive!.Forecast(modeledHistory, into.Length).CopyTo(into);
        if (!_difference) return;
        double level = lastOriginal;
        for (int j = 0; j < into.Length; j++) into[j] = level += into[j];
    }
}
