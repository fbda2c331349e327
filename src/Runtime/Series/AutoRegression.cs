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

    /// <summary>A fitted autoregression read back (a checkpoint's linear base).</summary>
    public AutoRegression(double intercept, double[] coefficients)
    {
        ArgumentNullException.ThrowIfNull(coefficients);
        if (coefficients.Length == 0) throw new GpuLstmException("an autoregression needs at least one coefficient");
        if (!double.IsFinite(intercept) || coefficients.Any(c => !double.IsFinite(c))) throw new GpuLstmException("an autoregression's coefficients must be finite");
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
        double meanDiagonal = 0;
        for (int i = 1; i < q; i++) meanDiagonal += gram[i * q + i];
        meanDiagonal /= order;
        double ridge = RelativeRidge * Math.Max(meanDiagonal, 1e-300);
        for (int i = 1; i < q; i++) gram[i * q + i] += ridge;
        var beta = SolveCholesky(gram, rhs, q);
        return new AutoRegression(beta[0], beta[1..]);
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

    /// <summary>
    /// The same recursion without allocating: the next <paramref name="into"/>.Length values after
    /// <paramref name="history"/> (at least p values; only the last p are read) written into <paramref name="into"/>.
    /// </summary>
    public void ForecastInto(ReadOnlySpan<double> history, Span<double> into)
    {
        int p = Order;
        if (history.Length < p) throw new GpuLstmException($"an AR({p}) forecast needs {p} values of history, got {history.Length}");
        var last = history[^p..];
        for (int j = 0; j < into.Length; j++)
        {
            double y = Intercept;
            for (int i = 1; i <= p; i++) y += Coefficients[i - 1] * (j - i >= 0 ? into[j - i] : last[p + j - i]);
            into[j] = y;
        }
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
