namespace GpuLstm.Runtime.Series;

/// <summary>A window of a many-series problem: series <see cref="Series"/> (its index in the panel), sample end <see cref="End"/> in that series' modeled indices.</summary>
internal readonly record struct PanelSample(int Series, int End);

/// <summary>
/// The series one global model trains on, as Darts and DeepAR train one: each series its own
/// <see cref="SeriesProblem"/> (its own chronological split, and its scaler fitted on its own training part),
/// and the model's windows drawn from all of them. Series may differ in length and start date: a window never
/// crosses from one series into another. A single series is a panel of one, so every forecasting run goes
/// through here.
/// </summary>
internal sealed class SeriesPanel
{
    public IReadOnlyList<SeriesProblem> Members { get; }

    /// <summary>The series' names in panel order (the single series' column name for a panel of one).</summary>
    public IReadOnlyList<string> Names { get; }

    public SeriesPanel(IReadOnlyList<SeriesProblem> members, IReadOnlyList<string> names)
    {
        ArgumentNullException.ThrowIfNull(members);
        ArgumentNullException.ThrowIfNull(names);
        if (members.Count == 0) throw new ArgumentException("a panel needs at least one series", nameof(members));
        if (names.Count != members.Count) throw new ArgumentException($"{names.Count} names for {members.Count} series", nameof(names));
        var first = members[0];
        foreach (var m in members)
            if (m.InputWidth != first.InputWidth || m.Windows.Window != first.Windows.Window || m.Horizon != first.Horizon)
                throw new ArgumentException("every series of a panel must give the model the same window, horizon and inputs per step", nameof(members));
        Members = members;
        Names = names;
    }

    public int Count => Members.Count;
    public int Window => Members[0].Windows.Window;
    public int Horizon => Members[0].Horizon;
    public int InputWidth => Members[0].InputWidth;

    public int SampleCount(SeriesPart part) => Members.Sum(m => m.Windows.SampleCount(part));

    /// <summary>The part's samples: series by series in panel order, each in time order (a fresh array the caller may shuffle).</summary>
    public PanelSample[] Samples(SeriesPart part)
    {
        var result = new PanelSample[SampleCount(part)];
        int at = 0;
        for (int s = 0; s < Members.Count; s++)
        {
            var range = Members[s].Windows.SampleEnds(part);
            for (int e = range.Start; e < range.End; e++) result[at++] = new PanelSample(s, e);
        }
        return result;
    }

    /// <summary>A time-major batch (T, B, F) and its targets (B, k) for samples from any of the series.</summary>
    public void FillBatch(ReadOnlySpan<PanelSample> samples, Span<float> inputs, Span<float> targets)
    {
        int size = samples.Length;
        if (inputs.Length < Window * size * InputWidth) throw new ArgumentException($"inputs hold {inputs.Length} floats; the batch needs {Window} × {size} × {InputWidth}", nameof(inputs));
        if (targets.Length < size * Horizon) throw new ArgumentException($"targets hold {targets.Length} floats; the batch needs {size} × {Horizon}", nameof(targets));
        for (int b = 0; b < size; b++) Members[samples[b].Series].FillSample(samples[b].End, b, size, inputs, targets);
    }
}
