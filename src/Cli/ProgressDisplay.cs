using System.Globalization;
using GpuLstm.Runtime.Training;
using Spectre.Console;

namespace GpuLstm.Cli;

/// <summary>How train shows its progress (a choice, parsed once from --progress).</summary>
internal enum ProgressMode
{
    /// <summary>A live bar when standard output is a terminal, plain lines otherwise.</summary>
    Auto,
    /// <summary>A live bar: on standard output when it is a terminal, else on standard error when that is one.</summary>
    Bar,
    /// <summary>Plain lines only.</summary>
    Plain,
}

/// <summary>
/// What train prints while it runs. On a terminal, a live bar (steps, loss, tokens/s, ETA) with one line per
/// evaluation above it; when output is redirected, or with --progress plain, only plain lines: Keras's
/// epoch lines in last mode, and in tbptt mode a step line about ten times an epoch plus one per evaluation.
/// The bar's line is fitted to the terminal's width, so it never wraps (a wrapped live line leaves its old
/// text behind on every redraw).
/// </summary>
internal sealed class ProgressDisplay : IDisposable
{
    private readonly IAnsiConsole? _barConsole;
    private readonly bool _linesThroughBar;
    private readonly bool _streams;
    private readonly long _totalSteps;
    private readonly int _printEvery;
    private readonly string _unit;
    private ProgressTask? _task;
    private TimeSpan _lastElapsed;
    private double _rate;

    /// <summary>Columns besides the description: bar, percentage, time left, spinner, and the spaces between them.</summary>
    private const int BarWidth = 20, OtherColumnsWidth = BarWidth + 1 + 4 + 1 + 8 + 1 + 1 + 1;

    private ProgressDisplay(IAnsiConsole? barConsole, bool linesThroughBar, bool streams, long totalSteps, int printEvery, string unit)
    {
        _barConsole = barConsole; _linesThroughBar = linesThroughBar; _streams = streams; _totalSteps = totalSteps; _printEvery = printEvery; _unit = unit;
    }

    public static ProgressMode ParseMode(string mode) => mode switch
    {
        "bar" => ProgressMode.Bar,
        "plain" => ProgressMode.Plain,
        _ => ProgressMode.Auto,
    };

    /// <param name="console">The console to draw the bar on (tests pass a fixed-width one); null: the terminal's.</param>
    public static ProgressDisplay Create(ProgressMode mode, bool streams, int batchesPerEpoch, int epochs, long maxSteps, string unit, IAnsiConsole? console = null)
    {
        long total = (long)batchesPerEpoch * epochs;
        if (maxSteps > 0) total = Math.Min(total, maxSteps);
        var (bar, onStdout) = console is not null ? (console, true) : BarConsole(mode);
        return new ProgressDisplay(bar, onStdout, streams, total, Math.Max(1, Math.Min(100, batchesPerEpoch / 10)), unit);
    }

    /// <summary>Where a live bar can be drawn for this mode (null: plain lines), and whether that is standard output.</summary>
    private static (IAnsiConsole? Console, bool OnStdout) BarConsole(ProgressMode mode)
    {
        if (mode == ProgressMode.Plain) return (null, true);
        if (!Console.IsOutputRedirected)
            return (mode == ProgressMode.Bar || AnsiConsole.Profile.Capabilities.Interactive ? AnsiConsole.Console : null, true);
        if (mode == ProgressMode.Auto) return (null, true);
        // Asked for a bar with stdout redirected: draw it on stderr if that is a terminal, as tqdm does.
        if (!Console.IsErrorRedirected)
            return (AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error), Interactive = InteractionSupport.Yes }), false);
        Console.Error.WriteLine("gpulstm: --progress bar needs a terminal, and both standard output and standard error are redirected; printing plain progress lines instead");
        return (null, true);
    }

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    /// <summary>Runs the training loop under the live bar, or directly.</summary>
    public T Run<T>(Func<T> body)
    {
        if (_barConsole is null) return body();
        return _barConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn { Width = BarWidth }, new PercentageColumn(),
                new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                _task = ctx.AddTask(Fit("training"), maxValue: Math.Max(1, _totalSteps));
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
            // The most useful parts first: what is cut to fit a narrow terminal is the end.
            _task.Description = Fit(Inv($"step {r.Step}/{_totalSteps} · loss {r.Loss:F4} · epoch {r.Epoch + 1} · {_rate:N0} {_unit}/s"));
        }
        else if (_streams && r.Step % _printEvery == 0)
            Console.WriteLine(Inv($"step {r.Step}/{_totalSteps} (epoch {r.Epoch + 1}, batch {r.BatchInEpoch + 1}/{r.BatchesPerEpoch}) - loss {r.Loss:F4} - lr {r.LearningRate:G3} - {_rate:N0} {_unit}/s"));
    }

    /// <summary>The description cut to the room the other columns leave on the bar console's line, markup escaped.</summary>
    private string Fit(string text)
    {
        int room = Math.Max(8, (_barConsole?.Profile.Width ?? 80) - OtherColumnsWidth);
        if (text.Length > room) text = text[..(room - 1)] + "…";
        return Markup.Escape(text);
    }

    public void Evaluated(EvalReport r)
    {
        string val = r.ValLoss is double v ? Inv($" - val_loss: {v:F4} ({v / Math.Log(2):F3} bits/{(_unit == "words" ? "word" : "char")}, ppl {Math.Exp(v):F2})") : "";
        string line = _streams
            ? Inv($"eval at step {r.Step} (epoch {r.Epoch + 1}/{r.Epochs}) - {r.Steps} steps in {r.Elapsed.TotalSeconds:F1}s - loss: {r.Loss:F4}{val}")
            : Inv($"Epoch {r.Epoch + 1}/{r.Epochs} - {r.Steps} steps - {r.Elapsed.TotalSeconds:F2}s - loss: {r.Loss:F4}{val}");
        if (r.Decision == StoppingDecision.Stop) line += Environment.NewLine + (_streams ? $"step {r.Step}: early stopping" : $"Epoch {r.Epoch + 1}: early stopping");
        // Lines above a bar on the same stream go through it, so the bar is redrawn below them.
        if (_task is not null && _linesThroughBar) _barConsole!.WriteLine(line);
        else Console.WriteLine(line);
    }

    public void Finish()
    {
        if (_task is not null) _task.StopTask();
    }

    public void Dispose() => Finish();
}
