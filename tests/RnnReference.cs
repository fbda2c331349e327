using GpuLstm.Runtime.Models.Cells;

namespace GpuLstm.Tests;

/// <summary>The Elman RNN step in float64: h' = tanh(x·W_ih + b_ih + h·W_hh + b_hh).</summary>
public sealed class RnnReference : CellReference
{
    public override RecurrentCell Cell => RecurrentCell.Rnn;

    public override (double[] H, double[]? C) Step(double[] xPre, double[] hPre, double[] hPrev, double[]? cPrev, int hidden) =>
        (Enumerable.Range(0, hidden).Select(j => Math.Tanh(xPre[j] + hPre[j])).ToArray(), null);
}
