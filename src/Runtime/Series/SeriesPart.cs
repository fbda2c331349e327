namespace GpuLstm.Runtime.Series;

/// <summary>The three chronological parts of a series, in time order.</summary>
public enum SeriesPart
{
    Train,
    Validation,
    Test,
}
