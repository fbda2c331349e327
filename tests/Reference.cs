namespace GpuLstm.Tests;

/// <summary>
/// Plain float64 versions of the kernels that are not a cell's (GEMM, losses), written for clarity, not speed.
/// The cells' references are <see cref="CellReference"/>s; layers, stacks and models are <see cref="StackReference"/>.
/// </summary>
public static class Reference
{
    /// <summary>C = [C +] op(A)·op(B) [+ bias] with op given by the transposition flags: A is (M,K) or stored (K,M); B is (K,N) or stored (N,K).</summary>
    public static double[] Gemm(float[] a, float[] b, float[]? bias, float[]? cIn, int m, int n, int k, bool transA, bool transB)
    {
        var c = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double acc = 0;
                for (int p = 0; p < k; p++)
                    acc += (double)(transA ? a[p * m + i] : a[i * k + p]) * (transB ? b[j * k + p] : b[p * n + j]);
                if (bias is not null) acc += bias[j];
                if (cIn is not null) acc += cIn[i * n + j];
                c[i * n + j] = acc;
            }
        return c;
    }

    public static double Sigmoid(double x) => 1 / (1 + Math.Exp(-x));

    public static (double[] Loss, double[] DLogits) SoftmaxCrossEntropy(float[] logits, int[] targets, int rows, int vocab, double scale)
    {
        var loss = new double[rows];
        var d = new double[rows * vocab];
        for (int r = 0; r < rows; r++)
        {
            double max = double.NegativeInfinity;
            for (int v = 0; v < vocab; v++) max = Math.Max(max, logits[r * vocab + v]);
            double sum = 0;
            for (int v = 0; v < vocab; v++) sum += Math.Exp(logits[r * vocab + v] - max);
            loss[r] = Math.Log(sum) - (logits[r * vocab + targets[r]] - max);
            for (int v = 0; v < vocab; v++)
                d[r * vocab + v] = scale * (Math.Exp(logits[r * vocab + v] - max) / sum - (v == targets[r] ? 1 : 0));
        }
        return (loss, d);
    }

    /// <summary>loss (R) = Σ_k (p − y)²/K per row and dPred (R,K) = scale·2·(p − y)/K.</summary>
    public static (double[] Loss, double[] DPred) MeanSquaredError(float[] predictions, float[] targets, int rows, int columns, double scale)
    {
        var loss = new double[rows];
        var d = new double[rows * columns];
        for (int r = 0; r < rows; r++)
        {
            double sum = 0;
            for (int k = 0; k < columns; k++)
            {
                double diff = (double)predictions[r * columns + k] - targets[r * columns + k];
                sum += diff * diff;
                d[r * columns + k] = scale * 2 * diff / columns;
            }
            loss[r] = sum / columns;
        }
        return (loss, d);
    }

    /// <summary>σ = softplus(raw) + floor, as the Gaussian head maps its raw scale.</summary>
    public static double GaussianScale(double raw) => Math.Log(1 + Math.Exp(raw)) + GpuLstm.Kernels.LossKernels.GaussianScaleFloor;

    /// <summary>
    /// Gaussian NLL of predictions (R,2K) = [μ (K) | raw scale (K)] per row against targets (R,K): loss (R) =
    /// Σ_k (log σ + ½((y − μ)/σ)² + ½ log 2π)/K, written from the density's definition; dPred (R,2K) = scale·its
    /// derivatives, from calculus independent of the kernel's rearrangement.
    /// </summary>
    public static (double[] Loss, double[] DPred) GaussianNll(float[] predictions, float[] targets, int rows, int horizon, double scale)
    {
        var loss = new double[rows];
        var d = new double[rows * 2 * horizon];
        for (int r = 0; r < rows; r++)
        {
            double sum = 0;
            for (int k = 0; k < horizon; k++)
            {
                double mu = predictions[r * 2 * horizon + k], raw = predictions[r * 2 * horizon + horizon + k];
                double sigma = GaussianScale(raw), y = targets[r * horizon + k];
                // −log N(y; μ, σ) written out, not −log(exp(−z²/2)/(σ√2π)): past z²/2 ≈ 708 that exp is a double
                // denormal with a handful of bits left (σ near its 0.001 floor makes z ~ 300), and the reference, not the
                // kernel, was off by up to 0.05 in a row's loss (about one fresh seed in 600).
                double z = (y - mu) / sigma;
                sum += Math.Log(sigma) + 0.5 * z * z + 0.5 * Math.Log(2 * Math.PI);
                d[r * 2 * horizon + k] = scale * (mu - y) / (sigma * sigma) / horizon;
                double dSigma = 1 / sigma - (y - mu) * (y - mu) / (sigma * sigma * sigma);
                d[r * 2 * horizon + horizon + k] = scale * dSigma * Sigmoid(raw) / horizon;
            }
            loss[r] = sum / horizon;
        }
        return (loss, d);
    }

    /// <summary>
    /// Pinball loss of predictions (R,Q·K) = Q blocks of K per row, block q at level τ_q, against targets (R,K):
    /// loss (R) = mean over Q·K of τ·(y − p) if y ≥ p else (1 − τ)·(p − y); dPred = scale·(p ≥ y ? 1 − τ : −τ)/(Q·K).
    /// </summary>
    public static (double[] Loss, double[] DPred) Pinball(float[] predictions, float[] targets, float[] quantiles, int rows, int horizon, double scale)
    {
        int q = quantiles.Length, n = q * horizon;
        var loss = new double[rows];
        var d = new double[rows * n];
        for (int r = 0; r < rows; r++)
        {
            double sum = 0;
            for (int j = 0; j < q; j++)
                for (int k = 0; k < horizon; k++)
                {
                    double p = predictions[r * n + j * horizon + k], y = targets[r * horizon + k], tau = quantiles[j];
                    sum += y >= p ? tau * (y - p) : (1 - tau) * (p - y);
                    d[r * n + j * horizon + k] = scale * (p >= y ? 1 - tau : -tau) / n;
                }
            loss[r] = sum / n;
        }
        return (loss, d);
    }
}
