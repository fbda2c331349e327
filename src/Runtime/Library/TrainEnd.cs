namespace GpuLstm;

/// <summary>Why training ended.</summary>
public enum TrainEnd
{
    /// <summary>All epochs ran.</summary>
    Completed,
    /// <summary>The step limit (--max-steps) was reached.</summary>
    StepLimit,
    /// <summary>Early stopping ended it.</summary>
    EarlyStopped,
    /// <summary>Cancelled (Ctrl-C, SIGTERM) at a step boundary; the weights are those after the last full step.</summary>
    Interrupted,
    /// <summary>The loss or the gradients became NaN or infinite; the weights are those before the bad step.</summary>
    Diverged,
}
