using System.CommandLine;
using System.Globalization;
using GpuLstm.Runtime;
using GpuLstm.Runtime.Data;
using GpuLstm.Runtime.Files;
using GpuLstm.Runtime.Training;

namespace GpuLstm.Cli;

/// <summary>`gpulstm eval`: a checkpoint's loss, bits per token and perplexity on a text file.</summary>
internal static class EvalCommand
{
    public static Command Create()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "a checkpoint written by `gpulstm train`", Required = true };
        var text = new Option<string>("--text") { Description = "UTF-8 text file to score ('-': standard input; pipes are read once, into memory)", Required = true };
        var lastFraction = new Option<double>("--last-fraction") { Description = "score only this last fraction of the file (train's --val-fraction holds out the same tail)", DefaultValueFactory = _ => 1.0 };
        var state = new Option<string>("--state") { Description = "carry: B streams read in order, state carried across windows (as tbptt training runs); reset: non-overlapping windows of seq_length+1, each from a zero state", DefaultValueFactory = _ => "carry" };
        state.AcceptOnlyFromAmong("carry", "reset");
        var batch = new Option<int>("--batch") { Description = "streams or windows per forward pass", DefaultValueFactory = _ => 32 };
        var device = new Option<string>("--device") { Description = "cpu, ilgpu-cpu, cuda, cuda:N, opencl, opencl:N, auto", DefaultValueFactory = _ => "cpu" };
        var command = new Command("eval", "Report a checkpoint's loss, bits per token and perplexity on a text file.")
        {
            checkpoint, text, lastFraction, state, batch, device,
        };
        command.SetAction(parse => CliRunner.Run(parse, () =>
        {
            int b = parse.GetValue(batch);
            CliRunner.RequirePositive(b, "--batch");
            double fraction = parse.GetValue(lastFraction);
            if (!(fraction > 0 && fraction <= 1)) throw new GpuLstmException($"--last-fraction must be in (0, 1], got {fraction}");
            string checkpointPath = parse.GetValue(checkpoint)!, path = parse.GetValue(text)!;
            new FilePlan().Input("--checkpoint", checkpointPath).Input("--text", path).Check();
            using var model = TextModel.Load(checkpointPath, parse.GetValue(device)!);
            var mode = parse.GetValue(state) == "reset" ? EvalState.Reset : EvalState.Carry;
            var result = model.EvaluateFile(path, fraction, mode, b);
            string unit = model.Tokens == TokenKind.Words ? "word" : "char";
            string name = path == InputSource.StandardInput ? "standard input" : Path.GetFileName(path);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{name}: {result.Tokens:N0} {unit}s scored ({mode.ToString().ToLowerInvariant()} state, windows of {model.SequenceLength}): loss {result.Loss:F4} nats/{unit}, {result.BitsPerToken:F4} bits/{unit}, perplexity {result.Perplexity:F3}"));
            if (model.Tokens == TokenKind.Words)
            {
                // Perplexity over a text with unknown words rewards predicting <unk>: say how much of the text it is.
                long count = result.TextTokens, unknown = result.UnknownTokens;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{unknown:N0} of the text's {count:N0} words ({(count == 0 ? 0 : 100.0 * unknown / count):F2}%) are outside the model's vocabulary of {model.Vocabulary.Count:N0} and were scored as {WordVocabulary.Unknown}; perplexity with unknown words is not comparable across vocabularies"));
            }
            return 0;
        }));
        return command;
    }
}
