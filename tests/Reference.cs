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
}
