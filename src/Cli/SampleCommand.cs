using System.CommandLine;
using GpuLstm.Runtime;
using GpuLstm.Runtime.Checkpoints;
using GpuLstm.Runtime.Compute;
using GpuLstm.Runtime.Sampling;

namespace GpuLstm.Cli;

/// <summary>`gpulstm sample`: generate text from a saved checkpoint.</summary>
internal static class SampleCommand
{
    public static Command Create()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "a checkpoint written by `gpulstm train`", Required = true };
        var prime = new Option<string?>("--prime") { Description = "text to start from (default: the first seq_length characters of the training corpus, stored in the checkpoint)" };
        var length = new Option<int>("--length") { Description = "characters to generate", DefaultValueFactory = _ => 200 };
        var temperature = new Option<double>("--temperature") { Description = "sampling temperature (> 0)", DefaultValueFactory = _ => 1.0 };
        var seed = new Option<ulong>("--seed") { Description = "sampling seed", DefaultValueFactory = _ => 42 };
        var device = new Option<string>("--device") { Description = "auto, cpu, cuda, cuda:N, opencl, opencl:N", DefaultValueFactory = _ => "auto" };
        var command = new Command("sample", "Generate text from a checkpoint by temperature sampling.")
        {
            checkpoint, prime, length, temperature, seed, device,
        };
        command.SetAction(parse => CliRunner.Run(() =>
        {
            double temp = parse.GetValue(temperature);
            Sampler.ValidateTemperature(temp);
            int n = parse.GetValue(length);
            if (n < 0) throw new GpuLstmException($"--length must be 0 or more, got {n}");
            var loaded = Checkpoint.Load(parse.GetValue(checkpoint)!);
            string text = parse.GetValue(prime) ?? loaded.DefaultPrime
                ?? throw new GpuLstmException("the checkpoint records no prime text; pass --prime");
            // Check the prime before paying for the device.
            loaded.Vocabulary.Encode(text, "the prime text");
            using var dev = ComputeDevice.Open(parse.GetValue(device)!);
            using var model = loaded.CreateModel(dev, maxBatch: 1);
            var sampler = new Sampler(model, loaded.Vocabulary);
            Console.Write(text);
            sampler.Generate(text, n, temp, Rng.ForPurpose(parse.GetValue(seed), "sample"), Console.Write);
            Console.WriteLine();
            return 0;
        }));
        return command;
    }
}
