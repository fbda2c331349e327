using GpuLstm.Runtime.Models.Cells;

namespace GpuLstm.Tests;

/// <summary>
/// A cell's step in plain float64, written from its equations and sharing nothing with the kernels. Every
/// reference in the tests (a cell's kernels, a layer, a stack, a whole model) is built on these steps, and
/// its gradients come from differentiating them numerically, so a new cell needs only its step here.
/// </summary>
public abstract class CellReference
{
    public abstract RecurrentCell Cell { get; }

    /// <summary>
    /// One step of one sequence: xPre (G·H) = x·Wx + b (the combined bias, or b_ih), hPre (G·H) = h_prev·Wh
    /// (+ b_hh for a cell that keeps its biases apart), hPrev (H), cPrev (H) or null. Returns the new h (H)
    /// and the new c (H), or null for a cell without one.
    /// </summary>
    public abstract (double[] H, double[]? C) Step(double[] xPre, double[] hPre, double[] hPrev, double[]? cPrev, int hidden);

    public static double Sigmoid(double x) => 1 / (1 + Math.Exp(-x));

    /// <summary>The reference of every cell the build knows.</summary>
    public static IReadOnlyList<CellReference> All { get; } = new CellReference[] { new LstmReference(), new GruReference(), new RnnReference() };

    public static CellReference For(RecurrentCell cell) =>
        All.SingleOrDefault(r => r.Cell == cell) ?? throw new InvalidOperationException($"no float64 reference for the '{cell.Name}' cell");

    /// <summary>Every cell's name, for theories over cells.</summary>
    public static IEnumerable<string> CellNames => RecurrentCell.All.Select(c => c.Name);
}
