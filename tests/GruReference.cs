using GpuLstm.Runtime.Models.Cells;

namespace GpuLstm.Tests;

/// <summary>
/// The GRU step in float64, PyTorch's nn.GRU (gates [r z n], the reset applied after the recurrent product):
///   r = σ(x·W_ir + b_ir + h·W_hr + b_hr),  z = σ(x·W_iz + b_iz + h·W_hz + b_hz),
///   n = tanh(x·W_in + b_in + r ⊙ (h·W_hn + b_hn)),  h' = (1 − z) ⊙ n + z ⊙ h.
/// </summary>
public sealed class GruReference : CellReference
{
    public override RecurrentCell Cell => RecurrentCell.Gru;

    public override (double[] H, double[]? C) Step(double[] xPre, double[] hPre, double[] hPrev, double[]? cPrev, int hidden)
    {
        var h = new double[hidden];
        for (int j = 0; j < hidden; j++)
        {
            double r = Sigmoid(xPre[j] + hPre[j]);
            double z = Sigmoid(xPre[hidden + j] + hPre[hidden + j]);
            double n = Math.Tanh(xPre[2 * hidden + j] + r * hPre[2 * hidden + j]);
            h[j] = (1 - z) * n + z * hPrev[j];
        }
        return (h, null);
    }
}
