using GpuLstm.Runtime;

namespace GpuLstm.Cli;

/// <summary>
/// Runs a command body and turns failures into one line on stderr and a non-zero exit code: 1 for a
/// problem with the user's input or files, 2 for a command line that does not parse, 130 after SIGINT or
/// SIGTERM, 70 (EX_SOFTWARE) for anything we did not anticipate. Never a stack trace.
/// </summary>
internal static class CliRunner
{
    public const int UserError = 1;
    public const int UsageError = 2;
    public const int Interrupted = 130;
    public const int InternalError = 70;

    public static int Run(Func<int> body)
    {
        try
        {
            return body();
        }
        catch (Exception e) when (DeviceFault(e) is { } message)
        {
            Console.Out.Flush();
            Console.Error.WriteLine($"gpulstm: error: {message}");
            return UserError;
        }
        catch (GpuLstmException e)
        {
            Console.Out.Flush();
            Console.Error.WriteLine($"gpulstm: error: {OneLine(e.Message)}");
            return UserError;
        }
        catch (Exception e)
        {
            Console.Out.Flush();
            Console.Error.WriteLine($"gpulstm: internal error: {e.GetType().Name}: {OneLine(e.Message)}");
            return InternalError;
        }
    }

    public static string OneLine(string message) => System.Text.RegularExpressions.Regex.Replace(message.ReplaceLineEndings(" "), @"\s+", " ").Trim();

    /// <summary>An accelerator or the host running out of memory, said so the user knows what to change.</summary>
    private static string? DeviceFault(Exception e) =>
        e is OutOfMemoryException || (e is ILGPU.Runtime.AcceleratorException && e.Message.Contains("memory", StringComparison.OrdinalIgnoreCase))
            ? $"the device ran out of memory ({OneLine(e.Message)}); try a smaller --batch, --hidden or --seq-length (or, on a GPU, --device cpu)"
            : null;

    /// <summary>
    /// Cancels <see cref="Token"/> on SIGINT (Ctrl-C) or SIGTERM instead of letting the runtime kill the
    /// process, so training can stop at a step boundary and save.
    /// </summary>
    public sealed class StopSignals : IDisposable
    {
        private readonly CancellationTokenSource _cts = new();
        private readonly System.Runtime.InteropServices.PosixSignalRegistration[] _registrations;

        public StopSignals()
        {
            _registrations = new[] { System.Runtime.InteropServices.PosixSignal.SIGINT, System.Runtime.InteropServices.PosixSignal.SIGTERM }
                .Select(signal => System.Runtime.InteropServices.PosixSignalRegistration.Create(signal, context =>
                {
                    context.Cancel = true;
                    _cts.Cancel();
                })).ToArray();
        }

        public CancellationToken Token => _cts.Token;

        public void Dispose()
        {
            foreach (var r in _registrations) r.Dispose();
            _cts.Dispose();
        }
    }

    public static void RequirePositive(int value, string option)
    {
        if (value < 1) throw new GpuLstmException($"{option} must be a positive integer, got {value}");
    }
}
