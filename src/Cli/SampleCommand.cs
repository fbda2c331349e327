using GpuLstm.Runtime.Data;
using System.CommandLine;
using GpuLstm.Runtime;
using GpuLstm.Runtime.Files;
using GpuLstm.Runtime.Sampling;

namespace GpuLstm.Cli;

/// <summary>`gpulstm sample`: generate text from a saved checkpoint.</summary>
internal static class SampleCommand
{
    public static Command Create()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "a checkpoint written by `gpulstm train`", Required = true };
        var prime = new Option<string?>("--prime") { Description = "text to start from (default: the first seq_length tokens of the training corpus, stored in the checkpoint)" };
        var length = new Option<int>("--length") { Description = "tokens to generate (characters, or words for a word model)", DefaultValueFactory = _ => 200 };
        var temperature = new Option<double>("--temperature") { Description = "sampling temperature (> 0)", DefaultValueFactory = _ => 1.0 };
        var seed = new Option<ulong>("--seed") { Description = "sampling seed", DefaultValueFactory = _ => 42 };
        var device = new Option<string>("--device") { Description = "cpu (default: a checkpoint from any device samples on the CPU), ilgpu-cpu, cuda, cuda:N, opencl, opencl:N, auto", DefaultValueFactory = _ => "cpu" };
        var topK = new Option<int>("--top-k") { Description = "draw only among the k most likely tokens (0: all)", DefaultValueFactory = _ => 0 };
        var greedy = new Option<bool>("--greedy") { Description = "always take the most likely token (ignores --temperature)" };
        var mode = new Option<string?>("--mode")
        {
            Description = "window: re-run the last seq_length tokens from a zero state for every token (the notebook); " +
                          "state: one step per token, carrying the state (char-rnn). Default: how the model was trained",
        };
        mode.AcceptOnlyFromAmong("window", "state");
        var command = new Command("sample", "Generate text from a checkpoint by temperature, top-k or greedy sampling.")
        {
            checkpoint, prime, length, temperature, seed, device, mode, topK, greedy,
        };
        command.SetAction(parse => CliRunner.Run(parse, () =>
        {
            double temp = parse.GetValue(temperature);
            Sampler.ValidateTemperature(temp);
            int n = parse.GetValue(length);
            int k = parse.GetValue(topK);
            if (k < 0) throw new GpuLstmException($"--top-k must be 0 (off) or positive, got {k}");
            if (n < 0) throw new GpuLstmException($"--length must be 0 or more, got {n}");
            string checkpointPath = parse.GetValue(checkpoint)!;
            new FilePlan().Input("--checkpoint", checkpointPath).Check();
            using var model = TextModel.Load(checkpointPath, parse.GetValue(device)!);
            string text = parse.GetValue(prime) ?? model.DefaultPrime ?? throw new GpuLstmException("the checkpoint records no prime text; pass --prime");
            var options = new SamplingOptions(temp, k, parse.GetValue(greedy), parse.GetValue(seed), parse.GetValue(mode) switch { "state" => true, "window" => false, _ => null });
            // The settings and the prime are checked before anything is written; then tokens are written as they are
            // drawn, in constant memory: a long sample streams, and stops as soon as the reader of the output goes away (exit 141).
            var tokens = model.SampleTokens(text, n, options, StandardOutput.Closed);
            Console.Write(text);
            try
            {
                foreach (var piece in tokens) Console.Write(piece);
            }
            catch (OperationCanceledException) { throw new OutputClosedException(); }
            Console.WriteLine();
            return 0;
        }));
        return command;
    }
}
