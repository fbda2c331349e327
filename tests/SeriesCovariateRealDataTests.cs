using GpuLstm.Runtime.Series;
using Xunit;

namespace GpuLstm.Tests;

/// <summary>The beijing-pm25 goal, rerun: with its weather covariates the default LSTM beats persistence and AR(p) with the same covariates on the last 20%.</summary>
public sealed class SeriesCovariateRealDataTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gpulstm-pm25-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Seed 42, 1 hour ahead, the default model (window 12, LSTM(32), early stopping); README's table has the numbers (LSTM 23.57, AR(12) with covariates 24.03, persistence 24.52).</summary>
    [Fact]
    public void Pm25LstmWithCovariatesBeatsPersistenceAndArWithCovariates()
    {
        var settings = new SeriesTrainingSettings
        {
            Csv = Path.Combine(SharedData.Directory, "beijing-pm25.csv"), Column = "Pollution", DateColumn = "Date",
            Covariates = ["Dew", "Temp", "Press", "Wnd_dir", "Wnd_spd", "Snow", "Rain"], TestFraction = 0.2, Device = "cpu",
            Checkpoint = Path.Combine(_dir, "pm25.safetensors"),
        };
        using var run = new SeriesTraining(settings);
        run.Run();
        Assert.Equal(["LSTM", "persistence", "AR(12) with covariates"], run.Scores.Select(s => s.Name));
        var (lstm, persistence, ar) = (run.Scores[0].Metrics.Rmse, run.Scores[1].Metrics.Rmse, run.Scores[2].Metrics.Rmse);
        Assert.True(lstm < ar && lstm < persistence, $"test RMSE: LSTM {lstm:F3}, AR(12) with covariates {ar:F3}, persistence {persistence:F3}");
    }
}
