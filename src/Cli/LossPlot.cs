using GpuLstm.Runtime.Training;
using ScottPlot;

namespace GpuLstm.Cli;

/// <summary>The training curve as a PNG: the loss of every step, its moving average, and the validation loss at each evaluation.</summary>
internal static class LossPlot
{
    /// <summary>The PNG's bytes; rows must not be empty.</summary>
    public static byte[] Render(IReadOnlyList<MetricsRow> rows, string title)
    {
        if (rows.Count == 0) throw new ArgumentException("no rows to plot", nameof(rows));
        var plot = new Plot();
        double[] steps = rows.Select(r => (double)r.Step).ToArray();
        double[] loss = rows.Select(r => r.TrainLoss).ToArray();
        var raw = plot.Add.Scatter(steps, loss);
        raw.LegendText = "train loss (step)";
        raw.MarkerSize = 0;
        raw.LineWidth = 1;
        raw.Color = Colors.Blue.WithAlpha(0.25);
        int window = Math.Max(1, rows.Count / 50);
        if (window > 1)
        {
            var smooth = new double[loss.Length];
            double acc = 0;
            for (int i = 0; i < loss.Length; i++)
            {
                acc += loss[i];
                if (i >= window) acc -= loss[i - window];
                smooth[i] = acc / Math.Min(i + 1, window);
            }
            var avg = plot.Add.Scatter(steps, smooth);
            avg.LegendText = $"train loss ({window}-step mean)";
            avg.MarkerSize = 0;
            avg.LineWidth = 2;
            avg.Color = Colors.Blue;
        }
        var val = rows.Where(r => r.ValLoss is not null).ToArray();
        if (val.Length > 0)
        {
            var v = plot.Add.Scatter(val.Select(r => (double)r.Step).ToArray(), val.Select(r => r.ValLoss!.Value).ToArray());
            v.LegendText = "val loss";
            v.Color = Colors.OrangeRed;
            v.LineWidth = 2;
            v.MarkerSize = 5;
        }
        plot.Title(title);
        plot.XLabel("step");
        plot.YLabel("cross-entropy (nats per token)");
        plot.ShowLegend(Alignment.UpperRight);
        return plot.GetImageBytes(900, 500, ImageFormat.Png);
    }
}
