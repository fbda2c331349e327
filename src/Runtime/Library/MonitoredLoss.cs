namespace GpuLstm;

/// <summary>What early stopping watches: Keras's "loss" (the training loss since the last evaluation) or "val_loss".</summary>
public enum MonitoredLoss
{
    /// <summary>The mean training loss since the last evaluation (Keras's "loss").</summary>
    Loss,
    /// <summary>The loss on the held-out validation data (Keras's "val_loss").</summary>
    ValLoss,
}
