using GpuLstm.Runtime.Models;
using GpuLstm.Runtime.Series;

namespace GpuLstm.Runtime.Training;

/// <summary>How a forecasting model is trained: epochs of shuffled mini-batches, Adam, early stopping on the validation MSE.</summary>
public sealed record SeriesTrainingOptions(int Epochs = 200, int Batch = 16, double LearningRate = 1e-3, int Patience = 20,
    bool RestoreBest = true, ulong Seed = 42, double ClipNorm = 0);

/// <summary>One epoch's mean training loss and validation loss (MSE in scaled units; null without a validation part).</summary>
public sealed record SeriesEpoch(int Epoch, double TrainLoss, double? ValLoss, bool Improved);

public enum SeriesTrainingEnd { Completed, EarlyStopped, Interrupted }

public sealed record SeriesTrainingResult(SeriesTrainingEnd End, int EpochsRun, int BestEpoch, double BestLoss, string Monitor,
    bool RestoredBest, long Steps, TimeSpan Elapsed);

/// <summary>
/// Trains a <see cref="SeriesModel"/> on a <see cref="SeriesProblem"/>'s training samples. Each epoch shuffles
/// them with <c>Rng.ForPurpose(seed, "shuffle")</c> (one stream for the run), runs them in batches, and
/// feeds the validation loss (the training loss when there is no validation part) to Keras-style early
/// stopping. A non-finite loss throws a <see cref="GpuLstmException"/>; cancellation stops at a step boundary.
/// </summary>
public static class SeriesTrainer
{
    public static SeriesTrainingResult Train(SeriesModel model, SeriesProblem problem, SeriesTrainingOptions options,
        Action<SeriesEpoch>? epochEnded = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(problem);
        if (options.Epochs < 1) throw new GpuLstmException($"epochs must be positive, got {options.Epochs}");
        if (options.Batch < 1 || options.Batch > model.MaxBatch) throw new GpuLstmException($"the batch must be 1 to {model.MaxBatch}, got {options.Batch}");
        var windows = problem.Windows;
        int n = windows.Window, k = windows.Horizon;
        var train = windows.Samples(SeriesPart.Train);
        if (train.Length == 0) throw new GpuLstmException("the train part has no samples");
        bool hasValidation = windows.SampleCount(SeriesPart.Validation) > 0;
        string monitor = hasValidation ? "val_loss" : "loss";
        var stopping = new EarlyStopping(new EarlyStoppingOptions(monitor, options.Patience, 0, options.RestoreBest));
        using var adam = new AdamOptimizer(model, new AdamOptions(options.LearningRate, ClipNorm: options.ClipNorm));
        var rng = Rng.ForPurpose(options.Seed, "shuffle");
        int b = options.Batch;
        var inputs = new float[n * b];
        var targets = new float[b * k];
        float[]? best = null;
        long steps = 0;
        int epochsRun = 0;
        var end = SeriesTrainingEnd.Completed;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (int epoch = 0; epoch < options.Epochs; epoch++)
        {
            rng.Shuffle(train);
            double sum = 0;
            int seen = 0;
            bool interrupted = false;
            for (int start = 0; start < train.Length; start += b)
            {
                if (cancel.IsCancellationRequested) { interrupted = true; break; }
                int size = Math.Min(b, train.Length - start);
                var ends = train.AsSpan(start, size);
                windows.FillBatch(problem.Scaled, ends, inputs, targets);
                double loss = model.LossAndGradients(inputs, targets, size);
                if (!double.IsFinite(loss))
                    throw new GpuLstmException($"training diverged: the loss became {loss} in epoch {epoch + 1}, step {steps + 1}; nothing was saved (try a smaller --lr)");
                adam.Apply();
                steps++;
                sum += loss * size;
                seen += size;
            }
            if (interrupted)
            {
                end = SeriesTrainingEnd.Interrupted;
                break;
            }
            epochsRun++;
            double trainLoss = sum / seen;
            double? valLoss = hasValidation ? Evaluate(model, problem, SeriesPart.Validation) : null;
            if (valLoss is double v && !double.IsFinite(v))
                throw new GpuLstmException($"training diverged: the validation loss became {v} in epoch {epoch + 1}; nothing was saved (try a smaller --lr)");
            var decision = stopping.Update(epoch, valLoss ?? trainLoss);
            if (decision == EarlyStopping.Decision.Improved && options.RestoreBest) best = model.Parameters.GetValues();
            epochEnded?.Invoke(new SeriesEpoch(epoch, trainLoss, valLoss, decision == EarlyStopping.Decision.Improved));
            if (decision == EarlyStopping.Decision.Stop)
            {
                end = SeriesTrainingEnd.EarlyStopped;
                break;
            }
        }
        bool restored = false;
        if (options.RestoreBest && best is not null)
        {
            model.Parameters.SetValues(best);
            model.Kernels.Synchronize();
            restored = true;
        }
        return new SeriesTrainingResult(end, epochsRun, stopping.BestEpoch, stopping.Best, monitor, restored, steps, clock.Elapsed);
    }

    /// <summary>Mean squared error (scaled units) over all of <paramref name="part"/>'s samples.</summary>
    public static double Evaluate(SeriesModel model, SeriesProblem problem, SeriesPart part)
    {
        var windows = problem.Windows;
        var ends = windows.Samples(part);
        if (ends.Length == 0) throw new GpuLstmException($"the {SeriesWindows.Name(part)} part has no samples");
        int b = model.MaxBatch;
        var inputs = new float[windows.Window * b];
        var targets = new float[b * windows.Horizon];
        double sum = 0;
        for (int start = 0; start < ends.Length; start += b)
        {
            int size = Math.Min(b, ends.Length - start);
            windows.FillBatch(problem.Scaled, ends.AsSpan(start, size), inputs, targets);
            sum += model.Loss(inputs, targets, size) * size;
        }
        return sum / ends.Length;
    }

    /// <summary>The model's forecasts (B,k) in scaled modeled units for the samples at <paramref name="ends"/>.</summary>
    public static float[] Predict(SeriesModel model, SeriesProblem problem, ReadOnlySpan<int> ends)
    {
        var windows = problem.Windows;
        int b = model.MaxBatch, k = windows.Horizon;
        var inputs = new float[windows.Window * b];
        var targets = new float[b * k];
        var result = new float[ends.Length * k];
        for (int start = 0; start < ends.Length; start += b)
        {
            int size = Math.Min(b, ends.Length - start);
            windows.FillBatch(problem.Scaled, ends.Slice(start, size), inputs, targets);
            model.Predict(inputs, size, result.AsSpan(start * k, size * k));
        }
        return result;
    }

    /// <summary>
    /// <paramref name="steps"/> values past the end of the series in original units: the last window of the
    /// scaled modeled series through the model recursively, inverse-scaled, and integrated when differenced.
    /// </summary>
    public static double[] ForecastAhead(SeriesModel model, double[] original, bool difference, SeriesScaler scaler, int steps)
    {
        if (steps < 1) throw new GpuLstmException($"the number of forecast steps must be at least 1, got {steps}");
        return ForecastStream(model, original, difference, scaler).Take(steps).ToArray();
    }

    /// <summary>
    /// The same forecast as an endless stream in original units, in constant memory: take as many values as
    /// needed, as they are computed.
    /// </summary>
    public static IEnumerable<double> ForecastStream(SeriesModel model, double[] original, bool difference, SeriesScaler scaler)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(original);
        ArgumentNullException.ThrowIfNull(scaler);
        var modeled = difference ? SeriesProblem.Differences(original) : original;
        var scaled = scaler.Transform(modeled);
        var c = model.Config;
        var raw = SeriesForecast.RecursiveStream(scaled, c.Window, c.Horizon, (input, output) => model.Predict(input, 1, output));
        return Integrate(raw, scaler, difference ? original[^1] : (double?)null);

        static IEnumerable<double> Integrate(IEnumerable<double> raw, SeriesScaler scaler, double? level)
        {
            foreach (double v in raw)
            {
                double value = scaler.Inverse(v);
                if (level is double l) level = value = l + value;
                yield return value;
            }
        }
    }
}
