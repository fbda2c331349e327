namespace GpuLstm.Runtime.Models;

/// <summary>Keras's default initializers for LSTM and Dense, drawn from our seeded generator.</summary>
public static class Initializers
{
    /// <summary>glorot_uniform for a (fanIn, fanOut) kernel: U(−√(6/(fanIn+fanOut)), +√(6/(fanIn+fanOut))).</summary>
    public static float[] GlorotUniform(Rng rng, int fanIn, int fanOut)
    {
        double limit = Math.Sqrt(6.0 / (fanIn + fanOut));
        var w = new float[fanIn * fanOut];
        for (int i = 0; i < w.Length; i++) w[i] = (float)((rng.NextDouble() * 2 - 1) * limit);
        return w;
    }

    /// <summary>
    /// Keras's orthogonal initializer for a (rows, cols) kernel: the Q of a QR decomposition of a Gaussian
    /// matrix, sign-fixed so R's diagonal is positive. For the recurrent kernel (H, 4H) every row is a unit
    /// vector and the rows are mutually orthogonal. Gram–Schmidt, applied twice for float64 stability, gives
    /// exactly that Q with a positive diagonal of R.
    /// </summary>
    public static float[] Orthogonal(Rng rng, int rows, int cols)
    {
        // Orthonormalize the shorter side's vectors in the longer side's space.
        int count = Math.Min(rows, cols), dim = Math.Max(rows, cols);
        var q = new double[count][];
        for (int i = 0; i < count; i++)
        {
            var v = new double[dim];
            for (int d = 0; d < dim; d++) v[d] = rng.NextGaussian();
            for (int pass = 0; pass < 2; pass++)
                for (int p = 0; p < i; p++)
                {
                    double dot = 0;
                    for (int d = 0; d < dim; d++) dot += v[d] * q[p][d];
                    for (int d = 0; d < dim; d++) v[d] -= dot * q[p][d];
                }
            double norm = Math.Sqrt(v.Sum(x => x * x));
            for (int d = 0; d < dim; d++) v[d] /= norm;
            q[i] = v;
        }
        var w = new float[rows * cols];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                w[r * cols + c] = (float)(rows <= cols ? q[r][c] : q[c][r]);
        return w;
    }
}
