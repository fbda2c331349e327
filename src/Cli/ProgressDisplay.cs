using System.Globalization;
using GpuLstm.Runtime.Training;
using Spectre.Console;

namespace GpuLstm.Cli;

/// <summary>
/// What train prints while it runs. On a terminal, a live bar (steps, tokens/s, loss, ETA) with one line per
/// evaluation above it; when output is redirected, or with --progress plain, only plain lines: Keras's
/// epoch lines in last mode, and in tbptt mode a step line about ten times an epoch plus one per evaluation.
/// </summary>
internal sealed class ProgressDisplay : IDisposable
{
    private readonly bool _bar, _streams;
    private readonly long _totalSteps;
    private readonly int _printEvery;
    private readonly string _unit;
    private ProgressTask? _task;
    private TimeSpan _lastElapsed;
    private double _rate;

    private ProgressDisplay(bool bar, bool streams, long totalSteps, int printEvery, string unit)
    {
        _bar = bar; _streams = streams; _totalSteps = totalSteps; _printEvery = printEvery; _unit = unit;
    }

    public static ProgressDisplay Create(string mode, bool streams, int batchesPerEpoch, int epochs, long maxSteps, string unit)
    {
        bool bar = mode == "bar" || (mode == "auto" && !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive);
        long total = (long)batchesPerEpoch * epochs;
        if (maxSteps > 0) total = Math.Min(total, maxSteps);
        return new ProgressDisplay(bar, streams, total, Math.Max(1, Math.Min(100, batchesPerEpoch / 10)), unit);
    }

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    /// <summary>Runs the training loop under the live bar, or directly.</summary>
    public T Run<T>(Func<T> body)
    {
        if (!_bar) return body();
        return AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                _task = ctx.AddTask("training", maxValue: Math.Max(1, _totalSteps));
                return body();
            });
    }

    /// <summary>Tokens per second over the last step.</summary>
    public double TokensPerSecond(StepReport r)
    {
        double seconds = (r.Elapsed - _lastElapsed).TotalSeconds;
        _lastElapsed = r.Elapsed;
        double rate = seconds > 0 ? r.Tokens / seconds : 0;
        _rate = _rate == 0 ? rate : 0.9 * _rate + 0.1 * rate;
        return rate;
    }

    public void Step(StepReport r)
    {
        if (_task is not null)
        {
            _task.Value = r.Step;
            _task.Description = Inv($"step {r.Step}/{_totalSteps} · epoch {r.Epoch + 1} · loss {r.Loss:F4} · {_rate:N0} {_unit}/s");
        }
        else if (_streams && r.Step % _printEvery == 0)
            Console.WriteLine(Inv($"step {r.Step}/{_totalSteps} (epoch {r.Epoch + 1}, batch {r.BatchInEpoch + 1}/{r.BatchesPerEpoch}) - loss {r.Loss:F4} - lr {r.LearningRate:G3} - {_rate:N0} {_unit}/s"));
    }

    public void Evaluated(EvalReport r)
    {
        string val = r.ValLoss is double v ? Inv($" - val_loss: {v:F4} ({v / Math.Log(2):F3} bits/{(_unit == "words" ? "word" : "char")}, ppl {Math.Exp(v):F2})") : "";
        string line = _streams
            ? Inv($"eval at step {r.Step} (epoch {r.Epoch + 1}/{r.Epochs}) - {r.Steps} steps in {r.Elapsed.TotalSeconds:F1}s - loss: {r.Loss:F4}{val}")
            : Inv($"Epoch {r.Epoch + 1}/{r.Epochs} - {r.Steps} steps - {r.Elapsed.TotalSeconds:F2}s - loss: {r.Loss:F4}{val}");
        if (r.Decision == EarlyStopping.Decision.Stop) line += Environment.NewLine + (_streams ? $"step {r.Step}: early stopping" : $"Epoch {r.Epoch + 1}: early stopping");
        if (_task is not null) AnsiConsole.WriteLine(line);
        else Console.WriteLine(line);
    }

    public void Finish()
    {
        if (_task is not null) _task.StopTask();
    }

    public void Dispose() => Finish();
}
