using GpuLstm.Runtime;

namespace GpuLstm.Cli;

/// <summary>
/// Runs a command body and turns failures into one line on stderr and a non-zero exit code: 1 for a
/// problem with the user's input, 70 (EX_SOFTWARE) for anything we did not anticipate. Never a stack trace.
/// </summary>
internal static class CliRunner
{
    public const int UserError = 1;
    public const int InternalError = 70;

    public static int Run(Func<int> body)
    {
        try
        {
            return body();
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

    public static string OneLine(string message) => message.ReplaceLineEndings(" ").Trim();

    public static void RequirePositive(int value, string option)
    {
        if (value < 1) throw new GpuLstmException($"{option} must be a positive integer, got {value}");
    }
}
