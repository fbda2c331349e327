namespace GpuLstm.Runtime.Series;

/// <summary>The three chronological parts of a series, in time order.</summary>
internal enum SeriesPart
{
    Train,
    Validation,
    Test,
}
