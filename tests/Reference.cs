namespace GpuLstm.Tests;

/// <summary>
/// Plain float64 versions of every kernel and of the whole model, written for clarity, not speed. The
/// kernels are checked against these; the gradient check differentiates <see cref="ModelLoss"/> numerically.
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

    /// <summary>Gates (B,4H) pre-activations → activations (B,4H), c (B,H), h (B,H).</summary>
    public static (double[] Act, double[] C, double[] H) CellForward(float[] pre, float[] cPrev, int batch, int hidden)
    {
        var act = new double[batch * 4 * hidden];
        var c = new double[batch * hidden];
        var h = new double[batch * hidden];
        for (int b = 0; b < batch; b++)
            for (int j = 0; j < hidden; j++)
            {
                int row = b * 4 * hidden;
                double i = Sigmoid(pre[row + j]), f = Sigmoid(pre[row + hidden + j]);
                double g = Math.Tanh(pre[row + 2 * hidden + j]), o = Sigmoid(pre[row + 3 * hidden + j]);
                act[row + j] = i; act[row + hidden + j] = f; act[row + 2 * hidden + j] = g; act[row + 3 * hidden + j] = o;
                c[b * hidden + j] = f * cPrev[b * hidden + j] + i * g;
                h[b * hidden + j] = o * Math.Tanh(c[b * hidden + j]);
            }
        return (act, c, h);
    }

    /// <summary>Gradients of one step from first principles: dGates (B,4H) and dc_{t-1} (B,H).</summary>
    public static (double[] DGates, double[] DcPrev) CellBackward(float[] act, float[] cPrev, float[] c, float[] dh, float[] dcIn, int batch, int hidden)
    {
        var dGates = new double[batch * 4 * hidden];
        var dcPrev = new double[batch * hidden];
        for (int b = 0; b < batch; b++)
            for (int j = 0; j < hidden; j++)
            {
                int row = b * 4 * hidden, e = b * hidden + j;
                double i = act[row + j], f = act[row + hidden + j], g = act[row + 2 * hidden + j], o = act[row + 3 * hidden + j];
                double tc = Math.Tanh(c[e]);
                double dcTotal = dcIn[e] + dh[e] * o * (1 - tc * tc);
                dGates[row + j] = dcTotal * g * i * (1 - i);
                dGates[row + hidden + j] = dcTotal * cPrev[e] * f * (1 - f);
                dGates[row + 2 * hidden + j] = dcTotal * i * (1 - g * g);
                dGates[row + 3 * hidden + j] = dh[e] * tc * o * (1 - o);
                dcPrev[e] = dcTotal * f;
            }
        return (dGates, dcPrev);
    }

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

    /// <summary>One LSTM layer's weights in float64: Wx (X,4H), Wh (H,4H), b (4H).</summary>
    public sealed record LstmWeights(double[] Wx, double[] Wh, double[] Bias, int InputSize);

    /// <summary>
    /// One LSTM layer over x (T,B,X) time-major from a zero state, in input order t = 0 … T−1, or T−1 … 0 when
    /// <paramref name="reverse"/>: outputs (T,B,H) indexed by input time, and the final h (B,H).
    /// </summary>
    public static (double[] Outputs, double[] Last) LstmLayerForward(LstmWeights w, double[] x, int steps, int batch, int hidden, bool reverse)
    {
        int g = 4 * hidden;
        var h = new double[batch * hidden];
        var c = new double[batch * hidden];
        var outputs = new double[steps * batch * hidden];
        for (int s = 0; s < steps; s++)
        {
            int t = reverse ? steps - 1 - s : s;
            var hNew = new double[batch * hidden];
            for (int b = 0; b < batch; b++)
                for (int j = 0; j < hidden; j++)
                {
                    var gate = new double[4];
                    for (int q = 0; q < 4; q++)
                    {
                        int col = q * hidden + j;
                        double acc = w.Bias[col];
                        for (int p = 0; p < w.InputSize; p++) acc += x[(t * batch + b) * w.InputSize + p] * w.Wx[p * g + col];
                        for (int p = 0; p < hidden; p++) acc += h[b * hidden + p] * w.Wh[p * g + col];
                        gate[q] = acc;
                    }
                    double i = Sigmoid(gate[0]), f = Sigmoid(gate[1]), gg = Math.Tanh(gate[2]), o = Sigmoid(gate[3]);
                    int e = b * hidden + j;
                    c[e] = f * c[e] + i * gg;
                    hNew[e] = o * Math.Tanh(c[e]);
                }
            h = hNew;
            Array.Copy(h, 0, outputs, t * batch * hidden, batch * hidden);
        }
        return (outputs, h);
    }

    /// <summary>
    /// The whole model's mean loss in float64: one-hot (or embedding (V,D) rows) → stacked LSTM layers → Dense
    /// (Wy (H,V), by (V)). inputs: (T,B) time-major; targets: (B) for the last position or (T,B) for every
    /// position. dropMask(boundary, (t·B + b)·H + j) multiplies layer boundary's outputs before the layer above.
    /// </summary>
    public static double ModelLoss(IReadOnlyList<LstmWeights> layers, double[] wy, double[] by,
        int[] inputs, int[] targets, int steps, int batch, int vocab, int hidden, bool allPositions,
        double[]? embedding = null, int embeddingSize = 0, Func<int, int, double>? dropMask = null)
    {
        // xs[t][b] is the input vector of the current layer.
        var xs = new double[steps][][];
        for (int t = 0; t < steps; t++)
        {
            xs[t] = new double[batch][];
            for (int b = 0; b < batch; b++)
            {
                int id = inputs[t * batch + b];
                if (embedding is null) { xs[t][b] = new double[vocab]; xs[t][b][id] = 1; }
                else xs[t][b] = embedding.AsSpan(id * embeddingSize, embeddingSize).ToArray();
            }
        }
        for (int l = 0; l < layers.Count; l++)
        {
            var layer = layers[l];
            if (l > 0 && dropMask is not null)
                for (int t = 0; t < steps; t++)
                    for (int b = 0; b < batch; b++)
                        xs[t][b] = xs[t][b].Select((x, j) => x * dropMask(l - 1, (t * batch + b) * hidden + j)).ToArray();
            var h = new double[batch][];
            var c = new double[batch][];
            for (int b = 0; b < batch; b++) { h[b] = new double[hidden]; c[b] = new double[hidden]; }
            var outputs = new double[steps][][];
            for (int t = 0; t < steps; t++)
            {
                outputs[t] = new double[batch][];
                for (int b = 0; b < batch; b++)
                {
                    var hNew = new double[hidden];
                    for (int j = 0; j < hidden; j++)
                    {
                        var gate = new double[4];
                        for (int q = 0; q < 4; q++)
                        {
                            int col = q * hidden + j;
                            double acc = layer.Bias[col];
                            for (int p = 0; p < layer.InputSize; p++) acc += xs[t][b][p] * layer.Wx[p * 4 * hidden + col];
                            for (int p = 0; p < hidden; p++) acc += h[b][p] * layer.Wh[p * 4 * hidden + col];
                            gate[q] = acc;
                        }
                        double i = Sigmoid(gate[0]), f = Sigmoid(gate[1]), g = Math.Tanh(gate[2]), o = Sigmoid(gate[3]);
                        c[b][j] = f * c[b][j] + i * g;
                        hNew[j] = o * Math.Tanh(c[b][j]);
                    }
                    h[b] = hNew;
                    outputs[t][b] = hNew;
                }
            }
            xs = outputs;
        }
        double total = 0;
        int rows = 0;
        for (int t = allPositions ? 0 : steps - 1; t < steps; t++)
            for (int b = 0; b < batch; b++)
            {
                int target = allPositions ? targets[t * batch + b] : targets[b];
                var logits = new double[vocab];
                for (int v = 0; v < vocab; v++)
                {
                    double acc = by[v];
                    for (int p = 0; p < hidden; p++) acc += xs[t][b][p] * wy[p * vocab + v];
                    logits[v] = acc;
                }
                double max = logits.Max();
                double sum = logits.Sum(l => Math.Exp(l - max));
                total += Math.Log(sum) - (logits[target] - max);
                rows++;
            }
        return total / rows;
    }
}
