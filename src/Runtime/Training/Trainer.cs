using GpuLstm.Runtime.Data;
using System.Diagnostics;
using GpuLstm.Runtime.Compute;
using GpuLstm.Runtime.Models;

namespace GpuLstm.Runtime.Training;

/// <summary>
/// Loop settings. Seed: the run's seed (dropout masks are a hash of it and the step). EvalEvery: steps between
/// evaluations (0: at the end of each epoch). MaxSteps: stop after this many steps in all (0: no limit).
/// CheckpointEvery: steps between resumable checkpoints (0: none during training). Learning rate:
/// lr · LrDecay^max(0, epoch − LrDecayAfter + 1) (char-rnn's schedule).
/// </summary>
internal sealed record TrainOptions(int Epochs = 50, ulong Seed = 42, long MaxSteps = 0, int EvalEvery = 0,
    int CheckpointEvery = 0, double LrDecay = 1, int LrDecayAfter = 10)
{
    public void Validate()
    {
        if (Epochs < 1) throw new SettingException(nameof(Epochs), $"the number of epochs must be positive, got {Epochs}", "the number of epochs");
        if (MaxSteps < 0) throw new SettingException(nameof(MaxSteps), $"the step limit must be 0 (no limit) or positive, got {MaxSteps}", "the step limit");
        if (EvalEvery < 0) throw new SettingException(nameof(EvalEvery), $"the steps between evaluations must be 0 (each epoch) or positive, got {EvalEvery}", "the steps between evaluations");
        if (CheckpointEvery < 0) throw new SettingException(nameof(CheckpointEvery), $"the steps between checkpoints must be 0 (only at the end) or positive, got {CheckpointEvery}", "the steps between checkpoints");
        if (!(LrDecay > 0 && LrDecay <= 1)) throw new SettingException(nameof(LrDecay), $"the learning-rate decay must be in (0, 1], got {LrDecay}", "the learning-rate decay");
        if (LrDecayAfter < 1) throw new SettingException(nameof(LrDecayAfter), $"the first decaying epoch must be 1 or more, got {LrDecayAfter}", "the first decaying epoch");
    }

    public double LearningRate(double initial, int epoch) => initial * Math.Pow(LrDecay, Math.Max(0, epoch - LrDecayAfter + 1));
}

/// <summary>One training step, as the progress display and the metrics file see it (a value type: the step loop allocates nothing).</summary>
internal readonly record struct StepReport(long Step, int Epoch, int BatchInEpoch, int BatchesPerEpoch, double Loss, double LearningRate,
    long Tokens, TimeSpan Elapsed);

/// <summary>
/// One evaluation (each epoch, or every N steps): the mean training loss since the last one, the validation
/// loss when there is validation data, and what early stopping made of the monitored value.
/// </summary>
internal sealed record EvalReport(int Epoch, int Epochs, long Step, double Loss, double? ValLoss, int Steps, TimeSpan Elapsed,
    long KernelLaunches, StoppingDecision Decision, double LearningRate);

internal sealed record TrainResult(TrainEnd End, int EpochsRun, double FinalLoss, double BestLoss, int BestEpoch, int StoppedEpoch,
    bool RestoredBestWeights, TimeSpan Elapsed, long Steps, double LaunchesPerStep, string? DivergedWhat = null, double? FinalValLoss = null);

/// <summary>
/// Where a run stands between two steps: everything besides the weights, the Adam moments, the carried
/// state and the best weights that a resumed run needs to continue exactly as an uninterrupted one would.
/// </summary>
/// <param name="Ended">How the run ended, when this is its final state (null while it runs, and after an interruption).</param>
internal sealed record TrainerState(long Step, int Epoch, int BatchInEpoch, double PeriodLossSum, long PeriodRows, int PeriodSteps,
    int Evaluations, EarlyStopping.Snapshot Stopping, TrainEnd? Ended = null)
{

    public static TrainerState Initial { get; } = new(0, 0, 0, 0, 0, 0, 0, new EarlyStopping.Snapshot(double.PositiveInfinity, -1, 0));

    /// <summary>What keeps a run at this state from going on under <paramref name="options"/>, or null when it can.</summary>
    public TrainEnd? FinishedUnder(TrainOptions options) =>
        Ended == TrainEnd.EarlyStopped ? TrainEnd.EarlyStopped
        : options.MaxSteps > 0 && Step >= options.MaxSteps ? TrainEnd.StepLimit
        : Epoch >= options.Epochs ? TrainEnd.Completed
        : null;
}

/// <summary>
/// The one training loop, for every model and batching (an <see cref="ITrainingTask"/>): Keras's shuffled
/// windows, char-rnn's truncated-BPTT streams (state carried across batches and reset each epoch), series
/// windows. Each step: loss and gradients, the global norm (a NaN or infinity stops training before Adam
/// touches the weights), Adam with clipping. Evaluations feed early stopping with the training loss since the
/// last one ("loss") or the validation loss ("val_loss"); a non-finite validation loss stops training too.
/// </summary>
internal sealed class Trainer
{
    private readonly ITrainingTask _task;
    private readonly ITrainableModel _model;
    private readonly AdamOptimizer _adam;
    private readonly EarlyStoppingOptions _stopping;
    private readonly TrainOptions _options;
    private readonly Func<double>? _validate;

    /// <summary>After every step.</summary>
    public event Action<StepReport>? StepEnded;
    /// <summary>After every evaluation (each epoch, or every EvalEvery steps).</summary>
    public event Action<EvalReport>? Evaluated;
    /// <summary>Every CheckpointEvery steps, with the state to save beside the weights.</summary>
    public event Action<TrainerState>? CheckpointDue;

    /// <summary>Weights of the best evaluation so far, when restoring the best; a resumed run sets them from its checkpoint.</summary>
    public float[]? BestWeights { get; set; }

    public Trainer(ITrainingTask task, AdamOptimizer adam, EarlyStoppingOptions stopping, TrainOptions options, Func<double>? validate = null)
    {
        options.Validate();
        stopping.Validate();
        if (stopping.Monitor == MonitoredLoss.ValLoss && validate is null)
            throw new SettingException(nameof(EarlyStoppingOptions.Monitor), "early stopping on val_loss needs validation data (a validation fraction above 0)");
        _task = task; _model = task.Model; _adam = adam; _stopping = stopping; _options = options; _validate = validate;
    }

    /// <summary>A step the device may still be running: what its report needs once its outcome is read.</summary>
    private readonly record struct PendingStep(int Slot, long Step, int Epoch, int BatchInEpoch, int BatchesPerEpoch, long Rows, long Items,
        double LearningRate);

    public TrainResult Train(CancellationToken cancel = default, TrainerState? resume = null)
    {
        var state = resume ?? TrainerState.Initial;
        var stopper = new EarlyStopping(_stopping);
        stopper.Restore(state.Stopping);
        long step = state.Step;
        double periodSum = state.PeriodLossSum;
        long periodRows = state.PeriodRows;
        int periodSteps = state.PeriodSteps, evaluations = state.Evaluations;
        double lastLoss = double.NaN;
        double? lastVal = null;
        long launchesBefore = _model.Kernels.LaunchCount, launchesAtPeriod = launchesBefore;
        long syncsBefore = _model.Kernels.SyncCount;
        var total = Stopwatch.StartNew();
        var periodClock = Stopwatch.StartNew();
        var end = TrainEnd.Completed;
        string? diverged = null;
        long stepsThisRun = 0;
        int posEpoch = state.Epoch, posBatch = state.BatchInEpoch; // the next batch to run
        TrainerState Position() => Normalize(new TrainerState(step, posEpoch, posBatch, periodSum, periodRows, periodSteps, evaluations, stopper.Save()));
        _adam.ResetGuard();
        // The host reads each step's outcome (loss, norm, divergence) one step late: step s is enqueued before the
        // host waits for step s−1, so the device always has a step queued and never waits for the host. The step
        // loss and the norm are reduced on the device, and a NaN or infinite one halts Adam there, so the weights
        // stay at their last good state although the host learns of it a step later.
        PendingStep? pending = null;
        int slot = 0;

        // Books the pending step: its loss joins the period's mean and it is reported. False when it diverged.
        bool Settle()
        {
            if (pending is not { } p) return true;
            pending = null;
            var outcome = _adam.ReadOutcome(p.Slot);
            double loss = outcome.LossSum / p.Rows;
            if (outcome.Diverged || outcome.Halted)
            {
                end = TrainEnd.Diverged;
                bool lossFinite = double.IsFinite(loss);
                diverged = $"step {p.Step} (epoch {p.Epoch + 1}): the {(lossFinite ? "gradient norm" : "loss")} is {(lossFinite ? outcome.GradientNorm : loss)}";
                step = p.Step - 1;
                return false;
            }
            periodSum += loss * p.Rows;
            periodRows += p.Rows;
            periodSteps++;
            StepEnded?.Invoke(new StepReport(p.Step, p.Epoch, p.BatchInEpoch, p.BatchesPerEpoch, loss, p.LearningRate, p.Items, total.Elapsed));
            return true;
        }

        for (int e = 0; e < state.Epoch; e++) _task.BeginEpoch(e);
        int epoch = state.Epoch;
        for (; epoch < _options.Epochs && end == TrainEnd.Completed; epoch++)
        {
            _task.BeginEpoch(epoch);
            _adam.LearningRate = _options.LearningRate(_adam.Options.LearningRate, epoch);
            int first = epoch == state.Epoch ? state.BatchInEpoch : 0;
            int batches = _task.BatchesPerEpoch;
            for (int i = first; i < batches; i++)
            {
                if (cancel.IsCancellationRequested) { end = TrainEnd.Interrupted; break; }
                if (_options.MaxSteps > 0 && step >= _options.MaxSteps) { end = TrainEnd.StepLimit; break; }
                bool carried = _task.CarriesState && i > 0;
                var work = _task.Step(i, carried, Dropout.Key(_options.Seed, step));
                _adam.Finish(work.RowLosses, slot);
                if (_task.CarriesState) _task.CarryState();
                step++;
                stepsThisRun++;
                posEpoch = epoch;
                posBatch = i + 1;
                if (!Settle()) break;
                pending = new PendingStep(slot, step, epoch, i, batches, work.Rows, work.Items, _adam.LearningRate);
                slot ^= 1;

                bool evaluate = _options.EvalEvery > 0 ? step % _options.EvalEvery == 0 : i == batches - 1;
                if (evaluate)
                {
                    if (!Settle()) break;
                    _model.Kernels.Synchronize();
                    lastLoss = periodSum / periodRows;
                    lastVal = _validate?.Invoke();
                    if (lastVal is double v && !double.IsFinite(v))
                    {
                        end = TrainEnd.Diverged;
                        diverged = $"step {step} (epoch {epoch + 1}): the validation loss is {v}";
                        break;
                    }
                    double monitored = _stopping.Monitor == MonitoredLoss.ValLoss ? lastVal!.Value : lastLoss;
                    var decision = stopper.Update(evaluations, monitored);
                    if (decision == StoppingDecision.Improved && _stopping.RestoreBestWeights)
                        BestWeights = _model.Parameters.GetValues();
                    Evaluated?.Invoke(new EvalReport(epoch, _options.Epochs, step, lastLoss, lastVal, periodSteps, periodClock.Elapsed,
                        _model.Kernels.LaunchCount - launchesAtPeriod, decision, _adam.LearningRate));
                    evaluations++;
                    periodSum = 0; periodRows = 0; periodSteps = 0;
                    periodClock.Restart();
                    launchesAtPeriod = _model.Kernels.LaunchCount;
                    if (decision == StoppingDecision.Stop) end = TrainEnd.EarlyStopped;
                }
                if (_options.CheckpointEvery > 0 && step % _options.CheckpointEvery == 0 && CheckpointDue is not null)
                {
                    if (!Settle()) break;
                    _model.Kernels.Synchronize();
                    CheckpointDue(Position());
                }
                if (end == TrainEnd.EarlyStopped) break;
            }
            if (end != TrainEnd.Completed) break;
        }
        if (end != TrainEnd.Diverged) Settle();
        _model.Kernels.Synchronize();
        CurrentState = Position() with { Ended = end is TrainEnd.Completed or TrainEnd.EarlyStopped or TrainEnd.StepLimit ? end : null };
        if (end is TrainEnd.Interrupted or TrainEnd.StepLimit or TrainEnd.Diverged && periodRows > 0) lastLoss = periodSum / periodRows;
        bool restored = false;
        if ((end is TrainEnd.Completed or TrainEnd.EarlyStopped or TrainEnd.StepLimit) && BestWeights is not null && stopper.BestEpoch != evaluations - 1)
        {
            _model.Parameters.SetValues(BestWeights);
            restored = true;
        }
        long launches = _model.Kernels.LaunchCount - launchesBefore;
        SyncsPerStep = stepsThisRun == 0 ? 0 : (double)(_model.Kernels.SyncCount - syncsBefore) / stepsThisRun;
        return new TrainResult(end, Math.Min(epoch + (end == TrainEnd.Completed ? 0 : 1), _options.Epochs), lastLoss, stopper.Best, stopper.BestEpoch,
            stopper.StoppedEpoch, restored, total.Elapsed, step, stepsThisRun == 0 ? 0 : (double)launches / stepsThisRun, diverged, lastVal);
    }

    /// <summary>Synchronizing waits per step of the last <see cref="Train"/> call (evaluations and checkpoints included).</summary>
    public double SyncsPerStep { get; private set; }

    /// <summary>The position after the last full step of the last <see cref="Train"/> call, for the final checkpoint.</summary>
    public TrainerState? CurrentState { get; private set; }

    /// <summary>A position at the end of an epoch is the start of the next.</summary>
    private TrainerState Normalize(TrainerState s) =>
        s.BatchInEpoch >= _task.BatchesPerEpoch ? s with { Epoch = s.Epoch + 1, BatchInEpoch = 0 } : s;
}
