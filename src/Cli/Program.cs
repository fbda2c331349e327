using System.CommandLine;
using GpuLstm.Cli;

var root = new RootCommand("GpuLstm: train character-level LSTMs and numeric forecasters on ILGPU kernels (CUDA, OpenCL or CPU) and sample from them.");
root.Subcommands.Add(TrainCommand.Create());
root.Subcommands.Add(SampleCommand.Create());
root.Subcommands.Add(ForecastCommand.Create());
root.Subcommands.Add(DevicesCommand.Create());
root.Subcommands.Add(BenchCommand.Create());
var parse = root.Parse(args);
if (parse.Errors.Count > 0)
{
    // One line, like every other error, instead of the parser's error list followed by the whole help text.
    string command = parse.CommandResult.Command == root ? "" : " " + parse.CommandResult.Command.Name;
    Console.Error.WriteLine($"gpulstm: error: {CliRunner.OneLine(string.Join("; ", parse.Errors.Select(e => e.Message)))} (see 'gpulstm{command} --help')");
    return CliRunner.UsageError;
}
// Train handles SIGINT and SIGTERM itself (stop at a step boundary, save, exit 130).
return parse.Invoke(new InvocationConfiguration { ProcessTerminationTimeout = null });
