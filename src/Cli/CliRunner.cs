using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using GpuLstm.Runtime;
using GpuLstm.Runtime.Training;

namespace GpuLstm.Cli;

/// <summary>
/// Runs a command body and turns failures into one line on stderr and a non-zero exit code: 1 for a
/// problem with the user's input or files, 2 for a command line that does not parse, 128 + the signal after
/// SIGINT (130) or SIGTERM (143), 141 when the reader of standard output went away, 70 (EX_SOFTWARE) for
/// anything we did not anticipate. Never a stack trace.
/// </summary>
internal static class CliRunner
{
    public const int UserError = 1;
    public const int UsageError = 2;
    public const int InternalError = 70;
    /// <summary>128 + SIGINT.</summary>
    public const int Interrupted = 130;
    /// <summary>128 + SIGTERM.</summary>
    public const int Terminated = 143;
    /// <summary>128 + SIGPIPE: standard output's reader closed it.</summary>
    public const int OutputClosed = 141;

    /// <summary>String options whose empty value is meaningful text, not a missing file or name.</summary>
    private static readonly HashSet<string> MayBeEmpty = new(StringComparer.Ordinal) { "--prime" };

    /// <summary>Options that name files: an empty value is said to be an empty path.</summary>
    private static readonly HashSet<string> PathOptions = new(StringComparer.Ordinal)
    {
        "--corpus", "--checkpoint", "--metrics", "--plot", "--csv", "--output", "--text",
    };

    /// <summary>
    /// Checks what every command shares (no floating-point option is NaN or infinite, no string option is
    /// empty or only spaces), then runs the body.
    /// </summary>
    public static int Run(ParseResult parse, Func<int> body) => Run(() =>
    {
        CheckOptionValues(parse);
        try
        {
            return body();
        }
        catch (SettingException e) when (OptionFor(parse, e.Setting) is { } option && !e.Message.StartsWith(option, StringComparison.Ordinal))
        {
            // The library names the setting in words; the user knows it as this command's option.
            int at = e.Subject is null ? -1 : e.Message.IndexOf(e.Subject, StringComparison.Ordinal);
            throw new GpuLstmException(at >= 0 ? e.Message[..at] + option + e.Message[(at + e.Subject!.Length)..] : $"{option}: {e.Message}", e);
        }
    });

    /// <summary>Each library setting (a settings type's property name) as the commands' options spell it (the first one the command has is used).</summary>
    private static readonly Dictionary<string, string[]> SettingOptions = new(StringComparer.Ordinal)
    {
        ["LearningRate"] = ["--lr"], ["ClipNorm"] = ["--clip"], ["Patience"] = ["--patience"], ["MinDelta"] = ["--min-delta"],
        ["Epochs"] = ["--epochs"], ["BatchSize"] = ["--batch"], ["MaxSteps"] = ["--max-steps"], ["EvalEvery"] = ["--eval-every"],
        ["CheckpointEvery"] = ["--checkpoint-every"], ["LrDecay"] = ["--lr-decay"], ["LrDecayAfter"] = ["--lr-decay-after"],
        ["Monitor"] = ["--monitor"], ["ValFraction"] = ["--val-fraction"], ["TopK"] = ["--top-k"],
        ["Temperature"] = ["--temperature", "--temperatures"], ["Length"] = ["--length", "--sample-length"], ["Hidden"] = ["--hidden"],
        ["Corpus"] = ["--corpus"], ["Mode"] = ["--mode"], ["Tokens"] = ["--tokens"], ["VocabSize"] = ["--vocab-size"], ["Cell"] = ["--cell"],
        ["Layers"] = ["--layers"], ["Embedding"] = ["--embedding"], ["Dropout"] = ["--dropout"], ["SeqLength"] = ["--seq-length"],
        ["RestoreBest"] = ["--restore-best"], ["Seed"] = ["--seed"], ["Device"] = ["--device"], ["Checkpoint"] = ["--checkpoint"],
        ["Csv"] = ["--csv"], ["Column"] = ["--column"], ["DateColumn"] = ["--date-column"], ["Scale"] = ["--scale"], ["Difference"] = ["--difference"],
        ["Window"] = ["--window"], ["Horizon"] = ["--horizon"], ["TestFraction"] = ["--test-fraction"], ["Season"] = ["--season"],
        ["Bidirectional"] = ["--bidirectional"], ["InitFrom"] = ["--init-from"], ["ExtendVocab"] = ["--extend-vocab"],
        ["Likelihood"] = ["--likelihood"], ["Quantiles"] = ["--quantiles"], ["Samples"] = ["--samples"],
    };

    private static string? OptionFor(ParseResult parse, string setting) =>
        SettingOptions.TryGetValue(setting, out var names)
            ? names.FirstOrDefault(n => parse.CommandResult.Command.Options.Any(o => o.Name == n))
            : null;

    public static int Run(Func<int> body)
    {
        try
        {
            return body();
        }
        catch (OutputClosedException)
        {
            // As a Unix tool killed by SIGPIPE: nothing more on either stream.
            return OutputClosed;
        }
        catch (Exception e) when (DeviceFault(e) is { } message)
        {
            return Fail(message);
        }
        catch (GpuLstmException e)
        {
            return Fail(OneLine(e.Message));
        }
        catch (Exception e)
        {
            // A bug: one line, unless the user asks for the stack trace to report it.
            if (Environment.GetEnvironmentVariable("GPULSTM_TRACE") == "1") Console.Error.WriteLine(e.ToString());
            return Fail($"{e.GetType().Name}: {OneLine(e.Message)}", internalError: true);
        }
    }

    private static int Fail(string message, bool internalError = false)
    {
        try { Console.Out.Flush(); }
        catch (Exception e) when (e is OutputClosedException or GpuLstmException or IOException) { } // the output is gone; the error still goes to stderr
        Console.Error.WriteLine(internalError ? $"gpulstm: internal error: {message}" : $"gpulstm: error: {message}");
        return internalError ? InternalError : UserError;
    }

    public static string OneLine(string message) => System.Text.RegularExpressions.Regex.Replace(message.ReplaceLineEndings(" "), @"\s+", " ").Trim();

    /// <summary>An accelerator or the host running out of memory, said so the user knows what to change.</summary>
    private static string? DeviceFault(Exception e) => e switch
    {
        OutOfMemoryException => "the machine ran out of memory; try a smaller --batch, --hidden or --seq-length",
        ILGPU.Runtime.AcceleratorException when e.Message.Contains("memory", StringComparison.OrdinalIgnoreCase) =>
            $"the device ran out of memory ({OneLine(e.Message)}); try a smaller --batch, --hidden or --seq-length, or --device cpu",
        _ => null,
    };

    /// <summary>Every option the user gave, of every command: floating-point values finite, strings not blank.</summary>
    private static void CheckOptionValues(ParseResult parse)
    {
        for (var command = parse.CommandResult; command is not null; command = command.Parent as CommandResult)
            foreach (var result in command.Children.OfType<OptionResult>())
            {
                if (result.Implicit) continue;
                var option = result.Option;
                var type = Nullable.GetUnderlyingType(option.ValueType) ?? option.ValueType;
                if (type == typeof(double) || type == typeof(float) || type == typeof(double[]) || type == typeof(float[]))
                {
                    foreach (double value in FloatingValues(result))
                        if (!double.IsFinite(value))
                            throw new GpuLstmException($"{option.Name} must be a finite number, got {value.ToString(CultureInfo.InvariantCulture)}");
                }
                else if (type == typeof(string) && !MayBeEmpty.Contains(option.Name) && result.GetValueOrDefault<string?>() is { } text && string.IsNullOrWhiteSpace(text))
                {
                    throw new GpuLstmException(PathOptions.Contains(option.Name)
                        ? $"{option.Name} is an empty path{(text.Length > 0 ? " (only spaces)" : "")}; give a file name (is a shell variable unset?)"
                        : $"{option.Name} is empty{(text.Length > 0 ? " (only spaces)" : "")}; give a value (is a shell variable unset?)");
                }
            }
    }

    private static IEnumerable<double> FloatingValues(OptionResult result)
    {
        var type = result.Option.ValueType;
        if (type == typeof(double)) yield return result.GetValueOrDefault<double>();
        else if (type == typeof(double?)) { if (result.GetValueOrDefault<double?>() is double d) yield return d; }
        else if (type == typeof(float)) yield return result.GetValueOrDefault<float>();
        else if (type == typeof(float?)) { if (result.GetValueOrDefault<float?>() is float f) yield return f; }
        else if (type == typeof(double[])) { foreach (double d in result.GetValueOrDefault<double[]>() ?? Array.Empty<double>()) yield return d; }
        else if (type == typeof(float[])) { foreach (float f in result.GetValueOrDefault<float[]>() ?? Array.Empty<float>()) yield return f; }
    }

    /// <summary>
    /// Cancels <see cref="Token"/> on SIGINT (Ctrl-C) or SIGTERM instead of letting the runtime kill the
    /// process, so training can stop at a step boundary and save. <see cref="ExitCode"/> is 128 + the signal.
    /// </summary>
    public sealed class StopSignals : IDisposable
    {
        private readonly CancellationTokenSource _cts = new();
        private readonly System.Runtime.InteropServices.PosixSignalRegistration[] _registrations;
        private int _exitCode = Interrupted;

        public StopSignals()
        {
            _registrations = new[] { System.Runtime.InteropServices.PosixSignal.SIGINT, System.Runtime.InteropServices.PosixSignal.SIGTERM }
                .Select(signal => System.Runtime.InteropServices.PosixSignalRegistration.Create(signal, context =>
                {
                    context.Cancel = true;
                    if (!_cts.IsCancellationRequested) _exitCode = signal == System.Runtime.InteropServices.PosixSignal.SIGTERM ? Terminated : Interrupted;
                    _cts.Cancel();
                })).ToArray();
        }

        public CancellationToken Token => _cts.Token;

        /// <summary>130 after SIGINT, 143 after SIGTERM.</summary>
        public int ExitCode => _exitCode;

        /// <summary>"SIGINT" or "SIGTERM", for the closing line.</summary>
        public string SignalName => _exitCode == Terminated ? "SIGTERM" : "SIGINT";

        public void Dispose()
        {
            foreach (var r in _registrations) r.Dispose();
            _cts.Dispose();
        }
    }

    /// <summary>A finished run said in this CLI's options: which limit to raise to train on.</summary>
    public static T ResumeErrors<T>(Func<T> open)
    {
        try { return open(); }
        catch (RunFinishedException e)
        {
            throw new GpuLstmException(e.End switch
            {
                TrainEnd.EarlyStopped => $"cannot resume: the run stopped early at step {e.Step} (epoch {e.Epochs}) because the monitored loss stopped improving; there is nothing to continue, and nothing was changed",
                TrainEnd.StepLimit => $"cannot resume: the run finished at step {e.Step}, the --max-steps limit; to train on, give --max-steps above {e.Step}",
                _ => $"cannot resume: the run finished at step {e.Step} after {e.Epochs} epoch{(e.Epochs == 1 ? "" : "s")}; to train on, give --epochs above {e.Epochs}",
            }, e);
        }
    }

    public static void RequirePositive(int value, string option)
    {
        if (value < 1) throw new GpuLstmException($"{option} must be a positive integer, got {value}");
    }
}
