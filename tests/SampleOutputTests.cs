using System.Text.Json;
using Xunit;

namespace GpuLstm.Tests;

/// <summary>
/// Samples a user can keep: N samples batched through the model are exactly the N single samples of seeds
/// seed, seed+1, …; --output holds what stdout showed; --json records the settings; --prime-file primes as --prime does.
/// </summary>
public sealed class SampleOutputTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gpulstm-sample-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private TextModel Train(TrainingMode mode, RecurrentCell cell, int layers = 1) => TextModel.Train(new TextTrainingSettings
    {
        Text = Runtime.Data.Corpus.Default(), Mode = mode, Cell = cell, Layers = layers, Hidden = 8, SeqLength = 6, BatchSize = 4,
        Epochs = 1000, MaxSteps = 6, ValFraction = 0, Device = "cpu", Checkpoint = Path.Combine(_dir, $"{mode}-{cell.Name}.safetensors"),
    });

    [Theory]
    [InlineData(TrainingMode.Windows, "lstm", 1)]
    [InlineData(TrainingMode.Streams, "gru", 2)]
    public void BatchedSamplesAreTheSingleSamplesOfConsecutiveSeeds(TrainingMode mode, string cell, int layers)
    {
        using var model = Train(mode, RecurrentCell.Parse(cell), layers);
        // 34 samples: a full batch of 32 streams, then a second pass of 2, whose seeds go on from the first.
        var options = new SamplingOptions(Temperature: 1.5, Seed: 1000);
        var many = model.SampleMany(34, "Two roads ", 25, options);
        Assert.Equal(34, many.Count);
        foreach (int i in new[] { 0, 1, 17, 31, 32, 33 })
            Assert.Equal(model.Sample("Two roads ", 25, options with { Seed = 1000 + (ulong)i }), many[i]);
        // Distinct seeds draw distinct samples (at T = 1.5 over 25 characters, equal ones would mean a shared generator).
        Assert.True(many.Distinct().Count() > 30, "the samples of different seeds should differ");
        // Both loops, whichever the model was trained with.
        var other = options with { CarryState = mode == TrainingMode.Windows };
        var otherMany = model.SampleMany(3, "Two roads ", 25, other);
        for (int i = 0; i < 3; i++) Assert.Equal(model.Sample("Two roads ", 25, other with { Seed = 1000 + (ulong)i }), otherMany[i]);
    }

    [Fact]
    public void CountIsPositive()
    {
        using var model = Train(TrainingMode.Windows, RecurrentCell.Lstm);
        Assert.Throws<SettingException>(() => model.SampleMany(0, "Two", 5));
    }

    private string Checkpoint()
    {
        string corpus = Path.Combine(_dir, "tiny.txt");
        File.WriteAllText(corpus, BadInputFiles.Tiny);
        var r = CliTests.Run(_dir, "train", "--mode", "last", "--corpus", "tiny.txt", "--hidden", "4", "--seq-length", "8", "--epochs", "1",
            "--sample-length", "0", "--checkpoint", "m.safetensors", "--metrics", "none", "--plot", "none", "--device", "cpu");
        Assert.True(r.ExitCode == 0, r.Stderr);
        return "m.safetensors";
    }

    [Fact]
    public void OutputHoldsWhatStdoutShowedAndJsonRecordsTheSettings()
    {
        string checkpoint = Checkpoint();
        var single = CliTests.Run(_dir, "sample", "--checkpoint", checkpoint, "--length", "30", "--seed", "5", "--output", "one.txt");
        Assert.Equal(0, single.ExitCode);
        Assert.Equal(single.Stdout, File.ReadAllText(Path.Combine(_dir, "one.txt")));
        Assert.StartsWith("the cat ", single.Stdout);

        var many = CliTests.Run(_dir, "sample", "--checkpoint", checkpoint, "--length", "30", "--seed", "5", "--count", "3", "--output", "three.txt");
        Assert.Equal(0, many.ExitCode);
        Assert.Equal(many.Stdout, File.ReadAllText(Path.Combine(_dir, "three.txt")));
        // The first of the three is the single sample of seed 5; the samples are separated by an empty line.
        Assert.StartsWith(single.Stdout + "\n", many.Stdout);

        var json = CliTests.Run(_dir, "sample", "--checkpoint", checkpoint, "--length", "30", "--seed", "5", "--count", "3", "--json",
            "--temperature", "0.5", "--top-k", "4", "--mode", "state");
        Assert.Equal(0, json.ExitCode);
        var lines = json.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, lines.Length);
        for (int i = 0; i < 3; i++)
        {
            var o = JsonDocument.Parse(lines[i]).RootElement;
            Assert.Equal(i, o.GetProperty("index").GetInt32());
            Assert.Equal(5UL + (ulong)i, o.GetProperty("seed").GetUInt64());
            Assert.Equal("the cat ", o.GetProperty("prime").GetString());
            Assert.Equal(0.5, o.GetProperty("temperature").GetDouble());
            Assert.Equal(4, o.GetProperty("top_k").GetInt32());
            Assert.False(o.GetProperty("greedy").GetBoolean());
            Assert.Equal("state", o.GetProperty("mode").GetString());
            Assert.Equal(30, o.GetProperty("length").GetInt32());
            // The text is the generated part: the same as a plain run of that seed prints after the prime.
            var plain = CliTests.Run(_dir, "sample", "--checkpoint", checkpoint, "--length", "30", "--seed", (5 + i).ToString(),
                "--temperature", "0.5", "--top-k", "4", "--mode", "state");
            Assert.Equal(plain.Stdout, "the cat " + o.GetProperty("text").GetString() + "\n");
        }
    }

    [Fact]
    public void APrimeFilePrimesAsTheSameTextGivenInline()
    {
        string checkpoint = Checkpoint();
        File.WriteAllText(Path.Combine(_dir, "prime.txt"), "the dog\nsat ");
        var fromFile = CliTests.Run(_dir, "sample", "--checkpoint", checkpoint, "--length", "20", "--prime-file", "prime.txt");
        var inline = CliTests.Run(_dir, "sample", "--checkpoint", checkpoint, "--length", "20", "--prime", "the dog\nsat ");
        Assert.Equal(0, fromFile.ExitCode);
        Assert.Equal(inline.Stdout, fromFile.Stdout);
        Assert.StartsWith("the dog\nsat ", fromFile.Stdout);
    }

    [Fact]
    public void AFailedSampleLeavesAnExistingOutputAsItWas()
    {
        string checkpoint = Checkpoint();
        string kept = Path.Combine(_dir, "kept.txt");
        File.WriteAllText(kept, "an earlier sample");
        // The prime is refused after the output is planned: nothing is written over the earlier sample.
        var r = CliTests.Run(_dir, "sample", "--checkpoint", checkpoint, "--prime", "zebra", "--output", "kept.txt");
        Assert.Equal(1, r.ExitCode);
        Assert.Equal("an earlier sample", File.ReadAllText(kept));
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp-*"));
    }

    [Theory]
    [InlineData("INT", 130)]
    [InlineData("TERM", 143)]
    public async Task ASignalStopsTheSampleAndLeavesTheOutputAsItWas(string signal, int exitCode)
    {
        string checkpoint = Checkpoint();
        string kept = Path.Combine(_dir, "kept.txt");
        File.WriteAllText(kept, "an earlier sample");
        using var p = CliTests.Start(_dir, "sample", "--checkpoint", checkpoint, "--length", "100000000", "--output", "kept.txt");
        var stderr = p.StandardError.ReadToEndAsync();
        // The sample streams: its first character means the signal handlers are in place and sampling is under way.
        Assert.True(p.StandardOutput.Read() >= 0);
        using (var kill = System.Diagnostics.Process.Start("kill", $"-{signal} {p.Id}")!) await kill.WaitForExitAsync();
        await p.StandardOutput.ReadToEndAsync();
        Assert.True(p.WaitForExit(TimeSpan.FromSeconds(60)), "the process did not stop");
        Assert.Equal(exitCode, p.ExitCode);
        Assert.Equal($"gpulstm: interrupted by SIG{signal}; nothing was written to --output", (await stderr).Trim());
        Assert.Equal("an earlier sample", File.ReadAllText(kept));
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp-*"));
    }
}
