namespace GpuLstm.Tests;

/// <summary>
/// The GRU (PyTorch's nn.GRU: gates [r z n], reset applied after the recurrent product) in plain float64
/// loops, written from the equations, sharing nothing with the kernels:
///   r = σ(x·W_ir + b_ir + h·W_hr + b_hr),  z = σ(x·W_iz + b_iz + h·W_hz + b_hz),
///   n = tanh(x·W_in + b_in + r ⊙ (h·W_hn + b_hn)),  h' = (1 − z) ⊙ n + z ⊙ h.
/// </summary>
public static class GruReference
{
    /// <summary>One step: xproj (B,3H) = x·Wx + b_ih and hproj (B,3H) = hPrev·Wh + b_hh → activations [r z n] (B,3H) and h (B,H).</summary>
    public static (double[] Act, double[] H) CellForward(float[] xproj, float[] hproj, float[] hPrev, int batch, int hidden)
    {
        var act = new double[batch * 3 * hidden];
        var h = new double[batch * hidden];
        for (int b = 0; b < batch; b++)
            for (int j = 0; j < hidden; j++)
            {
                int r = b * 3 * hidden + j, z = r + hidden, n = z + hidden, e = b * hidden + j;
                double rg = Reference.Sigmoid((double)xproj[r] + hproj[r]);
                double zg = Reference.Sigmoid((double)xproj[z] + hproj[z]);
                double ng = Math.Tanh(xproj[n] + rg * hproj[n]);
                act[r] = rg; act[z] = zg; act[n] = ng;
                h[e] = (1 - zg) * ng + zg * hPrev[e];
            }
        return (act, h);
    }

    /// <summary>
    /// One step's gradients by the chain rule, from dh = dL/dh_t (B,H): dGatesInput (B,3H) of the x-side
    /// pre-activations a_r, a_z, a_n; dGatesHidden (B,3H) of hproj; dhDirect (B,H) = ∂L/∂h_{t-1} through the
    /// z ⊙ h term alone.
    /// </summary>
    public static (double[] DGatesInput, double[] DGatesHidden, double[] DhDirect) CellBackward(
        float[] act, float[] hproj, float[] hPrev, float[] dh, int batch, int hidden)
    {
        var dIn = new double[batch * 3 * hidden];
        var dHid = new double[batch * 3 * hidden];
        var dDirect = new double[batch * hidden];
        for (int b = 0; b < batch; b++)
            for (int j = 0; j < hidden; j++)
            {
                int ri = b * 3 * hidden + j, zi = ri + hidden, ni = zi + hidden, e = b * hidden + j;
                double r = act[ri], z = act[zi], n = act[ni], g = dh[e];
                // h' = (1 − z)·n + z·h
                double dLdn = g * (1 - z);
                double dLdz = g * (hPrev[e] - n);
                // n = tanh(a_n + r·hn): d/d a_n = 1 − n², d/d hn = r (1 − n²), d/dr = hn (1 − n²)
                double dLdAn = dLdn * (1 - n * n);
                double dLdr = dLdAn * hproj[ni];
                // σ' = σ (1 − σ)
                double dLdAr = dLdr * r * (1 - r);
                double dLdAz = dLdz * z * (1 - z);
                dIn[ri] = dLdAr; dIn[zi] = dLdAz; dIn[ni] = dLdAn;
                dHid[ri] = dLdAr; dHid[zi] = dLdAz; dHid[ni] = dLdAn * r;
                dDirect[e] = g * z;
            }
        return (dIn, dHid, dDirect);
    }

    /// <summary>One GRU layer's weights in float64: Wx (X,3H), Wh (H,3H), b_ih (3H), b_hh (3H).</summary>
    public sealed record Weights(double[] Wx, double[] Wh, double[] BiasIh, double[] BiasHh, int InputSize);

    /// <summary>
    /// A whole layer over x (T,B,X) time-major from h0 (B,H) (zeros when null), in input order t = 0 … T−1,
    /// or T−1 … 0 when <paramref name="reverse"/>: outputs (T,B,H) indexed by input time, and the final state (B,H).
    /// </summary>
    public static (double[] Outputs, double[] Last) LayerForward(Weights w, double[] x, int steps, int batch, int hidden,
        bool reverse, double[]? h0 = null)
    {
        int g = 3 * hidden;
        var h = h0 is null ? new double[batch * hidden] : (double[])h0.Clone();
        var outputs = new double[steps * batch * hidden];
        for (int s = 0; s < steps; s++)
        {
            int t = reverse ? steps - 1 - s : s;
            var next = new double[batch * hidden];
            for (int b = 0; b < batch; b++)
                for (int j = 0; j < hidden; j++)
                {
                    var ax = new double[3];
                    var ah = new double[3];
                    for (int q = 0; q < 3; q++)
                    {
                        int col = q * hidden + j;
                        double sx = w.BiasIh[col], sh = w.BiasHh[col];
                        for (int p = 0; p < w.InputSize; p++) sx += x[(t * batch + b) * w.InputSize + p] * w.Wx[p * g + col];
                        for (int p = 0; p < hidden; p++) sh += h[b * hidden + p] * w.Wh[p * g + col];
                        ax[q] = sx; ah[q] = sh;
                    }
                    double r = Reference.Sigmoid(ax[0] + ah[0]);
                    double z = Reference.Sigmoid(ax[1] + ah[1]);
                    double n = Math.Tanh(ax[2] + r * ah[2]);
                    next[b * hidden + j] = (1 - z) * n + z * h[b * hidden + j];
                }
            h = next;
            Array.Copy(h, 0, outputs, t * batch * hidden, batch * hidden);
        }
        return (outputs, h);
    }
}
