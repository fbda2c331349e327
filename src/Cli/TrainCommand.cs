using System.CommandLine;
using System.Globalization;
using System.Text;
using GpuLstm.Runtime;
using GpuLstm.Runtime.Checkpoints;
using GpuLstm.Runtime.Compute;
using GpuLstm.Runtime.Data;
using GpuLstm.Runtime.Models;
using GpuLstm.Runtime.Sampling;
using GpuLstm.Runtime.Training;

namespace GpuLstm.Cli;

/// <summary>`gpulstm train`: with no options, the Keras notebook's experiment.</summary>
internal static class TrainCommand
{
    public const string DefaultCheckpoint = "gpulstm-model.safetensors";

    public static Command Create()
    {
        var corpus = new Option<string?>("--corpus") { Description = "UTF-8 text file to train on (default: the notebook's 5 lines of \"The Road Not Taken\", embedded)" };
        var hidden = new Option<int>("--hidden") { Description = "LSTM hidden size", DefaultValueFactory = _ => 128 };
        var layers = new Option<int>("--layers") { Description = "stacked LSTM layers", DefaultValueFactory = _ => 1 };
        var seqLength = new Option<int>("--seq-length") { Description = "window length in characters", DefaultValueFactory = _ => 50 };
        var batch = new Option<int>("--batch") { Description = "batch size", DefaultValueFactory = _ => 16 };
        var epochs = new Option<int>("--epochs") { Description = "maximum number of epochs", DefaultValueFactory = _ => 50 };
        var lr = new Option<double>("--lr") { Description = "Adam learning rate", DefaultValueFactory = _ => 1e-3 };
        var patience = new Option<int>("--patience") { Description = "early stopping: epochs without improvement of the loss before stopping", DefaultValueFactory = _ => 5 };
        var minDelta = new Option<double>("--min-delta") { Description = "early stopping: smallest decrease that counts as an improvement", DefaultValueFactory = _ => 0 };
        var restoreBest = new Option<bool>("--restore-best") { Description = "early stopping: end with the weights of the best epoch" };
        var clip = new Option<double>("--clip") { Description = "clip gradients to this global L2 norm (0: off)", DefaultValueFactory = _ => 0 };
        var seed = new Option<ulong>("--seed") { Description = "seed for initialization, shuffling and sampling", DefaultValueFactory = _ => 42 };
        var device = new Option<string>("--device") { Description = "auto, cpu, ilgpu-cpu, cuda, cuda:N, opencl, opencl:N (see `gpulstm devices`)", DefaultValueFactory = _ => "auto" };
        var checkpoint = new Option<string>("--checkpoint") { Description = "where to save the trained model (safetensors)", DefaultValueFactory = _ => DefaultCheckpoint };
        var sampleLength = new Option<int>("--sample-length") { Description = "characters to generate after training (0: no samples)", DefaultValueFactory = _ => 200 };
        var temperatures = new Option<double[]>("--temperatures")
        {
            Description = "sampling temperatures after training",
            DefaultValueFactory = _ => new[] { 0.5, 1.0, 1.5 },
            AllowMultipleArgumentsPerToken = true,
        };

        var command = new Command("train", "Train a char-level LSTM with Adam and early stopping, save it, and print samples.")
        {
            corpus, hidden, layers, seqLength, batch, epochs, lr, patience, minDelta, restoreBest, clip, seed, device, checkpoint, sampleLength, temperatures,
        };
        command.SetAction(parse => CliRunner.Run(() =>
        {
            int h = parse.GetValue(hidden), t = parse.GetValue(seqLength), b = parse.GetValue(batch), e = parse.GetValue(epochs);
            CliRunner.RequirePositive(h, "--hidden");
            int l = parse.GetValue(layers);
            CliRunner.RequirePositive(l, "--layers");
            CliRunner.RequirePositive(t, "--seq-length");
            CliRunner.RequirePositive(b, "--batch");
            CliRunner.RequirePositive(e, "--epochs");
            int length = parse.GetValue(sampleLength);
            if (length < 0) throw new GpuLstmException($"--sample-length must be 0 or more, got {length}");
            var temps = parse.GetValue(temperatures) ?? Array.Empty<double>();
            foreach (double temp in temps) Sampler.ValidateTemperature(temp);
            var adamOptions = new AdamOptions(LearningRate: parse.GetValue(lr), ClipNorm: parse.GetValue(clip));
            adamOptions.Validate();
            var stopping = new EarlyStoppingOptions("loss", parse.GetValue(patience), parse.GetValue(minDelta), parse.GetValue(restoreBest));
            stopping.Validate();
            string checkpointPath = parse.GetValue(checkpoint)!;
            if (Directory.Exists(checkpointPath)) throw new GpuLstmException($"checkpoint path '{checkpointPath}' is a directory");
            ulong s = parse.GetValue(seed);

            string? corpusPath = parse.GetValue(corpus);
            var corpusData = corpusPath is null ? EncodedCorpus.FromText(Corpus.Default()) : EncodedCorpus.Load(corpusPath);
            var vocab = corpusData.Vocabulary;
            var data = new WindowDataset(corpusData.Tokens, t);
            if (vocab.Count < 2) throw new GpuLstmException($"the corpus has {vocab.Count} distinct character; it needs at least 2");

            var config = new ModelConfig(vocab.Count, h, t, Layers: l);
            config.Validate();
            using var dev = ComputeDevice.Open(parse.GetValue(device)!);
            Console.WriteLine($"corpus: {corpusPath ?? Corpus.DefaultName}: {data.Count + t} chars, {vocab.Count} distinct; {data.Count} windows of {t}");
            string stack = string.Join(" -> ", Enumerable.Repeat($"LSTM({h})", l));
            Console.WriteLine($"model: one-hot({vocab.Count}) -> {stack} -> Dense({vocab.Count}) softmax; Adam lr {adamOptions.LearningRate:G}; batch {b}; seed {s}");
            Console.WriteLine($"device: {dev.Description}");

            using var model = new CharLstmModel(dev, config, Math.Min(b, data.Count));
            model.InitializeKerasDefaults(s);
            using var adam = new AdamOptimizer(model, adamOptions);
            var trainer = new Trainer(model, data, adam, stopping, new TrainOptions(e, Math.Min(b, data.Count), s));
            trainer.EpochEnded += r =>
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"Epoch {r.Epoch + 1}/{r.Epochs} - {r.Steps} steps - {r.Elapsed.TotalSeconds:F2}s - loss: {r.Loss:F4}"));
                if (r.Decision == EarlyStopping.Decision.Stop) Console.WriteLine($"Epoch {r.Epoch + 1}: early stopping");
            };
            using var signals = new CliRunner.StopSignals();
            var result = trainer.Train(signals.Token);
            if (result.End == TrainEnd.Diverged)
                throw new GpuLstmException($"training diverged at {result.DivergedWhat}; nothing was saved, and '{checkpointPath}' is as it was (try a smaller --lr, or --clip 5)");
            if (result.RestoredBestWeights) Console.WriteLine($"Restored the weights of the best epoch ({result.BestEpoch + 1}, loss {result.BestLoss:F4}).");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"trained {result.EpochsRun} epochs in {result.Elapsed.TotalSeconds:F1}s ({result.Elapsed.TotalSeconds / Math.Max(1, result.EpochsRun):F2}s/epoch, {result.LaunchesPerStep:F0} kernel launches/step); final loss {result.FinalLoss:F4}"));

            string prime = corpusData.Prefix(t);
            Checkpoint.Save(checkpointPath, model, vocab, new Dictionary<string, string>
            {
                ["prime"] = prime,
                ["seed"] = s.ToString(CultureInfo.InvariantCulture),
                ["epochs_trained"] = result.EpochsRun.ToString(CultureInfo.InvariantCulture),
                ["final_loss"] = result.FinalLoss.ToString("R", CultureInfo.InvariantCulture),
                ["corpus"] = corpusPath is null ? Corpus.DefaultName : Path.GetFileName(corpusPath),
            });
            Console.WriteLine($"saved checkpoint: {checkpointPath}");
            if (result.End == TrainEnd.Interrupted)
            {
                Console.Out.Flush();
                Console.Error.WriteLine($"gpulstm: interrupted after {result.Steps} steps; saved the weights of the last full step to '{checkpointPath}'");
                return CliRunner.Interrupted;
            }

            if (length > 0 && temps.Length > 0)
            {
                var sampler = new Sampler(model, vocab);
                var rng = Rng.ForPurpose(s, "sample");
                foreach (double temp in temps)
                {
                    Console.WriteLine();
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"----- temperature {temp:0.0##} -----"));
                    Console.WriteLine(prime + sampler.Generate(prime, length, temp, rng));
                }
            }
            return 0;
        }));
        return command;
    }
}
