using System.Diagnostics;
using System.Security.Cryptography;
using GpuLstm.Runtime.Checkpoints;
using Xunit;

namespace GpuLstm.Tests;

/// <summary>Signals, divergence, a process killed mid-save, and bit-identical runs, each in a child process.</summary>
public sealed class ReliabilityTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gpulstm-rel-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Corpus()
    {
        string path = Path.Combine(_dir, "tiny.txt");
        File.WriteAllText(path, BadInputFiles.Tiny);
        return path;
    }

    private static void Signal(Process p, string signal)
    {
        using var kill = Process.Start("kill", $"-{signal} {p.Id}")!;
        kill.WaitForExit();
        Assert.Equal(0, kill.ExitCode);
    }

    [Theory]
    [InlineData("INT", 130)]
    [InlineData("TERM", 143)]
    public async Task SignalStopsAtAStepBoundarySavesAndExitsWith128PlusTheSignal(string signal, int exitCode)
    {
        string ckpt = Path.Combine(_dir, "interrupted.safetensors");
        using var p = CliTests.Start(_dir, "train", "--mode", "last", "--corpus", Corpus(), "--hidden", "8", "--seq-length", "10", "--epochs", "1000000",
            "--patience", "1000000", "--sample-length", "0", "--checkpoint", ckpt, "--device", "cpu");
        var stderr = p.StandardError.ReadToEndAsync();
        // Wait until training is under way, then signal.
        string? line;
        while ((line = p.StandardOutput.ReadLine()) is not null && !line.StartsWith("Epoch 3/", StringComparison.Ordinal)) { }
        Assert.NotNull(line);
        Signal(p, signal);
        var rest = p.StandardOutput.ReadToEndAsync();
        Assert.True(p.WaitForExit(TimeSpan.FromSeconds(60)), "the process did not stop");
        Assert.Equal(exitCode, p.ExitCode);
        Assert.Contains("saved checkpoint: " + ckpt, await rest);
        var lines = (await stderr).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith($"gpulstm: interrupted by SIG{signal} after ", lines[0]);
        var loaded = Checkpoint.Load(ckpt);
        Assert.Equal(8, loaded.Config.Hidden);
    }

    [Fact]
    public void DivergenceNamesTheStepAndKeepsTheLastGoodCheckpoint()
    {
        string ckpt = Path.Combine(_dir, "model.safetensors");
        var good = CliTests.Run(_dir, "train", "--mode", "last", "--corpus", Corpus(), "--hidden", "8", "--seq-length", "10", "--epochs", "2",
            "--sample-length", "0", "--checkpoint", ckpt, "--device", "cpu");
        Assert.Equal(0, good.ExitCode);
        byte[] before = File.ReadAllBytes(ckpt);
        // A learning rate of 1e38 sends the weights to ±1e38 in one step; the next forward overflows.
        var bad = CliTests.Run(_dir, "train", "--mode", "last", "--corpus", Corpus(), "--hidden", "8", "--seq-length", "10", "--epochs", "5",
            "--lr", "1e38", "--sample-length", "0", "--checkpoint", ckpt, "--device", "cpu");
        Assert.Equal(1, bad.ExitCode);
        Assert.Matches(@"^gpulstm: error: training diverged at step \d+ \(epoch \d+\): the (loss|gradient norm) is (NaN|∞|-∞|Infinity|-Infinity); nothing was saved, and '.*' is as it was", bad.Stderr.Trim());
        Assert.Equal(before, File.ReadAllBytes(ckpt));
    }

    /// <summary>
    /// Kills the process the moment its temporary checkpoint file appears, that is, during the save. The old
    /// checkpoint must still be there and load; the rename is the only moment the path changes.
    /// </summary>
    [Fact]
    public void KillDuringSaveLeavesTheOldCheckpointLoadable()
    {
        string ckpt = Path.Combine(_dir, "model.safetensors");
        var old = CliTests.Run(_dir, "train", "--mode", "last", "--corpus", Corpus(), "--hidden", "4", "--seq-length", "10", "--epochs", "1",
            "--sample-length", "0", "--checkpoint", ckpt, "--device", "cpu");
        Assert.Equal(0, old.ExitCode);
        byte[] oldBytes = File.ReadAllBytes(ckpt);
        int caught = 0;
        for (int attempt = 0; attempt < 8 && caught < 1; attempt++)
        {
            // A big model makes a save of ~11 MB, long enough to catch.
            using var p = CliTests.Start(_dir, "train", "--mode", "last", "--corpus", Corpus(), "--hidden", "800", "--seq-length", "10", "--epochs", "1",
                "--batch", "64", "--sample-length", "0", "--checkpoint", ckpt, "--device", "cpu");
            var sw = Stopwatch.StartNew();
            bool killed = false;
            while (!p.HasExited && sw.Elapsed < TimeSpan.FromMinutes(2))
            {
                if (Directory.EnumerateFiles(_dir, "model.safetensors.tmp-*").Any())
                {
                    p.Kill(entireProcessTree: true);
                    killed = true;
                    break;
                }
                Thread.SpinWait(1000);
            }
            p.WaitForExit();
            var loaded = Checkpoint.Load(ckpt); // old or new, never torn
            if (killed && File.ReadAllBytes(ckpt).AsSpan().SequenceEqual(oldBytes))
            {
                caught++;
                Assert.Equal(4, loaded.Config.Hidden);
            }
            foreach (var tmp in Directory.EnumerateFiles(_dir, "model.safetensors.tmp-*")) File.Delete(tmp);
            File.WriteAllBytes(ckpt, oldBytes);
        }
        Assert.True(caught > 0, "never caught the process during a save");
    }

    [Fact]
    public void SameSeedGivesBitIdenticalCheckpointsAndSamples()
    {
        string[] Train(string name, int seed = 9) => ["train", "--mode", "last", "--corpus", Corpus(), "--hidden", "12", "--layers", "2", "--seq-length", "10",
            "--epochs", "3", "--seed", seed.ToString(), "--sample-length", "40", "--checkpoint", Path.Combine(_dir, name), "--device", "cpu"];
        var a = CliTests.Run(_dir, Train("a.safetensors"));
        var b = CliTests.Run(_dir, Train("b.safetensors"));
        Assert.Equal(0, a.ExitCode);
        Assert.Equal(0, b.ExitCode);
        Assert.Equal(SHA256.HashData(File.ReadAllBytes(Path.Combine(_dir, "a.safetensors"))),
            SHA256.HashData(File.ReadAllBytes(Path.Combine(_dir, "b.safetensors"))));
        string Samples(string s) => string.Join("\n", s.Split('\n').SkipWhile(l => !l.StartsWith("-----", StringComparison.Ordinal)));
        Assert.Equal(Samples(a.Stdout), Samples(b.Stdout));
        var sa = CliTests.Run(_dir, "sample", "--checkpoint", "a.safetensors", "--length", "60", "--seed", "4", "--device", "cpu");
        var sb = CliTests.Run(_dir, "sample", "--checkpoint", "b.safetensors", "--length", "60", "--seed", "4", "--device", "cpu");
        Assert.Equal(0, sa.ExitCode);
        Assert.Equal(sa.Stdout, sb.Stdout);
        var other = CliTests.Run(_dir, Train("c.safetensors", seed: 10));
        Assert.Equal(0, other.ExitCode);
        Assert.NotEqual(File.ReadAllBytes(Path.Combine(_dir, "a.safetensors")), File.ReadAllBytes(Path.Combine(_dir, "c.safetensors")));
    }
}
