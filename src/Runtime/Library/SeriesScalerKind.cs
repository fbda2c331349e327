namespace GpuLstm;

/// <summary>How a <see cref="Runtime.Series.SeriesScaler"/> maps values: MinMax to [0, 1] on the training part, ZScore to mean 0 and standard deviation 1.</summary>
public enum SeriesScalerKind
{
    MinMax,
    ZScore,
}
