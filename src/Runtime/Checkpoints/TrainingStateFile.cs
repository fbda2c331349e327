using System.Globalization;
using GpuLstm.Runtime.Files;

namespace GpuLstm.Runtime.Checkpoints;

/// <summary>
/// Where a saved run stood between two steps: the loop position (the next batch to run), the running sums of
/// the evaluation period, early stopping's state, and how the run ended when it did (null while running).
/// </summary>
internal sealed record SavedPosition(long Step, int Epoch, int BatchInEpoch, double PeriodLossSum, long PeriodRows, int PeriodSteps,
    int Evaluations, double StoppingBest, int StoppingBestEpoch, int StoppingWait, SavedEnd? Ended = null);

/// <summary>How a saved run ended: all its epochs ran, early stopping ended it, or it reached its step limit.</summary>
internal enum SavedEnd { Completed, EarlyStopped, StepLimit }

/// <summary>What a resumed run needs besides the model checkpoint.</summary>
/// <param name="Setup">The run's settings as JSON: a resumed run must train with the same ones.</param>
/// <param name="CarriedState">Every layer's carried state (truncated BPTT), or empty.</param>
/// <param name="BestWeights">Weights of the best evaluation when restoring the best, or null.</param>
internal sealed record TrainingState(SavedPosition Position, long AdamStep, float[] AdamM, float[] AdamV, float[] CarriedState,
    float[]? BestWeights, string Setup);

/// <summary>
/// The optimizer and loop state beside a checkpoint, in its own safetensors file
/// (<c>model.train-state.safetensors</c> for <c>model.safetensors</c>), so the checkpoint itself stays a
/// plain PyTorch state dict. Written before the checkpoint; both record the step, so a crash between the two
/// writes is detected on resume instead of continuing from mismatched files.
/// </summary>
internal static class TrainingStateFile
{
    public const string FormatTag = "gpulstm-train-state/1";

    public static string PathFor(string checkpoint) =>
        (checkpoint.EndsWith(".safetensors", StringComparison.Ordinal) ? checkpoint[..^".safetensors".Length] : checkpoint) + ".train-state.safetensors";

    private static string R(double x) => x.ToString("R", CultureInfo.InvariantCulture);
    private static string I(long x) => x.ToString(CultureInfo.InvariantCulture);

    public static void Save(string path, TrainingState s) => AtomicFile.Write(path, "training state", Serializer(s));

    /// <summary>The state file's bytes, written to a stream later (see <see cref="FileTransaction"/>).</summary>
    public static Action<Stream> Serializer(TrainingState s)
    {
        var t = s.Position;
        var meta = new Dictionary<string, string>
        {
            ["format"] = FormatTag,
            ["step"] = I(t.Step),
            ["epoch"] = I(t.Epoch),
            ["batch_in_epoch"] = I(t.BatchInEpoch),
            ["period_loss_sum"] = R(t.PeriodLossSum),
            ["period_rows"] = I(t.PeriodRows),
            ["period_steps"] = I(t.PeriodSteps),
            ["evaluations"] = I(t.Evaluations),
            ["stopping_best"] = R(t.StoppingBest),
            ["stopping_best_epoch"] = I(t.StoppingBestEpoch),
            ["stopping_wait"] = I(t.StoppingWait),
            ["adam_step"] = I(s.AdamStep),
            ["setup"] = s.Setup,
        };
        if (t.Ended is { } ended) meta["ended"] = ended switch
        {
            SavedEnd.Completed => "completed",
            SavedEnd.EarlyStopped => "early_stopped",
            _ => "step_limit",
        };
        var tensors = new List<TensorEntry>
        {
            new("adam.m", new[] { s.AdamM.Length }, s.AdamM),
            new("adam.v", new[] { s.AdamV.Length }, s.AdamV),
        };
        if (s.CarriedState.Length > 0) tensors.Add(new("state.carried", new[] { s.CarriedState.Length }, s.CarriedState));
        if (s.BestWeights is not null) tensors.Add(new("best.weights", new[] { s.BestWeights.Length }, s.BestWeights));
        return SafeTensors.Serializer(meta, tensors);
    }

    /// <summary>The loop position and the run's settings, without checking the tensors against a model.</summary>
    public static (SavedPosition Position, string Setup) Peek(string path)
    {
        var state = Load(path, -1, -1);
        return (state.Position, state.Setup);
    }

    /// <summary>
    /// Reads and checks a training state for a model with <paramref name="parameters"/> parameters
    /// (negative: the tensors are not checked, and come back empty).
    /// </summary>
    public static TrainingState Load(string path, int parameters, int carriedStateLength)
    {
        if (!File.Exists(path))
            throw new GpuLstmException($"cannot resume: '{path}' not found (it is written beside the checkpoint by train runs that save one)");
        IReadOnlyDictionary<string, string> meta;
        IReadOnlyDictionary<string, TensorEntry> tensors;
        try { (meta, tensors) = SafeTensors.Read(path); }
        catch (CheckpointFormatException e) { throw new GpuLstmException(e.Message, e); }
        string Bad(string what) => $"training state '{path}' {what}";
        string Get(string key) => meta.TryGetValue(key, out var v) ? v : throw new GpuLstmException(Bad($"has no '{key}'"));
        long Long(string key, long min = 0) =>
            long.TryParse(Get(key), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long v) && v >= min ? v : throw new GpuLstmException(Bad($"has an invalid '{key}'"));
        double Double(string key) =>
            double.TryParse(Get(key), NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && !double.IsNaN(v) ? v : throw new GpuLstmException(Bad($"has an invalid '{key}'"));
        int Int(string key, int min = 0)
        {
            long v = Long(key, min);
            return v <= int.MaxValue ? (int)v : throw new GpuLstmException(Bad($"has an invalid '{key}'"));
        }
        float[] Tensor(string name, int length, bool required = true)
        {
            if (length < 0) return Array.Empty<float>();
            if (!tensors.TryGetValue(name, out var t)) return required ? throw new GpuLstmException(Bad($"has no tensor '{name}'")) : null!;
            if (t.Data.Length != length) throw new GpuLstmException(Bad($"tensor '{name}' has {t.Data.Length} values; the model needs {length}"));
            return t.Data;
        }
        if (Get("format") != FormatTag) throw new GpuLstmException(Bad($"has format '{Get("format")}'; this build reads '{FormatTag}'"));
        var position = new SavedPosition(Long("step"), Int("epoch"), Int("batch_in_epoch"), Double("period_loss_sum"), Long("period_rows"),
            Int("period_steps"), Int("evaluations"), Double("stopping_best"), Int("stopping_best_epoch", -1), Int("stopping_wait"),
            !meta.TryGetValue("ended", out var ended) ? null : ended switch
            {
                "completed" => SavedEnd.Completed,
                "early_stopped" => SavedEnd.EarlyStopped,
                "step_limit" => SavedEnd.StepLimit,
                _ => throw new GpuLstmException(Bad("has an invalid 'ended'")),
            });
        return new TrainingState(position, Long("adam_step"), Tensor("adam.m", parameters), Tensor("adam.v", parameters),
            carriedStateLength > 0 ? Tensor("state.carried", carriedStateLength) : Array.Empty<float>(),
            parameters >= 0 && tensors.ContainsKey("best.weights") ? Tensor("best.weights", parameters) : null, Get("setup"));
    }
}
