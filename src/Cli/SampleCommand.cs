using GpuLstm.Runtime.Data;
using System.CommandLine;
using GpuLstm.Runtime;
using GpuLstm.Runtime.Files;
using GpuLstm.Runtime.Sampling;
using System.Text;
using System.Text.Json;

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
        var output = new Option<string?>("--output") { Description = "also write the sample(s) to this file, atomically (as they appear on stdout)" };
        var count = new Option<int>("--count") { Description = "independent samples to draw, from seeds seed, seed+1, …, batched through the model", DefaultValueFactory = _ => 1 };
        var primeFile = new Option<string?>("--prime-file") { Description = "a UTF-8 file whose whole text is the prime (instead of --prime)" };
        var json = new Option<bool>("--json") { Description = "one JSON object a line per sample, with the settings used" };
        var command = new Command("sample", "Generate text from a checkpoint by temperature, top-k or greedy sampling.")
        {
            checkpoint, prime, primeFile, length, temperature, seed, device, mode, topK, greedy, count, output, json,
        };
        command.SetAction(parse => CliRunner.Run(parse, () =>
        {
            double temp = parse.GetValue(temperature);
            Sampler.ValidateTemperature(temp);
            int n = parse.GetValue(length);
            int k = parse.GetValue(topK);
            int samples = parse.GetValue(count);
            if (k < 0) throw new GpuLstmException($"--top-k must be 0 (off) or positive, got {k}");
            if (n < 0) throw new GpuLstmException($"--length must be 0 or more, got {n}");
            if (samples < 1) throw new GpuLstmException($"--count must be a positive integer, got {samples}");
            // N samples are kept in memory until all are drawn: a runaway count fails here, not after filling memory.
            if (samples > MaxCount) throw new GpuLstmException(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"--count draws at most {MaxCount:N0} samples at once, got {samples:N0}; run sample again with --seed moved on by {MaxCount:N0}"));
            string? primeText = parse.GetValue(prime), primePath = parse.GetValue(primeFile);
            if (primeText is not null && primePath is not null) throw new GpuLstmException("give the prime once: --prime or --prime-file, not both");
            string checkpointPath = parse.GetValue(checkpoint)!;
            string? outputPath = parse.GetValue(output);
            new FilePlan().Input("--checkpoint", checkpointPath).Input("--prime-file", primePath).Output("--output", outputPath).Check();
            if (primePath is not null) primeText = EncodedCorpus.ReadText(primePath, "prime file");
            using var model = TextModel.Load(checkpointPath, parse.GetValue(device)!);
            string text = primeText ?? model.DefaultPrime ?? throw new GpuLstmException("the checkpoint records no prime text; pass --prime");
            bool? carry = parse.GetValue(mode) switch { "state" => true, "window" => false, _ => null };
            var options = new SamplingOptions(temp, k, parse.GetValue(greedy), parse.GetValue(seed), carry);
            var settings = new SampleSettings(checkpointPath, text, n, options, carry ?? model.TrainedOnStreams ? "state" : "window");
            using var files = new FileTransaction();
            // Ctrl-C or SIGTERM stops at the next token: the transaction is disposed uncommitted, so --output is left as it was.
            using var signals = new CliRunner.StopSignals();
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(signals.Token, StandardOutput.Closed);
            int Interrupted()
            {
                Console.Out.Flush();
                Console.Error.WriteLine($"gpulstm: interrupted by {signals.SignalName}" + (outputPath is not null ? "; nothing was written to --output" : ""));
                return signals.ExitCode;
            }
            if (samples == 1 && !parse.GetValue(json))
            {
                // The settings and the prime are checked before anything is written; then tokens are written as they are
                // drawn, in constant memory: a long sample streams, and stops as soon as the reader of the output goes away (exit 141).
                var tokens = model.SampleTokens(text, n, options, stop.Token);
                void Stream(Stream file)
                {
                    using var copy = new StreamWriter(file, new UTF8Encoding(false), 1 << 16, leaveOpen: true);
                    Write(copy, text);
                    try
                    {
                        foreach (var piece in tokens) Write(copy, piece);
                    }
                    catch (OperationCanceledException) when (!signals.Token.IsCancellationRequested) { throw new OutputClosedException(); }
                    Write(copy, "\n");
                }
                try
                {
                    if (outputPath is not null) files.Stage(outputPath, "sample", Stream);
                    else Stream(System.IO.Stream.Null);
                }
                catch (OperationCanceledException) when (signals.Token.IsCancellationRequested) { return Interrupted(); }
            }
            else
            {
                // N samples are drawn together (one batched forward a token), so each is printed whole when all are done.
                IReadOnlyList<string> texts;
                try { texts = model.SampleMany(samples, text, n, options, stop.Token); }
                catch (OperationCanceledException) when (signals.Token.IsCancellationRequested) { return Interrupted(); }
                catch (OperationCanceledException) { throw new OutputClosedException(); }
                string all = parse.GetValue(json) ? string.Concat(texts.Select((t, i) => settings.Json(i, t) + "\n"))
                    : string.Join("\n", texts.Select(t => text + t + "\n"));
                Console.Write(all);
                if (outputPath is not null) files.Stage(outputPath, "samples", s => s.Write(new UTF8Encoding(false).GetBytes(all)));
            }
            files.Commit();
            return 0;
        }));
        return command;
    }

    /// <summary>The most samples one command draws (they are held in memory until the last token).</summary>
    public const int MaxCount = 100_000;

    /// <summary>Writes to standard output and to the copy for --output (<see cref="System.IO.Stream.Null"/> without one).</summary>
    private static void Write(StreamWriter copy, string piece)
    {
        Console.Write(piece);
        copy.Write(piece);
    }

    /// <summary>The settings a --json line records beside each sample, so a script can reproduce it.</summary>
    private sealed record SampleSettings(string Checkpoint, string Prime, int Length, SamplingOptions Options, string Mode)
    {
        public string Json(int index, string generated)
        {
            using var buffer = new MemoryStream();
            using (var w = new Utf8JsonWriter(buffer))
            {
                w.WriteStartObject();
                w.WriteNumber("index", index);
                w.WriteNumber("seed", unchecked(Options.Seed + (ulong)index));
                w.WriteString("prime", Prime);
                w.WriteString("text", generated);
                w.WriteNumber("length", Length);
                w.WriteNumber("temperature", Options.Temperature);
                w.WriteNumber("top_k", Options.TopK);
                w.WriteBoolean("greedy", Options.Greedy);
                w.WriteString("mode", Mode);
                w.WriteString("checkpoint", Checkpoint);
                w.WriteEndObject();
            }
            return Encoding.UTF8.GetString(buffer.ToArray());
        }
    }
}
