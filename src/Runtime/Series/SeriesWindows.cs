namespace GpuLstm.Runtime.Series;

/// <summary>
/// Supervised samples cut from a series for window length N and horizon k. A sample is named by its end e,
/// the index of its first target: inputs are values[e − N .. e − 1] and targets values[e .. e + k − 1].
/// A part (train, validation, test) owns the samples whose targets all lie inside it: e ≥ part start and
/// e + k − 1 &lt; part end. Inputs may reach back into earlier parts; that is known history at forecast
/// time, not leakage. So the training part needs N + k values, a later part k values (if N values precede it).
/// </summary>
internal sealed class SeriesWindows
{
    private readonly SeriesRange[] _ends;

    public SeriesSplit Split { get; }

    /// <summary>N: input steps per sample (the sequence length T of a batch).</summary>
    public int Window { get; }

    /// <summary>k: future values predicted per sample.</summary>
    public int Horizon { get; }

    /// <summary>
    /// Checks that every non-empty part holds at least one sample; a part left empty on purpose (a zero
    /// fraction) simply has none.
    /// </summary>
    public SeriesWindows(SeriesSplit split, int window, int horizon)
    {
        ArgumentNullException.ThrowIfNull(split);
        if (window < 1) throw new GpuLstmException($"the window length must be at least 1, got {window}");
        if (horizon < 1) throw new GpuLstmException($"the horizon must be at least 1, got {horizon}");
        Split = split;
        Window = window;
        Horizon = horizon;
        _ends = new SeriesRange[3];
        foreach (var part in Enum.GetValues<SeriesPart>())
        {
            var range = split[part];
            int first = Math.Max(range.Start, window), last = range.End - horizon;
            if (range.IsEmpty)
            {
                _ends[(int)part] = new SeriesRange(range.Start, range.Start);
                continue;
            }
            if (last < first)
            {
                long need = (long)horizon + Math.Max(0, window - range.Start);
                string why = part == SeriesPart.Train ? " (window + horizon)" : "";
                throw new GpuLstmException(
                    $"the {Name(part)} part has {range.Length} values (indices {range.Start}..{range.End - 1} of {split.Count}), too few for one sample " +
                    $"with window {window} and horizon {horizon}: it needs at least {need}{why}");
            }
            _ends[(int)part] = new SeriesRange(first, last + 1);
        }
    }

    public static string Name(SeriesPart part) => part switch
    {
        SeriesPart.Train => "train",
        SeriesPart.Validation => "validation",
        SeriesPart.Test => "test",
        _ => throw new ArgumentOutOfRangeException(nameof(part)),
    };

    /// <summary>The ends e of the part's samples form this contiguous range.</summary>
    public SeriesRange SampleEnds(SeriesPart part) => _ends[(int)part];

    public int SampleCount(SeriesPart part) => _ends[(int)part].Length;

    /// <summary>The part's sample ends in time order, as a fresh array (the caller may shuffle it).</summary>
    public int[] Samples(SeriesPart part)
    {
        var range = _ends[(int)part];
        return Enumerable.Range(range.Start, range.Length).ToArray();
    }

    /// <summary>
    /// Fills a time-major batch from <paramref name="scaled"/> values for the samples ending at
    /// <paramref name="ends"/> (B of them): inputs (T = N, B, 1) with inputs[t·B + b] = scaled[e_b − N + t],
    /// and targets (B, k) with targets[b·k + j] = scaled[e_b + j]. Only the first T·B and B·k elements are written.
    /// </summary>
    public void FillBatch(ReadOnlySpan<double> scaled, ReadOnlySpan<int> ends, Span<float> inputs, Span<float> targets)
    {
        Split.CheckLength(scaled.Length);
        int size = ends.Length, steps = Window, horizon = Horizon;
        if (inputs.Length < steps * size) throw new ArgumentException($"inputs hold {inputs.Length} floats; the batch needs {steps} × {size}", nameof(inputs));
        if (targets.Length < size * horizon) throw new ArgumentException($"targets hold {targets.Length} floats; the batch needs {size} × {horizon}", nameof(targets));
        for (int b = 0; b < size; b++)
        {
            int e = ends[b];
            CheckEnd(e, scaled.Length);
            for (int t = 0; t < steps; t++) inputs[t * size + b] = (float)scaled[e - steps + t];
            for (int j = 0; j < horizon; j++) targets[b * horizon + j] = (float)scaled[e + j];
        }
    }

    /// <summary>The targets of the samples at <paramref name="ends"/>, (B, k) row-major, in the units of <paramref name="values"/> (for metrics in original units).</summary>
    public double[] Targets(ReadOnlySpan<double> values, ReadOnlySpan<int> ends)
    {
        Split.CheckLength(values.Length);
        var result = new double[ends.Length * Horizon];
        for (int b = 0; b < ends.Length; b++)
        {
            CheckEnd(ends[b], values.Length);
            for (int j = 0; j < Horizon; j++) result[b * Horizon + j] = values[ends[b] + j];
        }
        return result;
    }

    private void CheckEnd(int e, int count)
    {
        if (e < Window || e + Horizon > count)
            throw new ArgumentOutOfRangeException(nameof(e), e, $"a sample end must lie in [{Window}, {count - Horizon}] for window {Window} and horizon {Horizon}");
    }
}
