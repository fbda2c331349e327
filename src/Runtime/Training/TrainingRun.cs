using System.Globalization;
using GpuLstm.Runtime.Checkpoints;
using GpuLstm.Runtime.Compute;
using GpuLstm.Runtime.Files;
using GpuLstm.Runtime.Models;

namespace GpuLstm.Runtime.Training;

/// <summary>How a front end names a run's files in messages (the CLI passes its options).</summary>
internal sealed record FileLabels(string Input = "the input", string Checkpoint = "the checkpoint",
    string State = "the training state file (written beside the checkpoint)", string Metrics = "the metrics file", string Plot = "the loss plot")
{
    /// <summary>The checkpoint a fine-tuning run reads its weights from.</summary>
    public string InitFrom { get; init; } = "the checkpoint to fine-tune from";
}

/// <summary>Where a run stands between two steps: steps done, and the epoch and batch (0-based) it runs next.</summary>
internal readonly record struct RunPosition(long Step, int Epoch, int BatchInEpoch);

/// <summary>How a run ended, and the last checkpoint it saved before (or at) the end.</summary>
internal sealed record RunResult(TrainResult Training, long? SavedStep);

/// <summary>
/// The plumbing every training run shares, text or series: Adam, the <see cref="Trainer"/>, the metrics log,
/// the files (checkpoint, training state beside it, metrics CSV, loss plot) saved together as one
/// <see cref="FileTransaction"/> every CheckpointEvery steps, on an interrupt and at the end, and resuming
/// exactly from them. A subclass reads its data, builds its model and task, and says how its checkpoint is
/// written (<see cref="CheckpointWriter"/>) and what its run's settings are (<see cref="SetupJson"/>).
/// </summary>
internal abstract class TrainingRun : IDisposable
{
    private AdamOptimizer? _adam;
    private Trainer? _trainer;
    private ITrainingTask? _task;
    private TrainerState? _resumeFrom;
    private MetricsLog _log = new();
    private TimeSpan _lastElapsed;
    private long? _savedStep;

    /// <summary>After every training step.</summary>
    public event Action<StepReport>? StepEnded;

    /// <summary>After every evaluation.</summary>
    public event Action<EvalReport>? Evaluated;

    /// <summary>Draws the loss curve for the plot file (a front end's choice of plotting library); no plot without it.</summary>
    public Func<IReadOnlyList<MetricsRow>, byte[]>? RenderLossPlot { get; set; }

    internal ComputeDevice Device { get; }

    /// <summary>Where this run writes: the checkpoint, and beside it the training state; the metrics CSV and loss plot when enabled.</summary>
    public string CheckpointPath { get; }
    public string StatePath => TrainingStateFile.PathFor(CheckpointPath);
    public string? MetricsPath { get; }
    public string? PlotPath { get; }

    /// <summary>Where a resumed run continues from, or null for a fresh run.</summary>
    public RunPosition? ResumedFrom => _resumeFrom is { } r ? new RunPosition(r.Step, r.Epoch, r.BatchInEpoch) : null;

    /// <summary>Batches in one epoch of training.</summary>
    public int BatchesPerEpoch => _task?.BatchesPerEpoch ?? 0;

    /// <summary>The metrics of every step so far (a resumed run's include the earlier ones).</summary>
    public IReadOnlyList<MetricsRow> Metrics => _log.Rows;

    private protected TrainingRun(ComputeDevice device, string checkpoint, string? metrics, string? plot)
    {
        Device = device;
        CheckpointPath = checkpoint; MetricsPath = metrics; PlotPath = plot;
    }

    /// <summary>The run's settings as JSON, kept in the state file: a resumed run must train with the same ones.</summary>
    private protected abstract string SetupJson { get; }

    /// <summary>The checkpoint's bytes at <paramref name="step"/> after <paramref name="epochs"/> epochs (<paramref name="finalLoss"/> NaN when unknown).</summary>
    private protected abstract Action<Stream> CheckpointWriter(long step, int epochs, double finalLoss);

    /// <summary>Called once training has ended, before the final save (for example to score a test part for the checkpoint's metadata).</summary>
    private protected virtual void OnTrainingEnded(TrainResult result) { }

    /// <summary>
    /// Checks every file the run reads and writes before any work (see <see cref="FilePlan"/>): the input, and
    /// the checkpoint, state, metrics and plot as outputs, or as files to update when resuming.
    /// </summary>
    private protected static void CheckFiles(FileLabels labels, string? input, string checkpoint, string? metrics, string? plot, bool resuming, string? initFrom = null)
    {
        var plan = new FilePlan().Input(labels.Input, input).Input(labels.InitFrom, initFrom);
        string state = TrainingStateFile.PathFor(checkpoint);
        if (resuming) plan.Update(labels.Checkpoint, checkpoint).Update(labels.State, state).Update(labels.Metrics, metrics);
        else plan.Output(labels.Checkpoint, checkpoint).Output(labels.State, state).Output(labels.Metrics, metrics);
        plan.Output(labels.Plot, plot);
        plan.Check();
    }

    /// <summary>
    /// The saved state of the run at <paramref name="checkpoint"/> without its tensors, for a front end that
    /// resumes it: its position (a finished run is refused) and its settings' JSON.
    /// </summary>
    internal static (SavedPosition Position, string Setup) ReadSaved(string checkpoint)
    {
        if (!File.Exists(checkpoint) && !Directory.Exists(checkpoint)) throw new GpuLstmException($"cannot resume: checkpoint '{checkpoint}' not found");
        if (Directory.Exists(checkpoint)) throw new GpuLstmException($"checkpoint '{checkpoint}' is a directory");
        string state = TrainingStateFile.PathFor(checkpoint);
        if (!File.Exists(state)) throw new GpuLstmException($"cannot resume: '{state}' not found (it is written beside the checkpoint by train runs that save one)");
        return TrainingStateFile.Peek(state);
    }

    /// <summary>Refuses to resume a run that has finished under <paramref name="options"/>.</summary>
    private protected static void CheckResumable(SavedPosition position, TrainOptions options)
    {
        if (ToTrainerState(position).FinishedUnder(options) is { } end) throw new RunFinishedException(end, position.Step, position.Epoch);
    }

    /// <summary>Sets up Adam and the trainer; a resumed run passes its saved state, whose checkpoint weights the subclass has already loaded.</summary>
    private protected void Start(ITrainingTask task, AdamOptions adam, EarlyStoppingOptions stopping, TrainOptions options, Func<double>? validate,
        string? checkpointStep = null, bool resuming = false)
    {
        _task = task;
        _adam = new AdamOptimizer(task.Model, adam);
        _trainer = new Trainer(task, _adam, stopping, options, validate);
        _trainer.StepEnded += r =>
        {
            double seconds = (r.Elapsed - _lastElapsed).TotalSeconds;
            _lastElapsed = r.Elapsed;
            _log.Add(new MetricsRow(r.Step, r.Epoch, r.Loss, null, r.LearningRate, seconds > 0 ? r.Tokens / seconds : 0));
            StepEnded?.Invoke(r);
        };
        _trainer.Evaluated += r =>
        {
            if (r.ValLoss is double v) _log.SetValLoss(r.Step, v);
            Evaluated?.Invoke(r);
        };
        _trainer.CheckpointDue += state => Save(state, _log.Rows[^1].TrainLoss, withPlot: false);
        if (!resuming) return;
        var saved = TrainingStateFile.Load(StatePath, task.Model.Parameters.Count, task.StateLength);
        if (checkpointStep != saved.Position.Step.ToString(CultureInfo.InvariantCulture))
            throw new GpuLstmException($"cannot resume: the training state is from step {saved.Position.Step} but the checkpoint from step {checkpointStep ?? "?"} (a save was cut short)");
        _adam.Restore(saved.AdamStep, saved.AdamM, saved.AdamV);
        if (task.StateLength > 0) task.WriteState(saved.CarriedState);
        _trainer.BestWeights = saved.BestWeights;
        _resumeFrom = ToTrainerState(saved.Position);
        if (MetricsPath is not null) _log = MetricsLog.LoadUpTo(MetricsPath, saved.Position.Step);
    }

    private static TrainerState ToTrainerState(SavedPosition p) => new(p.Step, p.Epoch, p.BatchInEpoch, p.PeriodLossSum, p.PeriodRows, p.PeriodSteps,
        p.Evaluations, new EarlyStopping.Snapshot(p.StoppingBest, p.StoppingBestEpoch, p.StoppingWait),
        p.Ended switch { SavedEnd.Completed => TrainEnd.Completed, SavedEnd.EarlyStopped => TrainEnd.EarlyStopped, SavedEnd.StepLimit => TrainEnd.StepLimit, _ => null });

    private static SavedPosition ToSaved(TrainerState s) => new(s.Step, s.Epoch, s.BatchInEpoch, s.PeriodLossSum, s.PeriodRows, s.PeriodSteps,
        s.Evaluations, s.Stopping.Best, s.Stopping.BestEpoch, s.Stopping.Wait,
        s.Ended switch { TrainEnd.Completed => SavedEnd.Completed, TrainEnd.EarlyStopped => SavedEnd.EarlyStopped, TrainEnd.StepLimit => SavedEnd.StepLimit, _ => null });

    /// <summary>
    /// Trains until the run ends (its epochs, its step limit, early stopping, cancellation, divergence) and saves:
    /// every CheckpointEvery steps, then at the end (also when cancelled); nothing more after a divergence.
    /// </summary>
    public RunResult Run(CancellationToken cancel = default)
    {
        if (_trainer is null) throw new InvalidOperationException("the run was not started");
        var result = _trainer.Train(cancel, _resumeFrom);
        if (result.End == TrainEnd.Diverged) return new RunResult(result, _savedStep);
        OnTrainingEnded(result);
        Save(_trainer.CurrentState!, result.FinalLoss, withPlot: true);
        return new RunResult(result, _savedStep);
    }

    /// <summary>
    /// The training state, the checkpoint, the metrics (and at the end the plot), staged to temporary files and
    /// renamed together, state first: a failure part-way changes none of them, and if the process dies between
    /// two renames the step numbers disagree and resume refuses.
    /// </summary>
    private void Save(TrainerState state, double finalLoss, bool withPlot)
    {
        var task = _task!;
        var carried = new float[task.StateLength];
        if (carried.Length > 0) task.ReadState(carried);
        using var files = new FileTransaction();
        files.Stage(StatePath, "training state", TrainingStateFile.Serializer(new TrainingState(ToSaved(state), _adam!.Step, _adam.GetFirstMoments(),
            _adam.GetSecondMoments(), carried, _trainer!.BestWeights, SetupJson)));
        files.Stage(CheckpointPath, "checkpoint", CheckpointWriter(state.Step, state.Epoch, finalLoss));
        if (MetricsPath is not null) files.Stage(MetricsPath, "metrics file", _log.Serializer());
        if (withPlot && PlotPath is not null && RenderLossPlot is not null && _log.Rows.Count > 0)
        {
            var render = RenderLossPlot;
            var rows = _log.Rows;
            files.Stage(PlotPath, "loss plot", s => s.Write(render(rows)));
        }
        files.Commit();
        _savedStep = state.Step;
    }

    /// <summary>The step metadata every checkpoint of a run carries, which a resumed run matches against its state file.</summary>
    private protected static Dictionary<string, string> StepMetadata(long step, int epochs, double finalLoss)
    {
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["step"] = step.ToString(CultureInfo.InvariantCulture),
            ["epochs_trained"] = epochs.ToString(CultureInfo.InvariantCulture),
        };
        if (double.IsFinite(finalLoss)) metadata["final_loss"] = finalLoss.ToString("R", CultureInfo.InvariantCulture);
        return metadata;
    }

    private bool _detached;

    /// <summary>Hands the device to the caller, who then owns it (and disposes it); the run keeps using it until disposed.</summary>
    private protected ComputeDevice DetachDevice()
    {
        _detached = true;
        return Device;
    }

    public virtual void Dispose()
    {
        _adam?.Dispose();
        if (!_detached) Device.Dispose();
    }
}
