namespace GpuLstm.Runtime.Series;

/// <summary>
/// A linear autoregression AR(p) with intercept, y[t] = c + Σ_{i=1..p} a_i · y[t−i], fitted by least squares
/// in float64: the normal equations XᵀX β = Xᵀy with a small ridge on the lag coefficients (not the intercept)
/// so a flat or collinear history still gives a solution, solved by Cholesky. It is the stronger baseline a
/// neural forecaster has to beat: a model that cannot beat a linear recursion has learned nothing nonlinear.
/// </summary>
internal sealed class AutoRegression
{
    /// <summary>The ridge added to each lag's diagonal, relative to the mean of those diagonals (scale-free).</summary>
    public const double RelativeRidge = 1e-8;

    public double Intercept { get; }

    /// <summary>The lag coefficients a_1..a_p: Coefficients[i − 1] multiplies y[t − i].</summary>
    public double[] Coefficients { get; }

    public int Order => Coefficients.Length;

    private AutoRegression(double intercept, double[] coefficients)
    {
        Intercept = intercept;
        Coefficients = coefficients;
    }

    /// <summary>The fewest values an AR(<paramref name="order"/>) fit accepts: p lags for the first row, and p + 1 rows for p + 1 unknowns.</summary>
    public static int MinimumValues(int order) => 2 * order + 1;

    /// <summary>Fits AR(<paramref name="order"/>) to <paramref name="values"/> (n ≥ 2p + 1; rows t = p..n−1).</summary>
    public static AutoRegression Fit(ReadOnlySpan<double> values, int order)
    {
        if (order < 1) throw new GpuLstmException($"the autoregression order must be at least 1, got {order}");
        if (values.Length < MinimumValues(order))
            throw new GpuLstmException($"an AR({order}) fit needs at least {MinimumValues(order)} values, got {values.Length}");
        int q = order + 1; // unknowns: intercept, then a_1..a_p
        var gram = new double[q * q];
        var rhs = new double[q];
        var row = new double[q];
        for (int t = order; t < values.Length; t++)
        {
            row[0] = 1;
            for (int i = 1; i <= order; i++) row[i] = values[t - i];
            for (int r = 0; r < q; r++)
            {
                rhs[r] += row[r] * values[t];
                for (int c = 0; c <= r; c++) gram[r * q + c] += row[r] * row[c];
            }
        }
        var beta = SolveRidged(gram, rhs, q);
        return new AutoRegression(beta[0], beta[1..]);
    }

    /// <summary>
    /// Solves the normal equations (lower triangle of <paramref name="gram"/>, q × q, unknown 0 the intercept)
    /// after adding <see cref="RelativeRidge"/> times the mean of the other unknowns' diagonals to each of
    /// them; the intercept is never shrunk. Both the recursive and the direct fits go through here, so a
    /// direct fit without covariates at step 0 is the recursive fit exactly.
    /// </summary>
    internal static double[] SolveRidged(double[] gram, double[] rhs, int q)
    {
        double meanDiagonal = 0;
        for (int i = 1; i < q; i++) meanDiagonal += gram[i * q + i];
        meanDiagonal /= q - 1;
        double ridge = RelativeRidge * Math.Max(meanDiagonal, 1e-300);
        for (int i = 1; i < q; i++) gram[i * q + i] += ridge;
        return SolveCholesky(gram, rhs, q);
    }

    /// <summary>
    /// The next <paramref name="steps"/> values after <paramref name="history"/> (at least p values), each
    /// forecast fed back as a lag of the next.
    /// </summary>
    public double[] Forecast(ReadOnlySpan<double> history, int steps)
    {
        int p = Order;
        if (history.Length < p) throw new GpuLstmException($"an AR({p}) forecast needs {p} values of history, got {history.Length}");
        var buffer = new double[p + steps];
        history[^p..].CopyTo(buffer);
        for (int j = 0; j < steps; j++)
        {
            double y = Intercept;
            for (int i = 1; i <= p; i++) y += Coefficients[i - 1] * buffer[p + j - i];
            buffer[p + j] = y;
        }
        return buffer[p..];
    }

    /// <summary>Solves A x = b for symmetric positive definite A (lower triangle used; n × n row-major).</summary>
    private static double[] SolveCholesky(double[] a, double[] b, int n)
    {
        var l = new double[n * n];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j <= i; j++)
            {
                double sum = a[i * n + j];
                for (int k = 0; k < j; k++) sum -= l[i * n + k] * l[j * n + k];
                if (i == j)
                {
                    if (!(sum > 0)) throw new GpuLstmException("the autoregression's normal equations are singular (is the history constant or non-finite?)");
                    l[i * n + i] = Math.Sqrt(sum);
                }
                else l[i * n + j] = sum / l[j * n + j];
            }
        }
        var y = new double[n];
        for (int i = 0; i < n; i++)
        {
            double sum = b[i];
            for (int k = 0; k < i; k++) sum -= l[i * n + k] * y[k];
            y[i] = sum / l[i * n + i];
        }
        var x = new double[n];
        for (int i = n - 1; i >= 0; i--)
        {
            double sum = y[i];
            for (int k = i + 1; k < n; k++) sum -= l[k * n + i] * x[k];
            x[i] = sum / l[i * n + i];
        }
        return x;
    }
}

/// <summary>
/// AR(p) with exogenous inputs, fitted directly for each horizon step: for j = 0..h−1,
/// y[t+j] = c_j + Σ_{i=1..p} a_{j,i} · y[t−i] + Σ_m b_{j,m} · x_m[t−1], by least squares in float64 (the same
/// ridge and Cholesky solve as <see cref="AutoRegression"/>). x[t−1] are the covariate features of the last
/// observed row, encoded and scaled as the model reads them. Direct rather than recursive because past
/// covariates after the origin are unknown: a recursion would need x[t], x[t+1], … that nobody has, while
/// each direct step reads only what was observed at the origin. Future covariates (known ahead; the last
/// <see cref="FutureWidth"/> of the w features) also enter step j as their values at its target row t+j,
/// + Σ_m d_{j,m} · z_m[t+j], as the model reads them.
/// </summary>
internal sealed class DirectAutoRegression
{
    /// <summary>Per step j, the coefficients [c_j, a_{j,1..p}, b_{j,1..w}, d_{j,1..fw}] (h × (1 + p + w + fw), row-major).</summary>
    private readonly double[] _coefficients;

    public int Order { get; }
    public int Width { get; }
    public int Horizon { get; }

    /// <summary>fw: how many of the last of a row's w features are future covariates, read again at each step's target row.</summary>
    public int FutureWidth { get; }

    /// <summary>Unknowns per step: the intercept, p lags, w covariate features and fw future ones.</summary>
    public int Unknowns => 1 + Order + Width + FutureWidth;

    private DirectAutoRegression(int order, int width, int futureWidth, int horizon, double[] coefficients)
    {
        Order = order;
        Width = width;
        FutureWidth = futureWidth;
        Horizon = horizon;
        _coefficients = coefficients;
    }

    /// <summary>Step j's coefficients [c_j, a_{j,1..p}, b_{j,1..w}, d_{j,1..fw}].</summary>
    public ReadOnlySpan<double> Coefficients(int step) => _coefficients.AsSpan(step * Unknowns, Unknowns);

    /// <summary>
    /// The fewest values a fit accepts: step h − 1 must still have one row per unknown, and its first row
    /// needs p lags before it.
    /// </summary>
    public static int MinimumValues(int order, int width, int horizon, int futureWidth = 0) => order + horizon - 1 + 1 + order + width + futureWidth;

    /// <summary>
    /// Fits every step on <paramref name="values"/> (n modeled values) and <paramref name="features"/>
    /// ((n, <paramref name="width"/>) row-major, aligned with the values; may hold more rows than n, which are
    /// ignored). Step j uses the origins t = p..n−1−j, so no target beyond the n values is read. The last
    /// <paramref name="futureWidth"/> features of a row are future covariates, read also at row t+j.
    /// </summary>
    public static DirectAutoRegression Fit(ReadOnlySpan<double> values, ReadOnlySpan<double> features, int width, int order, int horizon, int futureWidth = 0)
    {
        if (order < 1) throw new GpuLstmException($"the autoregression order must be at least 1, got {order}");
        if (horizon < 1) throw new GpuLstmException($"the autoregression horizon must be at least 1, got {horizon}");
        if (width < 0) throw new ArgumentOutOfRangeException(nameof(width));
        if (futureWidth < 0 || futureWidth > width) throw new ArgumentOutOfRangeException(nameof(futureWidth));
        int n = values.Length;
        if (features.Length < (long)n * width) throw new ArgumentException($"features hold {features.Length} values; {n} rows × {width} need more", nameof(features));
        int minimum = MinimumValues(order, width, horizon, futureWidth);
        if (n < minimum)
            throw new GpuLstmException($"an AR({order}) fit with {width + futureWidth} covariate inputs over {horizon} steps needs at least {minimum} values, got {n}");
        int q = 1 + order + width + futureWidth, past = width - futureWidth;
        var coefficients = new double[horizon * q];
        var gram = new double[q * q];
        var rhs = new double[q];
        var row = new double[q];
        for (int j = 0; j < horizon; j++)
        {
            Array.Clear(gram);
            Array.Clear(rhs);
            for (int t = order; t + j < n; t++)
            {
                Regressors(values[..t], features.Slice((t - 1) * width, width), features.Slice((t + j) * width + past, futureWidth), order, row);
                double target = values[t + j];
                for (int r = 0; r < q; r++)
                {
                    rhs[r] += row[r] * target;
                    for (int c = 0; c <= r; c++) gram[r * q + c] += row[r] * row[c];
                }
            }
            AutoRegression.SolveRidged(gram, rhs, q).CopyTo(coefficients, j * q);
        }
        return new DirectAutoRegression(order, width, futureWidth, horizon, coefficients);
    }

    /// <summary>
    /// The first <paramref name="into"/>.Length (at most h) values after <paramref name="history"/> (at least p
    /// modeled values), from its last p values, <paramref name="lastFeatures"/>, the covariate features of
    /// its last row, and <paramref name="targetFuture"/> ((steps, fw) row-major: the future covariates of the
    /// target rows; empty without them).
    /// </summary>
    public void Forecast(ReadOnlySpan<double> history, ReadOnlySpan<double> lastFeatures, Span<double> into, ReadOnlySpan<double> targetFuture = default)
    {
        if (history.Length < Order) throw new GpuLstmException($"an AR({Order}) forecast needs {Order} values of history, got {history.Length}");
        if (lastFeatures.Length != Width) throw new ArgumentException($"the fit reads {Width} covariate features, got {lastFeatures.Length}", nameof(lastFeatures));
        if (into.Length > Horizon) throw new ArgumentException($"the fit covers {Horizon} steps, not {into.Length}", nameof(into));
        if (targetFuture.Length < (long)into.Length * FutureWidth)
            throw new ArgumentException($"the fit reads {FutureWidth} future covariates at each of {into.Length} target rows, got {targetFuture.Length} values", nameof(targetFuture));
        int q = Unknowns;
        Span<double> row = q <= 256 ? stackalloc double[q] : new double[q];
        for (int j = 0; j < into.Length; j++)
        {
            Regressors(history, lastFeatures, targetFuture.Slice(j * FutureWidth, FutureWidth), Order, row);
            var beta = Coefficients(j);
            double y = 0;
            for (int r = 0; r < q; r++) y += beta[r] * row[r];
            into[j] = y;
        }
    }

    /// <summary>[1, y[t−1], …, y[t−p], x[t−1], z[t+j]] for the origin t = <paramref name="before"/>.Length and a step's target row's future covariates z.</summary>
    private static void Regressors(ReadOnlySpan<double> before, ReadOnlySpan<double> lastFeatures, ReadOnlySpan<double> targetFuture, int order, Span<double> row)
    {
        int t = before.Length;
        row[0] = 1;
        for (int i = 1; i <= order; i++) row[i] = before[t - i];
        lastFeatures.CopyTo(row[(1 + order)..]);
        targetFuture.CopyTo(row[(1 + order + lastFeatures.Length)..]);
    }
}
