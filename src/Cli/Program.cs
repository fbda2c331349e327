using System.CommandLine;
using GpuLstm.Cli;

StandardOutput.Install();
var root = new RootCommand("GpuLstm: train char- or word-level LSTM, GRU or RNN language models and numeric-series forecasters on ILGPU kernels (CUDA, OpenCL or CPU), sample from them, and forecast.");
root.Subcommands.Add(TrainCommand.Create());
root.Subcommands.Add(SampleCommand.Create());
root.Subcommands.Add(EvalCommand.Create());
root.Subcommands.Add(ImportCommand.Create());
root.Subcommands.Add(ForecastCommand.Create());
root.Subcommands.Add(ExportCommand.Create());
root.Subcommands.Add(DevicesCommand.Create());
root.Subcommands.Add(BenchCommand.Create());
var parse = root.Parse(args);
if (parse.Errors.Count > 0)
{
    // One line, like every other error, instead of the parser's error list followed by the whole help text.
    var names = new List<string>();
    for (var r = parse.CommandResult; r is not null && r.Command != root; r = r.Parent as System.CommandLine.Parsing.CommandResult) names.Insert(0, r.Command.Name);
    string command = names.Count == 0 ? "" : " " + string.Join(' ', names);
    Console.Error.WriteLine($"gpulstm: error: {ParseErrors.Describe(parse, root)} (see 'gpulstm{command} --help')");
    return CliRunner.UsageError;
}
// Train and forecast handle SIGINT and SIGTERM themselves (stop at a step boundary, save, exit 128 + signal).
// Help and --version write through the same runner as the commands, so that `gpulstm --help | head -3`
// exits 141 and `gpulstm --version > /dev/full` says so in one line, instead of a stack trace.
return CliRunner.Run(() => parse.Invoke(new InvocationConfiguration { ProcessTerminationTimeout = null, EnableDefaultExceptionHandler = false }));
