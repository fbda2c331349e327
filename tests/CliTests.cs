using System.Diagnostics;
using Xunit;

namespace GpuLstm.Tests;

/// <summary>The real executable in a child process: exit codes, one-line errors, files on disk.</summary>
public sealed class CliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gpulstm-cli-").FullName;
    private const string TinyCorpus = "the cat sat on the mat.\nthe dog sat on the log.\n";

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    /// <summary>Starts the real executable (built beside the tests) with its output redirected.</summary>
    public static Process Start(string workingDirectory, params string[] args) => Start(workingDirectory, null, args);

    /// <summary>As <see cref="Start(string, string[])"/>, with environment variables set for the child.</summary>
    public static Process Start(string workingDirectory, IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        var psi = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "gpulstm.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) psi.Environment[name] = value;
        return Process.Start(psi)!;
    }

    public static Result Run(string workingDirectory, params string[] args) => Run(workingDirectory, null, args);

    public static Result Run(string workingDirectory, IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        using var p = Start(workingDirectory, environment, args);
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(3))) { p.Kill(true); Assert.Fail("gpulstm timed out: " + string.Join(' ', args)); }
        return new Result(p.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>sample ends its output with one newline; a generated newline before it is part of the text.</summary>
    private static string WithoutFinalNewline(string stdout)
    {
        Assert.EndsWith("\n", stdout);
        return stdout[..^1];
    }

    private string Write(string name, string text)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    private static void AssertOneLineError(Result r, string expectedFragment)
    {
        Assert.NotEqual(0, r.ExitCode);
        var lines = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, "expected one line on stderr, got:\n" + r.Stderr);
        Assert.StartsWith("gpulstm: error: ", lines[0]);
        Assert.Contains(expectedFragment, lines[0]);
        Assert.DoesNotContain("   at ", r.Stderr + r.Stdout);
    }

    [Fact]
    public void TrainSavesACheckpointThenSampleReadsIt()
    {
        string corpus = Write("tiny.txt", TinyCorpus);
        string ckpt = Path.Combine(_dir, "out", "tiny.safetensors");
        Directory.CreateDirectory(Path.GetDirectoryName(ckpt)!);
        var train = Run(_dir, "train", "--mode", "last", "--corpus", corpus, "--hidden", "8", "--seq-length", "10", "--batch", "4", "--epochs", "2",
            "--sample-length", "12", "--checkpoint", ckpt, "--device", "cpu");
        Assert.True(train.ExitCode == 0, train.Stderr);
        Assert.Contains("Epoch 1/2", train.Stdout);
        Assert.Contains("Epoch 2/2", train.Stdout);
        foreach (var t in new[] { "0.5", "1.0", "1.5" }) Assert.Contains($"----- temperature {t} -----", train.Stdout);
        Assert.True(File.Exists(ckpt));
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(ckpt)!, "*.tmp-*"));

        var a = Run(_dir, "sample", "--checkpoint", ckpt, "--length", "30", "--temperature", "0.8", "--seed", "3", "--device", "cpu");
        var b = Run(_dir, "sample", "--checkpoint", ckpt, "--length", "30", "--temperature", "0.8", "--seed", "3", "--device", "cpu");
        Assert.True(a.ExitCode == 0, a.Stderr);
        Assert.StartsWith("the cat sa", a.Stdout); // the default prime: the corpus's first seq_length chars
        Assert.Equal(10 + 30, WithoutFinalNewline(a.Stdout).Length);
        Assert.Equal(a.Stdout, b.Stdout);
        var primed = Run(_dir, "sample", "--checkpoint", ckpt, "--prime", "the dog", "--length", "5", "--device", "cpu");
        Assert.StartsWith("the dog", primed.Stdout);
        var stateful = Run(_dir, "sample", "--checkpoint", ckpt, "--prime", "the dog", "--length", "25", "--mode", "state", "--device", "cpu");
        Assert.True(stateful.ExitCode == 0, stateful.Stderr);
        Assert.Equal(7 + 25, WithoutFinalNewline(stateful.Stdout).Length);
    }

    [Fact]
    public void BadTrainingInputIsOneLineAndHarmsNothing()
    {
        string ckpt = Write("keep.safetensors", "existing bytes");
        string[] common = { "--checkpoint", ckpt, "--device", "cpu", "--epochs", "1", "--hidden", "4" };
        AssertOneLineError(Run(_dir, ["train", "--corpus", Path.Combine(_dir, "missing.txt"), .. common]), "not found");
        AssertOneLineError(Run(_dir, ["train", "--mode", "last", "--corpus", Write("short.txt", "too short"), .. common]), "at least seq_length + 1 = 51");
        File.WriteAllBytes(Path.Combine(_dir, "latin1.txt"), new byte[] { 0x63, 0x61, 0x66, 0xE9, 0x0A });
        AssertOneLineError(Run(_dir, ["train", "--corpus", Path.Combine(_dir, "latin1.txt"), .. common]), "not valid UTF-8");
        AssertOneLineError(Run(_dir, ["train", "--hidden", "0", "--checkpoint", ckpt]), "--hidden must be a positive integer");
        AssertOneLineError(Run(_dir, ["train", "--temperatures", "0", "--checkpoint", ckpt]), "--temperatures must be a positive number, got 0");
        AssertOneLineError(Run(_dir, ["train", "--device", "tpu", "--checkpoint", ckpt]), "unknown device 'tpu'; available: auto");
        Assert.Equal("existing bytes", File.ReadAllText(ckpt));
    }

    [Fact]
    public void BadSamplingInputIsOneLine()
    {
        string ckpt = Path.Combine(_dir, "m.safetensors");
        var train = Run(_dir, "train", "--mode", "last", "--corpus", Write("tiny.txt", TinyCorpus), "--hidden", "4", "--seq-length", "8", "--epochs", "1",
            "--sample-length", "0", "--checkpoint", ckpt, "--device", "cpu");
        Assert.True(train.ExitCode == 0, train.Stderr);
        AssertOneLineError(Run(_dir, "sample", "--checkpoint", ckpt, "--prime", "the zebra"), "'z' (U+007A), which is not in the model's vocabulary");
        AssertOneLineError(Run(_dir, "sample", "--checkpoint", ckpt, "--temperature", "0"), "--temperature must be a positive number, got 0");
        AssertOneLineError(Run(_dir, "sample", "--checkpoint", ckpt, "--temperature", "-1"), "got -1");
        AssertOneLineError(Run(_dir, "sample", "--checkpoint", ckpt, "--temperature", "NaN"), "got NaN");
        AssertOneLineError(Run(_dir, "sample", "--checkpoint", Path.Combine(_dir, "nope.safetensors")), "not found");
        var bytes = File.ReadAllBytes(ckpt);
        string cut = Path.Combine(_dir, "cut.safetensors");
        File.WriteAllBytes(cut, bytes[..(bytes.Length / 2)]);
        AssertOneLineError(Run(_dir, "sample", "--checkpoint", cut), "truncated");
        File.WriteAllText(cut, "not a checkpoint at all");
        AssertOneLineError(Run(_dir, "sample", "--checkpoint", cut), "checkpoint");
    }

    [Fact]
    public void DevicesListsTheCpu()
    {
        var r = Run(_dir, "devices");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("cpu", r.Stdout);
        Assert.Contains("warp", r.Stdout);
    }

    /// <summary>
    /// The host set's ISA is picked once at start-up and named in the device list and in bench's RESULT JSON:
    /// GPULSTM_ISA asks for a lower one, and .NET's own switch (DOTNET_EnableAVX512=0) turns AVX-512 off for the
    /// whole runtime; either gives the AVX2 kernels on a machine that has AVX2, and the scalar request the scalar ones.
    /// </summary>
    [Theory]
    [InlineData("GPULSTM_ISA", "avx2", "avx2")]
    [InlineData("DOTNET_EnableAVX512", "0", "avx2")]
    [InlineData("GPULSTM_ISA", "scalar", "scalar")]
    public void TheIsaCanBeForcedAndIsNamed(string variable, string value, string expected)
    {
        var best = GpuLstm.Runtime.Compute.Host.HostGemm.BestIsa;
        if (expected == "avx2" && best < GpuLstm.Runtime.Compute.Host.HostIsa.Avx2) expected = "scalar";
        var environment = new Dictionary<string, string> { [variable] = value };
        var devices = Run(_dir, environment, "devices");
        Assert.Equal(0, devices.ExitCode);
        Assert.Contains($"host SIMD kernels ({(expected == "avx2" ? "AVX2" : "scalar")})", devices.Stdout);
        var bench = Run(_dir, environment, "bench", "--config", "custom", "--V", "5", "--H", "8", "--L", "1", "--T", "4", "--B", "2",
            "--device", "cpu", "--warmup", "0", "--steps", "1", "--sample-chars", "10", "--sample-reps", "1");
        Assert.True(bench.ExitCode == 0, bench.Stderr);
        Assert.Contains($"\"isa\":\"{expected}\"", bench.Stdout);
        Assert.Contains("GB/s", bench.Stdout);
    }
}
