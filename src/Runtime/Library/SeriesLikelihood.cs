namespace GpuLstm;

/// <summary>
/// What a forecaster's head predicts for each horizon step, and the loss it trains with: Point, one value
/// (mean squared error, the default); Gaussian, a mean and a scale (negative log-likelihood); Quantile, one
/// value per quantile level (pinball loss).
/// </summary>
public enum SeriesLikelihood
{
    Point,
    Gaussian,
    Quantile,
}
