namespace GpuLstm.Tests;

/// <summary>
/// The series model in float64 with plain loops: stacked (optionally bidirectional) LSTM levels over dense
/// inputs, a Dense head on the top level's final state(s), mean squared error. The gradient checks
/// differentiate <see cref="Loss"/> numerically.
/// </summary>
public static class SeriesReference
{
    /// <summary>Level l's weights: its forward layer and, when bidirectional, its reverse layer.</summary>
    public sealed record Weights(Reference.LstmWeights[] Forward, Reference.LstmWeights[]? Reverse, double[] HeadWeights, double[] HeadBias);

    /// <summary>x (T,B,F) time-major as xs[t][b] (F).</summary>
    public static double[][][] Sequence(float[] x, int steps, int batch, int features)
    {
        var xs = new double[steps][][];
        for (int t = 0; t < steps; t++)
        {
            xs[t] = new double[batch][];
            for (int b = 0; b < batch; b++)
            {
                xs[t][b] = new double[features];
                for (int f = 0; f < features; f++) xs[t][b][f] = x[(t * batch + b) * features + f];
            }
        }
        return xs;
    }

    /// <summary>
    /// One LSTM layer over xs[t][b] from a zero state, visiting t = 0 … T−1, or T−1 … 0 when reverse.
    /// Returns outputs[t][b] (H), indexed by input time in both directions.
    /// </summary>
    public static double[][][] Lstm(Reference.LstmWeights w, double[][][] xs, int hidden, bool reverse)
    {
        int steps = xs.Length, batch = xs[0].Length;
        var outputs = new double[steps][][];
        for (int t = 0; t < steps; t++) outputs[t] = new double[batch][];
        for (int b = 0; b < batch; b++)
        {
            var h = new double[hidden];
            var c = new double[hidden];
            for (int s = 0; s < steps; s++)
            {
                int t = reverse ? steps - 1 - s : s;
                var hNew = new double[hidden];
                for (int j = 0; j < hidden; j++)
                {
                    var gate = new double[4];
                    for (int q = 0; q < 4; q++)
                    {
                        int col = q * hidden + j;
                        double acc = w.Bias[col];
                        for (int p = 0; p < w.InputSize; p++) acc += xs[t][b][p] * w.Wx[p * 4 * hidden + col];
                        for (int p = 0; p < hidden; p++) acc += h[p] * w.Wh[p * 4 * hidden + col];
                        gate[q] = acc;
                    }
                    double i = Reference.Sigmoid(gate[0]), f = Reference.Sigmoid(gate[1]), g = Math.Tanh(gate[2]), o = Reference.Sigmoid(gate[3]);
                    c[j] = f * c[j] + i * g;
                    hNew[j] = o * Math.Tanh(c[j]);
                }
                h = hNew;
                outputs[t][b] = hNew;
            }
        }
        return outputs;
    }

    /// <summary>The forecasts (B,K) for x (T,B,F).</summary>
    public static double[] Predictions(Weights w, float[] x, int steps, int batch, int features, int hidden, int horizon)
    {
        var xs = Sequence(x, steps, batch, features);
        double[][] final = new double[batch][];
        for (int l = 0; l < w.Forward.Length; l++)
        {
            var fwd = Lstm(w.Forward[l], xs, hidden, reverse: false);
            if (w.Reverse is null)
            {
                xs = fwd;
                for (int b = 0; b < batch; b++) final[b] = fwd[steps - 1][b];
                continue;
            }
            var rev = Lstm(w.Reverse[l], xs, hidden, reverse: true);
            // The next level reads concat(fwd_t, rev_t); the head concat(fwd final = t T−1, rev final = t 0).
            xs = new double[steps][][];
            for (int t = 0; t < steps; t++)
            {
                xs[t] = new double[batch][];
                for (int b = 0; b < batch; b++) xs[t][b] = fwd[t][b].Concat(rev[t][b]).ToArray();
            }
            for (int b = 0; b < batch; b++) final[b] = fwd[steps - 1][b].Concat(rev[0][b]).ToArray();
        }
        int width = final[0].Length;
        var y = new double[batch * horizon];
        for (int b = 0; b < batch; b++)
            for (int k = 0; k < horizon; k++)
            {
                double acc = w.HeadBias[k];
                for (int p = 0; p < width; p++) acc += final[b][p] * w.HeadWeights[p * horizon + k];
                y[b * horizon + k] = acc;
            }
        return y;
    }

    /// <summary>Mean squared error over the B·K forecasts.</summary>
    public static double Loss(Weights w, float[] x, float[] targets, int steps, int batch, int features, int hidden, int horizon)
    {
        var y = Predictions(w, x, steps, batch, features, hidden, horizon);
        double sum = 0;
        for (int i = 0; i < y.Length; i++) sum += (y[i] - targets[i]) * (y[i] - targets[i]);
        return sum / y.Length;
    }
}
