namespace GpuLstm.Runtime.Models;

/// <summary>Keras's default initializers for LSTM and Dense, drawn from our seeded generator.</summary>
internal static class Initializers
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
    /// vector and the rows are mutually orthogonal. Gram–Schmidt in float64 gives exactly that Q with a
    /// positive diagonal of R.
    /// </summary>
    public static float[] Orthogonal(Rng rng, int rows, int cols)
    {
        // Orthonormalize the shorter side's vectors in the longer side's space, a block of vectors at a time:
        // each finished vector is read once per block rather than once per vector, which is what makes the
        // H = 1024 recurrent kernel (1024 vectors of 4096) take a second rather than ten.
        const int Block = 8;
        int count = Math.Min(rows, cols), dim = Math.Max(rows, cols);
        var q = new double[count][];
        for (int i0 = 0; i0 < count; i0 += Block)
        {
            int b = Math.Min(Block, count - i0);
            for (int j = 0; j < b; j++)
            {
                var v = new double[dim];
                for (int d = 0; d < dim; d++) v[d] = rng.NextGaussian();
                q[i0 + j] = v;
            }
            // One modified Gram–Schmidt pass suffices: a Gaussian (H,4H) matrix has a condition number near 3,
            // so the rows come out orthonormal to ~1e-15 (InitializerTests checks 1e-5 after rounding to float).
            for (int p = 0; p < i0; p++)
                for (int j = 0; j < b; j++) SubtractProjection(q[i0 + j], q[p]);
            for (int j = 0; j < b; j++)
            {
                var v = q[i0 + j];
                for (int p = i0; p < i0 + j; p++) SubtractProjection(v, q[p]);
                double norm = Math.Sqrt(Dot(v, v));
                for (int d = 0; d < dim; d++) v[d] /= norm;
            }
        }
        var w = new float[rows * cols];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                w[r * cols + c] = (float)(rows <= cols ? q[r][c] : q[c][r]);
        return w;
    }

    // Gram–Schmidt is O(H²·4H) for the (H,4H) recurrent kernel: 2·10¹⁰ operations at H = 1200, so the two
    // inner loops are vectorized.
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static double Dot(double[] a, double[] b)
    {
        // Four accumulators keep four FMA chains in flight.
        System.Numerics.Vector<double> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        int w = System.Numerics.Vector<double>.Count, i = 0;
        for (; i + 4 * w <= a.Length; i += 4 * w)
        {
            acc0 += new System.Numerics.Vector<double>(a, i) * new System.Numerics.Vector<double>(b, i);
            acc1 += new System.Numerics.Vector<double>(a, i + w) * new System.Numerics.Vector<double>(b, i + w);
            acc2 += new System.Numerics.Vector<double>(a, i + 2 * w) * new System.Numerics.Vector<double>(b, i + 2 * w);
            acc3 += new System.Numerics.Vector<double>(a, i + 3 * w) * new System.Numerics.Vector<double>(b, i + 3 * w);
        }
        for (; i + w <= a.Length; i += w) acc0 += new System.Numerics.Vector<double>(a, i) * new System.Numerics.Vector<double>(b, i);
        double sum = System.Numerics.Vector.Sum(acc0 + acc1 + acc2 + acc3);
        for (; i < a.Length; i++) sum += a[i] * b[i];
        return sum;
    }

    /// <summary>v −= (v·q) q for a unit vector q.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static void SubtractProjection(double[] v, double[] q)
    {
        double dot = Dot(v, q);
        var d = new System.Numerics.Vector<double>(dot);
        int w = System.Numerics.Vector<double>.Count, i = 0;
        for (; i + w <= v.Length; i += w) (new System.Numerics.Vector<double>(v, i) - d * new System.Numerics.Vector<double>(q, i)).CopyTo(v, i);
        for (; i < v.Length; i++) v[i] -= dot * q[i];
    }
}
