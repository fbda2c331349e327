using GpuLstm.Runtime.Models;

namespace GpuLstm.Tests;

/// <summary>One recurrent layer's weights in float64: Wx (X,G·H), Wh (H,G·H), the bias (G·H), b_hh (G·H) for a cell that keeps it apart.</summary>
internal sealed record LayerWeights(double[] Wx, double[] Wh, double[] Bias, double[]? RecurrentBias, int InputSize)
{
    /// <summary>The layer's weights at parameter values <paramref name="theta"/>, sliced by its own tensors.</summary>
    public static LayerWeights Of(RecurrentLayer layer, double[] theta) => new(
        Slice(theta, layer.InputWeights), Slice(theta, layer.RecurrentWeights), Slice(theta, layer.InputBias),
        layer.RecurrentBias is null ? null : Slice(theta, layer.RecurrentBias), layer.InputSize);

    public static double[] Slice(double[] all, ParameterTensor t) => all.AsSpan(t.Offset, t.Length).ToArray();
}

/// <summary>
/// Layers, stacks and whole models in float64 with plain loops, for any cell through its
/// <see cref="CellReference"/>. The gradient checks differentiate these numerically.
/// </summary>
internal static class StackReference
{
    /// <summary>
    /// One layer over x (T,B,X) time-major from h0, c0 (B,H) (zeros when null), visiting t = 0 … T−1, or
    /// T−1 … 0 when <paramref name="reverse"/>: outputs (T,B,H) indexed by input time, and the final h (B,H).
    /// </summary>
    public static (double[] Outputs, double[] Last) Layer(CellReference cell, LayerWeights w, double[] x, int steps, int batch, int hidden,
        bool reverse, double[]? h0 = null, double[]? c0 = null)
    {
        int gh = cell.Cell.Gates * hidden;
        var outputs = new double[steps * batch * hidden];
        var last = new double[batch * hidden];
        for (int b = 0; b < batch; b++)
        {
            var h = h0 is null ? new double[hidden] : h0.AsSpan(b * hidden, hidden).ToArray();
            double[]? c = cell.Cell.HasCellState ? (c0 is null ? new double[hidden] : c0.AsSpan(b * hidden, hidden).ToArray()) : null;
            for (int s = 0; s < steps; s++)
            {
                int t = reverse ? steps - 1 - s : s;
                var xPre = (double[])w.Bias.Clone();
                var hPre = w.RecurrentBias is null ? new double[gh] : (double[])w.RecurrentBias.Clone();
                for (int col = 0; col < gh; col++)
                {
                    for (int p = 0; p < w.InputSize; p++) xPre[col] += x[(t * batch + b) * w.InputSize + p] * w.Wx[p * gh + col];
                    for (int p = 0; p < hidden; p++) hPre[col] += h[p] * w.Wh[p * gh + col];
                }
                (h, var cNew) = cell.Step(xPre, hPre, h, c, hidden);
                c = cNew;
                Array.Copy(h, 0, outputs, (t * batch + b) * hidden, hidden);
            }
            Array.Copy(h, 0, last, b * hidden, hidden);
        }
        return (outputs, last);
    }

    /// <summary>
    /// A stack over x (T,B,X): level l's forward layer (and reverse layer, when given) read the level's input;
    /// the next level reads their outputs joined (T,B,D·H), multiplied by dropMask(l, index) when given. Returns
    /// the top level's outputs (T,B,D·H) and its final state (B,D·H): concat(h_T forward, h after t = 0 reverse).
    /// </summary>
    public static (double[] Outputs, double[] Final) Stack(CellReference cell, LayerWeights[] forward, LayerWeights[]? reverse, double[] x,
        int steps, int batch, int hidden, Func<int, int, double>? dropMask = null)
    {
        int d = reverse is null ? 1 : 2, w = d * hidden, rows = steps * batch;
        double[] outputs = x, final = [];
        for (int l = 0; l < forward.Length; l++)
        {
            if (l > 0 && dropMask is not null)
                outputs = outputs.Select((v, i) => v * dropMask(l - 1, i)).ToArray();
            var (fo, fl) = Layer(cell, forward[l], outputs, steps, batch, hidden, reverse: false);
            if (reverse is null) { outputs = fo; final = fl; continue; }
            var (ro, rl) = Layer(cell, reverse[l], outputs, steps, batch, hidden, reverse: true);
            outputs = new double[rows * w];
            for (int r = 0; r < rows; r++)
            {
                Array.Copy(fo, r * hidden, outputs, r * w, hidden);
                Array.Copy(ro, r * hidden, outputs, r * w + hidden, hidden);
            }
            final = new double[batch * w];
            for (int b = 0; b < batch; b++)
            {
                Array.Copy(fl, b * hidden, final, b * w, hidden);
                Array.Copy(rl, b * hidden, final, b * w + hidden, hidden);
            }
        }
        return (outputs, final);
    }

    /// <summary>rows (R,X)·W (X,N) + b.</summary>
    public static double[] Dense(double[] x, double[] weights, double[] bias, int rows, int inputs, int outputs)
    {
        var y = new double[rows * outputs];
        for (int r = 0; r < rows; r++)
            for (int n = 0; n < outputs; n++)
            {
                double acc = bias[n];
                for (int p = 0; p < inputs; p++) acc += x[r * inputs + p] * weights[p * outputs + n];
                y[r * outputs + n] = acc;
            }
        return y;
    }

    /// <summary>
    /// A language model's mean loss: one-hot rows or embedding (V,D) rows of inputs (T,B) → the stack → Dense
    /// (H,V) → cross-entropy against targets (B) at the last position or (T,B) at every position.
    /// </summary>
    public static double LanguageModelLoss(LanguageModel model, double[] theta, int[] inputs, int[] targets, int steps, int batch, bool allPositions,
        Func<int, int, double>? dropMask = null)
    {
        var c = model.Config;
        var cell = CellReference.For(c.Cell);
        int v = c.VocabSize, h = c.Hidden, width = c.InputWidth;
        var x = new double[steps * batch * width];
        for (int r = 0; r < steps * batch; r++)
            for (int j = 0; j < width; j++)
                x[r * width + j] = c.Embedding > 0 ? theta[model.Embedding!.Offset + inputs[r] * c.Embedding + j] : (inputs[r] == j ? 1 : 0);
        var (outputs, final) = Stack(cell, model.Stack.ForwardLayers.Select(l => LayerWeights.Of(l, theta)).ToArray(), null, x, steps, batch, h, dropMask);
        int rows = allPositions ? steps * batch : batch;
        var logits = Dense(allPositions ? outputs : final, LayerWeights.Slice(theta, model.Dense.Weights), LayerWeights.Slice(theta, model.Dense.Bias), rows, h, v);
        double total = 0;
        for (int r = 0; r < rows; r++)
        {
            var row = logits.AsSpan(r * v, v);
            double max = double.NegativeInfinity;
            foreach (double l in row) max = Math.Max(max, l);
            double sum = 0;
            foreach (double l in row) sum += Math.Exp(l - max);
            total += Math.Log(sum) - (row[targets[r]] - max);
        }
        return total / rows;
    }

    /// <summary>A series model's forecasts (B,K) for x (T,B,F): the stack, then the head on its final state.</summary>
    public static double[] SeriesPredictions(SeriesModel model, double[] theta, float[] x, int batch, Func<int, int, double>? dropMask = null)
    {
        var c = model.Config;
        var cell = CellReference.For(c.Cell);
        var (_, final) = Stack(cell, model.ForwardLayers.Select(l => LayerWeights.Of(l, theta)).ToArray(),
            c.Bidirectional ? model.ReverseLayers.Select(l => LayerWeights.Of(l, theta)).ToArray() : null,
            x.Select(v => (double)v).ToArray(), c.Window, batch, c.Hidden, dropMask);
        return Dense(final, LayerWeights.Slice(theta, model.Head.Weights), LayerWeights.Slice(theta, model.Head.Bias), batch, c.Directions * c.Hidden, c.HeadOutputs);
    }

    /// <summary>
    /// The head's loss averaged over every output: mean squared error over the B·K forecasts, the Gaussian NLL
    /// over the B·K steps (outputs (B,2K): means, then raw scales), or the pinball loss over the B·Q·K quantile
    /// forecasts (outputs (B,Q·K): one block of K per level).
    /// </summary>
    public static double SeriesLoss(SeriesModel model, double[] theta, float[] x, float[] targets, int batch, Func<int, int, double>? dropMask = null)
    {
        var y = SeriesPredictions(model, theta, x, batch, dropMask);
        var head = model.Config.Head;
        int k = model.Config.Horizon, m = head.OutputsPerStep;
        double sum = 0;
        for (int b = 0; b < batch; b++)
            for (int j = 0; j < k; j++)
            {
                double target = targets[b * k + j];
                switch (head.Likelihood)
                {
                    case SeriesLikelihood.Gaussian:
                    {
                        double mu = y[b * 2 * k + j], sigma = Reference.GaussianScale(y[b * 2 * k + k + j]);
                        double z = (target - mu) / sigma;
                        sum += Math.Log(sigma) + 0.5 * z * z + 0.5 * Math.Log(2 * Math.PI);
                        break;
                    }
                    case SeriesLikelihood.Quantile:
                        for (int q = 0; q < m; q++)
                        {
                            double u = target - y[(b * m + q) * k + j], tau = (float)head.Quantiles[q];
                            sum += Math.Max(tau * u, (tau - 1) * u) / m;
                        }
                        break;
                    default:
                        sum += (y[b * k + j] - target) * (y[b * k + j] - target);
                        break;
                }
            }
        return sum / (batch * k);
    }
}
