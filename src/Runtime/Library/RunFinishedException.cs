namespace GpuLstm;

/// <summary>A run that has finished (its epochs, its step limit, or early stopping) cannot be resumed; <see cref="End"/> says which.</summary>
public sealed class RunFinishedException(TrainEnd end, long step, int epochs)
    : GpuLstmException(end switch
    {
        TrainEnd.EarlyStopped => $"cannot resume: the run stopped early at step {step} (epoch {epochs}) because the monitored loss stopped improving; there is nothing to continue",
        TrainEnd.StepLimit => $"cannot resume: the run finished at step {step}, its step limit; to train on, raise the step limit above {step}",
        _ => $"cannot resume: the run finished at step {step} after {epochs} epoch{(epochs == 1 ? "" : "s")}; to train on, raise the epoch limit above {epochs}",
    })
{
    public TrainEnd End { get; } = end;
    public long Step { get; } = step;
    public int Epochs { get; } = epochs;
}
