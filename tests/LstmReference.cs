using GpuLstm.Runtime.Models.Cells;

namespace GpuLstm.Tests;

/// <summary>The LSTM step in float64: gates [i f g o], c' = f·c + i·g, h' = o·tanh(c').</summary>
public sealed class LstmReference : CellReference
{
    public override RecurrentCell Cell => RecurrentCell.Lstm;

    public override (double[] H, double[]? C) Step(double[] xPre, double[] hPre, double[] hPrev, double[]? cPrev, int hidden)
    {
        var h = new double[hidden];
        var c = new double[hidden];
        for (int j = 0; j < hidden; j++)
        {
            double Pre(int gate) => xPre[gate * hidden + j] + hPre[gate * hidden + j];
            double i = Sigmoid(Pre(0)), f = Sigmoid(Pre(1)), g = Math.Tanh(Pre(2)), o = Sigmoid(Pre(3));
            c[j] = f * cPrev![j] + i * g;
            h[j] = o * Math.Tanh(c[j]);
        }
        return (h, c);
    }
}
