using GpuLstm.Runtime.Data;
using System.CommandLine;
using GpuLstm.Runtime;
using GpuLstm.Runtime.Checkpoints;
using GpuLstm.Runtime.Compute;
using GpuLstm.Runtime.Models;
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
            var loaded = Checkpoint.Load(parse.GetValue(checkpoint)!);
            string text = parse.GetValue(prime) ?? loaded.DefaultPrime
                ?? throw new GpuLstmException("the checkpoint records no prime text; pass --prime");
            // Check the prime before paying for the device.
            if (loaded.Vocabulary.Encode(text, "the prime text").Length == 0) throw new GpuLstmException("the prime text is empty; give --prime with at least one token");
            if (k > loaded.Vocabulary.Count) throw new GpuLstmException($"--top-k {k} exceeds the vocabulary of {loaded.Vocabulary.Count}");
            using var dev = ComputeDevice.Open(parse.GetValue(device)!);
            using var model = loaded.CreateModel(dev, maxBatch: 1);
            var sampler = new Sampler(model, loaded.Vocabulary, k, parse.GetValue(greedy));
            // A model trained on the last position of zero-state windows has never seen longer histories.
            bool carryState = (parse.GetValue(mode) ?? (loaded.Config.Loss == LossPositions.All ? "state" : "window")) == "state";
            var rng = Rng.ForPurpose(parse.GetValue(seed), "sample");
            Console.Write(text);
            // Tokens are written as they are drawn, in constant memory: a long sample streams instead of
            // appearing at the end, and stops as soon as the reader of the output goes away (exit 141).
            try
            {
                if (carryState) sampler.GenerateCarryingState(text, n, temp, rng, Console.Write, StandardOutput.Closed);
                else sampler.Generate(text, n, temp, rng, Console.Write, StandardOutput.Closed);
            }
            catch (OperationCanceledException) { throw new OutputClosedException(); }
            Console.WriteLine();
            return 0;
        }));
        return command;
    }
}
