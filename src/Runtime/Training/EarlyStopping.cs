namespace GpuLstm.Runtime.Training;

internal static class MonitorNames
{
    /// <summary>Keras's name: "loss" or "val_loss" (in messages, metadata and the CLI).</summary>
    public static string KerasName(this MonitoredLoss monitor) => monitor == MonitoredLoss.ValLoss ? "val_loss" : "loss";

    /// <summary>The monitor Keras calls <paramref name="name"/>, or null.</summary>
    public static MonitoredLoss? Parse(string? name) => name switch { "loss" => MonitoredLoss.Loss, "val_loss" => MonitoredLoss.ValLoss, _ => null };
}

/// <summary>What early stopping made of an evaluation: a new best, no improvement yet, or stop.</summary>
internal enum StoppingDecision { Improved, Continue, Stop }

/// <summary>Keras's EarlyStopping settings (mode "min"): stop after <c>Patience</c> epochs without an improvement larger than <c>MinDelta</c>.</summary>
internal sealed record EarlyStoppingOptions(MonitoredLoss Monitor = MonitoredLoss.Loss, int Patience = 5, double MinDelta = 0, bool RestoreBestWeights = false)
{
    public void Validate()
    {
        if (Patience < 0) throw new SettingException(nameof(Patience), $"the patience must be 0 or more, got {Patience}", "the patience");
        if (!(MinDelta >= 0) || double.IsInfinity(MinDelta)) throw new SettingException(nameof(MinDelta), $"the min delta must be 0 or a positive number, got {MinDelta}", "the min delta");
    }
}

/// <summary>
/// The decision logic of Keras's EarlyStopping, kept free of the model so scripted loss sequences can test
/// it. Keras counts an epoch as an improvement when value &lt; best − min_delta; after each epoch without
/// one, wait grows, and training stops once wait ≥ patience (never after the first epoch).
/// </summary>
internal sealed class EarlyStopping
{
    private int _wait;

    public EarlyStoppingOptions Options { get; }
    public double Best { get; private set; } = double.PositiveInfinity;
    /// <summary>0-based epoch of <see cref="Best"/>, or −1 before the first epoch.</summary>
    public int BestEpoch { get; private set; } = -1;
    /// <summary>0-based epoch after which training stopped, or −1.</summary>
    public int StoppedEpoch { get; private set; } = -1;

    public EarlyStopping(EarlyStoppingOptions options)
    {
        options.Validate();
        Options = options;
    }

    /// <summary>Everything <see cref="Update"/> depends on, for a resumable checkpoint.</summary>
    public sealed record Snapshot(double Best, int BestEpoch, int Wait);

    public Snapshot Save() => new(Best, BestEpoch, _wait);

    public void Restore(Snapshot s)
    {
        Best = s.Best;
        BestEpoch = s.BestEpoch;
        _wait = s.Wait;
        StoppedEpoch = -1;
    }

    /// <summary>Feeds one epoch's monitored value. Improved means the caller should snapshot weights if it restores the best.</summary>
    public StoppingDecision Update(int epoch, double value)
    {
        _wait++;
        if (value + Options.MinDelta < Best)
        {
            Best = value;
            BestEpoch = epoch;
            _wait = 0;
            return StoppingDecision.Improved;
        }
        if (_wait >= Options.Patience && epoch > 0)
        {
            StoppedEpoch = epoch;
            return StoppingDecision.Stop;
        }
        return StoppingDecision.Continue;
    }
}
