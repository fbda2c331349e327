using System.CommandLine;
using System.Globalization;
using GpuLstm.Runtime;
using GpuLstm.Runtime.Checkpoints;
using GpuLstm.Runtime.Compute;
using GpuLstm.Runtime.Data;
using GpuLstm.Runtime.Files;
using GpuLstm.Runtime.Models;
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
            var loaded = Checkpoint.Load(checkpointPath);
            var source = InputSource.Open(path, "text file");
            var tokens = Encode(loaded.Vocabulary, source);
            int count = (int)Math.Round(fraction * tokens.Length);
            int start = tokens.Length - count;
            var mode = parse.GetValue(state) == "reset" ? EvalState.Reset : EvalState.Carry;
            int t = loaded.Config.SeqLength;
            using var dev = ComputeDevice.Open(parse.GetValue(device)!);
            // Score every position whatever the model was trained on: the same weights, a loss at each step.
            var config = loaded.Config with { Loss = loaded.Config.Loss == LossPositions.Last && mode == EvalState.Carry ? LossPositions.Last : LossPositions.All };
            using var model = new LanguageModel(dev, config, b);
            loaded.CopyInto(model);
            var result = new Evaluator(model).Evaluate(tokens, start, count, mode, b, t);
            string unit = loaded.Vocabulary.Kind == "word" ? "word" : "char";
            string name = path == InputSource.StandardInput ? "standard input" : Path.GetFileName(path);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{name}: {result.Tokens:N0} {unit}s scored ({mode.ToString().ToLowerInvariant()} state, windows of {t}): loss {result.Loss:F4} nats/{unit}, {result.BitsPerToken:F4} bits/{unit}, perplexity {result.Perplexity:F3}"));
            if (loaded.Vocabulary is WordVocabulary words)
            {
                // Perplexity over a text with unknown words rewards predicting <unk>: say how much of the text it is.
                long unknown = 0;
                foreach (int id in tokens.AsSpan(start, count)) if (id == words.UnknownId) unknown++;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{unknown:N0} of the text's {count:N0} words ({(count == 0 ? 0 : 100.0 * unknown / count):F2}%) are outside the model's vocabulary of {words.Count:N0} and were scored as {WordVocabulary.Unknown}; perplexity with unknown words is not comparable across vocabularies"));
            }
            return 0;
        }));
        return command;
    }

    private static int[] Encode(ITokenizer vocabulary, InputSource source)
    {
        if (vocabulary is WordVocabulary words) return words.Encode(WordTokenizer.Tokenize(EncodedCorpus.ReadText(source)));
        var corpus = EncodedCorpus.Load(source);
        // Re-map the file's own ids onto the model's vocabulary; a character the model never saw is an error.
        var map = new int[corpus.Vocabulary.Count];
        var own = (Vocabulary)corpus.Vocabulary;
        var model = (Vocabulary)vocabulary;
        for (int i = 0; i < map.Length; i++)
        {
            var rune = own.Symbols[i];
            if (!model.TryGetId(rune, out map[i]))
                throw new GpuLstmException($"{source.Describe()} contains {Vocabulary.Describe(rune)}, which is not in the model's vocabulary of {model.Count} characters");
        }
        var ids = corpus.Tokens;
        for (int i = 0; i < ids.Length; i++) ids[i] = map[ids[i]];
        return ids;
    }
}
