namespace GpuLstm.Runtime.Series;

/// <summary>The half-open index range [Start, End) of a series.</summary>
internal readonly record struct SeriesRange(int Start, int End)
{
    public int Length => End - Start;

    public bool IsEmpty => End == Start;

    public bool Contains(int index) => index >= Start && index < End;

    public override string ToString() => IsEmpty ? $"[{Start}, {End}) (empty)" : $"[{Start}, {End})";
}
