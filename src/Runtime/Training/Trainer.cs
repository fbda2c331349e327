using System.Diagnostics;
using GpuLstm.Runtime.Data;
using GpuLstm.Runtime.Models;

namespace GpuLstm.Runtime.Training;

public sealed record TrainOptions(int Epochs = 50, int BatchSize = 16, ulong Seed = 42)
{
    public void Validate()
    {
        if (Epochs < 1) throw new GpuLstmException($"epochs must be positive, got {Epochs}");
        if (BatchSize < 1) throw new GpuLstmException($"batch size must be positive, got {BatchSize}");
    }
}

/// <summary>What the trainer reports after each epoch (0-based <c>Epoch</c>).</summary>
public sealed record EpochReport(int Epoch, int Epochs, double Loss, int Steps, TimeSpan Elapsed, long KernelLaunches,
    EarlyStopping.Decision Decision);

/// <summary>Why training ended.</summary>
public enum TrainEnd
{
    /// <summary>All epochs ran.</summary>
    Completed,
    /// <summary>Early stopping ended it.</summary>
    EarlyStopped,
    /// <summary>Cancelled (Ctrl-C, SIGTERM) at a step boundary; the weights are those after the last full step.</summary>
    Interrupted,
    /// <summary>The loss or the gradients became NaN or infinite; the weights are those before the bad step.</summary>
    Diverged,
}

public sealed record TrainResult(TrainEnd End, int EpochsRun, double FinalLoss, double BestLoss, int BestEpoch, int StoppedEpoch,
    bool RestoredBestWeights, TimeSpan Elapsed, long Steps, double LaunchesPerStep, string? DivergedWhat = null);

/// <summary>
/// Keras's fit loop: each epoch shuffles the windows, trains on batches of B (the last one partial), and
/// reports the mean loss over the epoch's windows; early stopping watches that loss.
/// </summary>
public sealed class Trainer
{
    private readonly CharLstmModel _model;
    private readonly WindowDataset _data;
    private readonly AdamOptimizer _adam;
    private readonly EarlyStoppingOptions _stopping;
    private readonly TrainOptions _options;

    public event Action<EpochReport>? EpochEnded;

    public Trainer(CharLstmModel model, WindowDataset data, AdamOptimizer adam, EarlyStoppingOptions stopping, TrainOptions options)
    {
        options.Validate();
        stopping.Validate();
        if (stopping.Monitor != "loss")
            throw new GpuLstmException($"early stopping can monitor 'loss' in this mode, not '{stopping.Monitor}'");
        if (options.BatchSize > model.MaxBatch)
            throw new ArgumentException($"batch {options.BatchSize} exceeds the model's capacity {model.MaxBatch}");
        _model = model; _data = data; _adam = adam; _stopping = stopping; _options = options;
    }

    public TrainResult Train(CancellationToken cancel = default)
    {
        var shuffle = Rng.ForPurpose(_options.Seed, "shuffle");
        var stopper = new EarlyStopping(_stopping);
        var order = new int[_data.Count];
        var batch = new TokenBatch(_data.SeqLength, _options.BatchSize);
        float[]? bestWeights = null;
        double lastLoss = double.NaN;
        long steps = 0;
        long launchesBefore = _model.Kernels.LaunchCount;
        var total = Stopwatch.StartNew();
        var end = TrainEnd.Completed;
        string? diverged = null;
        int epoch = 0;
        for (; epoch < _options.Epochs && end == TrainEnd.Completed; epoch++)
        {
            var clock = Stopwatch.StartNew();
            long launchesAtStart = _model.Kernels.LaunchCount;
            for (int i = 0; i < order.Length; i++) order[i] = i;
            shuffle.Shuffle(order);
            double sum = 0;
            int epochSteps = 0, lossWindows = 0;
            for (int start = 0; start < order.Length; start += _options.BatchSize)
            {
                if (cancel.IsCancellationRequested) { end = TrainEnd.Interrupted; break; }
                int size = Math.Min(_options.BatchSize, order.Length - start);
                _data.FillBatch(order.AsSpan(start, size), batch, _model.Config.Loss);
                double loss = _model.LossAndGradients(batch);
                // The norm costs one reduction per step; checking it before Adam keeps a NaN or infinite
                // gradient out of the weights, so the model stays at its last good state.
                double norm = _model.GradientNorm();
                if (!double.IsFinite(loss) || !double.IsFinite(norm))
                {
                    end = TrainEnd.Diverged;
                    diverged = $"step {steps + epochSteps + 1} (epoch {epoch + 1}): the {(double.IsFinite(loss) ? "gradient norm" : "loss")} is {(double.IsFinite(loss) ? norm : loss)}";
                    break;
                }
                _adam.Apply(norm);
                sum += loss * size;
                lossWindows += size;
                epochSteps++;
            }
            _model.Kernels.Synchronize();
            steps += epochSteps;
            if (end != TrainEnd.Completed) { if (epochSteps > 0 && end == TrainEnd.Interrupted) lastLoss = sum / lossWindows; break; }
            lastLoss = sum / order.Length;
            var decision = stopper.Update(epoch, lastLoss);
            if (decision == EarlyStopping.Decision.Improved && _stopping.RestoreBestWeights)
                bestWeights = _model.Parameters.GetValues();
            EpochEnded?.Invoke(new EpochReport(epoch, _options.Epochs, lastLoss, epochSteps, clock.Elapsed,
                _model.Kernels.LaunchCount - launchesAtStart, decision));
            if (decision == EarlyStopping.Decision.Stop) { end = TrainEnd.EarlyStopped; epoch++; break; }
        }
        bool restored = false;
        if ((end is TrainEnd.Completed or TrainEnd.EarlyStopped) && bestWeights is not null && stopper.BestEpoch != epoch - 1)
        {
            _model.Parameters.SetValues(bestWeights);
            restored = true;
        }
        long launches = _model.Kernels.LaunchCount - launchesBefore;
        return new TrainResult(end, epoch, lastLoss, stopper.Best, stopper.BestEpoch, stopper.StoppedEpoch, restored, total.Elapsed,
            steps, steps == 0 ? 0 : (double)launches / steps, diverged);
    }
}
