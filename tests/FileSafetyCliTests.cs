using System.Diagnostics;
using Xunit;

namespace GpuLstm.Tests;

/// <summary>Valid inputs for the file-safety cases: a corpus, a series CSV and a forecaster trained on it.</summary>
public sealed class FileSafetyInputs : IDisposable
{
    public string Dir { get; } = Directory.CreateTempSubdirectory("gpulstm-inputs-").FullName;
    public string Corpus => Path.Combine(Dir, "corpus.txt");
    public string Series => Path.Combine(Dir, "series.csv");
    public string Forecaster => Path.Combine(Dir, "forecaster.safetensors");
    public string TextModel => Path.Combine(Dir, "text.safetensors");

    public FileSafetyInputs()
    {
        File.WriteAllText(Corpus, string.Concat(Enumerable.Repeat(BadInputFiles.Tiny, 4)));
        File.WriteAllText(Series, "month,value\n" + string.Concat(Enumerable.Range(0, 40).Select(i =>
            $"{2000 + i / 12}-{i % 12 + 1:00},{100 + 10 * Math.Sin(i * Math.PI / 6) + i}\n")));
        var f = CliTests.Run(Dir, "forecast", "train", "--csv", Series, "--column", "value", "--window", "4", "--hidden", "4", "--epochs", "2",
            "--device", "cpu", "--checkpoint", Forecaster);
        if (f.ExitCode != 0) throw new InvalidOperationException("could not train the forecaster: " + f.Stderr);
        var t = CliTests.Run(Dir, "train", "--corpus", Corpus, "--hidden", "8", "--seq-length", "8", "--batch", "4", "--max-steps", "20",
            "--sample-length", "0", "--metrics", "none", "--plot", "none", "--device", "cpu", "--checkpoint", TextModel);
        if (t.ExitCode != 0) throw new InvalidOperationException("could not train the text model: " + t.Stderr);
    }

    public void Dispose() => Directory.Delete(Dir, recursive: true);
}

/// <summary>
/// No command may write over a file it reads or another file it writes, however the two paths are spelled:
/// every command, every pair of its file options (an output with an input, or two outputs), and six
/// spellings of the second path (the same, absolute, ./, through "..", a symbolic link, a hard link). Each
/// case is refused with one line and exit 1, and the directory is unchanged, byte for byte.
/// </summary>
public sealed class FileSafetyCliTests(FileSafetyInputs inputs) : IClassFixture<FileSafetyInputs>
{
    private enum Kind { Corpus, Series, Forecaster, Output }

    private sealed record FileOption(string Name, Kind Kind, string Extension);

    private sealed record CommandFiles(string[] Command, FileOption[] Files, string[] Options);

    private static readonly CommandFiles[] Commands =
    {
        new(["train"], [new("--corpus", Kind.Corpus, ".txt"), new("--checkpoint", Kind.Output, ".safetensors"), new("--metrics", Kind.Output, ".csv"),
            new("--plot", Kind.Output, ".png")], ["--mode", "last", "--hidden", "4", "--seq-length", "8", "--epochs", "1", "--sample-length", "0", "--device", "cpu"]),
        new(["forecast", "train"], [new("--csv", Kind.Series, ".csv"), new("--checkpoint", Kind.Output, ".safetensors")],
            ["--column", "value", "--window", "4", "--hidden", "4", "--epochs", "1", "--device", "cpu"]),
        new(["forecast", "predict"], [new("--checkpoint", Kind.Forecaster, ".safetensors"), new("--output", Kind.Output, ".csv"), new("--plot", Kind.Output, ".png")],
            ["--steps", "3", "--device", "cpu"]),
    };

    private static readonly string[] Spellings = { "same", "absolute", "dot-slash", "dot-dot", "symlink", "hardlink" };

    public static TheoryData<string, string, string, string> Pairs()
    {
        var data = new TheoryData<string, string, string, string>();
        foreach (var c in Commands)
            for (int i = 0; i < c.Files.Length; i++)
                for (int j = 0; j < c.Files.Length; j++)
                {
                    if (i == j || (c.Files[i].Kind != Kind.Output && c.Files[j].Kind != Kind.Output)) continue;
                    // Each unordered pair once, with the input (if any) spelled plainly and the output spelled every way;
                    // for two outputs, the later one spelled every way.
                    bool iIsInput = c.Files[i].Kind != Kind.Output;
                    if (!iIsInput && (c.Files[j].Kind != Kind.Output || j < i)) continue;
                    foreach (var spelling in Spellings) data.Add(string.Join(' ', c.Command), c.Files[i].Name, c.Files[j].Name, spelling);
                }
        return data;
    }

    [Theory]
    [MemberData(nameof(Pairs))]
    public void TwoFileOptionsNamingOneFileAreRefusedAndNothingChanges(string command, string first, string second, string spelling)
    {
        var c = Commands.Single(x => string.Join(' ', x.Command) == command);
        var a = c.Files.Single(f => f.Name == first);
        var b = c.Files.Single(f => f.Name == second);
        string dir = Directory.CreateTempSubdirectory("gpulstm-same-").FullName;
        try
        {
            Directory.CreateDirectory(Path.Combine(dir, "sub"));
            // The shared file: a valid input when one of the two reads it, else an earlier output.
            var content = a.Kind != Kind.Output ? a.Kind : b.Kind;
            string shared = Path.Combine(dir, "shared" + a.Extension);
            WriteContent(shared, content);
            var args = new List<string>(c.Command);
            foreach (var f in c.Files)
            {
                args.Add(f.Name);
                if (f == a) args.Add("shared" + a.Extension);
                else if (f == b) args.Add(Spell(dir, "shared" + a.Extension, spelling));
                else if (f.Kind == Kind.Output) args.Add("other" + f.Extension);
                else
                {
                    string own = Path.Combine(dir, "own" + f.Extension);
                    WriteContent(own, f.Kind);
                    args.Add(own);
                }
            }
            args.AddRange(c.Options);
            var before = DirectorySnapshot.Of(dir);
            var r = CliTests.Run(dir, args.ToArray());
            Assert.True(r.ExitCode == 1, $"exit {r.ExitCode} for {string.Join(' ', args)}\n{r.Stderr}");
            var lines = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.True(lines.Length == 1, "expected one line on stderr, got:\n" + r.Stderr);
            Assert.Contains("same file", lines[0]);
            Assert.Contains(second, lines[0]);
            Assert.Equal(before, DirectorySnapshot.Of(dir));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    /// <summary>The training state is written beside the checkpoint: a corpus there is refused too, in each spelling that exists before the run.</summary>
    [Theory]
    [InlineData("same")]
    [InlineData("dot-slash")]
    [InlineData("symlink")]
    [InlineData("hardlink")]
    public void ACorpusWhereTheTrainingStateGoesIsRefused(string spelling)
    {
        string dir = Directory.CreateTempSubdirectory("gpulstm-state-").FullName;
        try
        {
            Directory.CreateDirectory(Path.Combine(dir, "sub"));
            File.Copy(inputs.Corpus, Path.Combine(dir, "m.train-state.safetensors"));
            string corpus = Spell(dir, "m.train-state.safetensors", spelling);
            var before = DirectorySnapshot.Of(dir);
            var r = CliTests.Run(dir, "train", "--corpus", corpus, "--checkpoint", "m.safetensors", "--hidden", "4", "--epochs", "1", "--device", "cpu");
            Assert.Equal(1, r.ExitCode);
            Assert.Contains("the training state file (written beside --checkpoint) 'm.train-state.safetensors' is the same file as --corpus", r.Stderr);
            Assert.Equal(before, DirectorySnapshot.Of(dir));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    private void WriteContent(string path, Kind kind)
    {
        switch (kind)
        {
            case Kind.Corpus: File.Copy(inputs.Corpus, path); break;
            case Kind.Series: File.Copy(inputs.Series, path); break;
            case Kind.Forecaster: File.Copy(inputs.Forecaster, path); break;
            default: File.WriteAllText(path, "an earlier output that a refused command must not touch"); break;
        }
    }

    /// <summary>Another way to name <paramref name="file"/> in <paramref name="dir"/> (creating the link it needs).</summary>
    private static string Spell(string dir, string file, string spelling)
    {
        switch (spelling)
        {
            case "same": return file;
            case "absolute": return Path.Combine(dir, file);
            case "dot-slash": return "./" + file;
            case "dot-dot": return "sub/../" + file;
            case "symlink":
                File.CreateSymbolicLink(Path.Combine(dir, "link-" + file), file);
                return "link-" + file;
            case "hardlink":
                using (var ln = Process.Start("ln", [Path.Combine(dir, file), Path.Combine(dir, "hard-" + file)])) ln.WaitForExit();
                return "hard-" + file;
            default: throw new ArgumentException(spelling);
        }
    }

    /// <summary>
    /// Standard input, a pipe (/dev/stdin) and a FIFO: read once, into memory, so a reader that passes over the
    /// text twice (the char corpus loader) sees it all both times; eval gives the same loss as from the file.
    /// </summary>
    [Theory]
    [InlineData("-")]
    [InlineData("/dev/stdin")]
    public async Task EvalReadsAPipeOnceAndScoresWhatAFileScores(string name)
    {
        var fromFile = CliTests.Run(inputs.Dir, "eval", "--checkpoint", inputs.TextModel, "--text", inputs.Corpus);
        Assert.True(fromFile.ExitCode == 0, fromFile.Stderr);
        var fromPipe = await RunWithInput(inputs.Dir, File.ReadAllText(inputs.Corpus), "eval", "--checkpoint", inputs.TextModel, "--text", name);
        Assert.True(fromPipe.ExitCode == 0, fromPipe.Stderr);
        Assert.Equal(Loss(fromFile.Stdout), Loss(fromPipe.Stdout));
    }

    private static string Loss(string evalOutput) => evalOutput[evalOutput.IndexOf("loss ", StringComparison.Ordinal)..].Split(' ')[1];

    [Fact]
    public async Task TrainAndForecastTrainReadTheirDataFromStandardInput()
    {
        string dir = Directory.CreateTempSubdirectory("gpulstm-stdin-").FullName;
        try
        {
            var train = await RunWithInput(dir, File.ReadAllText(inputs.Corpus), "train", "--corpus", "-", "--hidden", "4", "--seq-length", "8",
                "--batch", "4", "--max-steps", "2", "--sample-length", "0", "--device", "cpu", "--checkpoint", "s.safetensors");
            Assert.True(train.ExitCode == 0, train.Stderr);
            Assert.Contains("corpus: standard input: 192 chars", train.Stdout);
            // Resuming needs the text again: standard input is gone.
            var resume = CliTests.Run(dir, "train", "--resume", "--checkpoint", "s.safetensors", "--max-steps", "4");
            Assert.Equal(1, resume.ExitCode);
            Assert.Contains("--corpus: cannot resume: the run read its corpus from standard input; give the same text again", resume.Stderr);
            var forecast = await RunWithInput(dir, File.ReadAllText(inputs.Series), "forecast", "train", "--csv", "-", "--column", "value",
                "--window", "4", "--hidden", "4", "--epochs", "1", "--device", "cpu", "--checkpoint", "f.safetensors");
            Assert.True(forecast.ExitCode == 0, forecast.Stderr);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    /// <summary>A named FIFO that nobody writes to is an error within seconds, not a hang.</summary>
    [Fact]
    public void AFifoWithNoWriterIsRefusedWithinSeconds()
    {
        string dir = Directory.CreateTempSubdirectory("gpulstm-fifo-").FullName;
        try
        {
            using (var mk = Process.Start("mkfifo", [Path.Combine(dir, "fifo")])) mk.WaitForExit();
            var clock = Stopwatch.StartNew();
            var r = CliTests.Run(dir, "eval", "--checkpoint", inputs.TextModel, "--text", "fifo");
            // The wait is 2 s; the bound only tells a refusal from a hang, with room for a loaded 2-core machine
            // running the rest of the suite beside it (5 s was once exceeded there).
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), $"took {clock.Elapsed}");
            Assert.Equal(1, r.ExitCode);
            Assert.Contains("text file 'fifo' is a named pipe that no program opened for writing within 2 s", r.Stderr);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    /// <summary>`gpulstm sample | head -c 20`: the reader goes away, and sample stops at once with 141 (128 + SIGPIPE), printing nothing more.</summary>
    [Fact]
    public async Task SampleStopsWhenTheReaderClosesThePipe()
    {
        using var p = CliTests.Start(inputs.Dir, "sample", "--checkpoint", inputs.TextModel, "--length", "2000000000", "--mode", "window");
        var buffer = new char[20];
        int read = 0;
        while (read < buffer.Length)
        {
            int n = p.StandardOutput.Read(buffer, read, buffer.Length - read);
            Assert.True(n > 0, "sample ended early");
            read += n;
        }
        var stderr = p.StandardError.ReadToEndAsync();
        var clock = Stopwatch.StartNew();
        p.StandardOutput.BaseStream.Close();
        Assert.True(p.WaitForExit(TimeSpan.FromSeconds(10)), "sample went on after its reader left");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), $"sample took {clock.Elapsed} to stop");
        Assert.Equal(141, p.ExitCode);
        Assert.Equal("", await stderr);
    }

    /// <summary>predict streams its rows; SIGINT stops it with 130 and leaves no --output file.</summary>
    [Fact]
    public async Task PredictStreamsRowsAndAnInterruptWritesNoOutputFile()
    {
        string dir = Directory.CreateTempSubdirectory("gpulstm-stream-").FullName;
        try
        {
            using var p = CliTests.Start(dir, "forecast", "predict", "--checkpoint", inputs.Forecaster, "--steps", "2000000000", "--output", "rows.csv");
            Assert.Equal("step,label,value", p.StandardOutput.ReadLine());
            Assert.StartsWith("1,", p.StandardOutput.ReadLine());
            using (var kill = Process.Start("kill", ["-INT", p.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])) kill.WaitForExit();
            var rest = p.StandardOutput.ReadToEndAsync();
            Assert.True(p.WaitForExit(TimeSpan.FromSeconds(30)), "predict did not stop");
            Assert.Equal(130, p.ExitCode);
            Assert.Contains("interrupted by SIGINT after", p.StandardError.ReadToEnd());
            Assert.Empty(Directory.GetFileSystemEntries(dir));
            await rest;
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    /// <summary>A word model's eval says how much of the text was outside its vocabulary.</summary>
    [Fact]
    public void WordEvalReportsTheUnknownWords()
    {
        string dir = Directory.CreateTempSubdirectory("gpulstm-unk-").FullName;
        try
        {
            var train = CliTests.Run(dir, "train", "--corpus", inputs.Corpus, "--tokens", "word", "--embedding", "4", "--hidden", "4", "--seq-length", "4",
                "--batch", "2", "--val-fraction", "0.3", "--max-steps", "2", "--sample-length", "0", "--device", "cpu", "--checkpoint", "w.safetensors");
            Assert.True(train.ExitCode == 0, train.Stderr);
            File.WriteAllText(Path.Combine(dir, "new.txt"), "the cat sat on the zebra and the yak.\n");
            var r = CliTests.Run(dir, "eval", "--checkpoint", "w.safetensors", "--text", "new.txt");
            Assert.True(r.ExitCode == 0, r.Stderr);
            // 11 tokens, of which "and", "yak" and "zebra" are unknown.
            Assert.Contains("3 of the text's 11 words (27.27%) are outside the model's vocabulary", r.Stdout);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    /// <summary>A full disk or a closed descriptor on standard output is one line and exit 1, not an internal error; help and --version too.</summary>
    [Theory]
    [InlineData("sample --checkpoint \"$2\" --length 5 > /dev/full", "cannot write to standard output: no space left on device")]
    [InlineData("sample --checkpoint \"$2\" --length 5 >&-", "cannot write to standard output: it is not open")]
    [InlineData("--version > /dev/full", "cannot write to standard output: no space left on device")]
    [InlineData("train --help >&-", "cannot write to standard output: it is not open")]
    public void AnUnwritableStandardOutputIsOneLine(string command, string expected)
    {
        var psi = new ProcessStartInfo("bash", ["-c", $"\"$0\" \"$1\" {command}",
            Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet", Path.Combine(AppContext.BaseDirectory, "gpulstm.dll"), inputs.TextModel])
        {
            RedirectStandardError = true,
        };
        using var p = Process.Start(psi)!;
        string stderr = p.StandardError.ReadToEnd();
        Assert.True(p.WaitForExit(TimeSpan.FromMinutes(1)));
        Assert.Equal(1, p.ExitCode);
        Assert.Equal("gpulstm: error: " + expected + "\n", stderr);
    }

    /// <summary>
    /// Output lands where the shared file offset is: a command run between two others into one file, as
    /// `(a; gpulstm ...; b) > f` does, keeps all three outputs in order (a FileStream on descriptor 1 writes at
    /// its own offset, and the next writer overwrote what it wrote).
    /// </summary>
    [Theory]
    [InlineData("--version")]
    [InlineData("sample --checkpoint \"$2\" --length 30 --seed 3")]
    public void OutputIntoAFileSharedWithOtherWritersIsKept(string command)
    {
        string dir = Directory.CreateTempSubdirectory("gpulstm-shared-").FullName;
        try
        {
            string file = Path.Combine(dir, "out.txt");
            var psi = new ProcessStartInfo("bash", ["-c", $"(echo before; \"$0\" \"$1\" {command}; echo after) > \"$3\"",
                Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet", Path.Combine(AppContext.BaseDirectory, "gpulstm.dll"), inputs.TextModel, file]);
            using (var p = Process.Start(psi)!)
            {
                Assert.True(p.WaitForExit(TimeSpan.FromMinutes(1)));
                Assert.Equal(0, p.ExitCode);
            }
            string alone = CliTests.Run(dir, command.Replace("\"$2\"", inputs.TextModel).Split(' ')).Stdout;
            Assert.NotEmpty(alone);
            Assert.Equal("before\n" + alone + "after\n", File.ReadAllText(file));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    /// <summary>Help read by a reader that stops early ends as every command does then: exit 141, nothing on stderr.</summary>
    [Fact]
    public void HelpIntoAClosedPipeExits141Quietly()
    {
        // perl (Debian's perl-base is always there) hands the command a pipe whose reader is already closed,
        // so the first write fails whatever the timing.
        var psi = new ProcessStartInfo("perl", ["-e", "pipe(R, W) or die; close R; open(STDOUT, '>&', \\*W) or die; exec @ARGV or die",
            Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet", Path.Combine(AppContext.BaseDirectory, "gpulstm.dll"), "train", "--help"])
        {
            RedirectStandardError = true,
        };
        using var p = Process.Start(psi)!;
        string stderr = p.StandardError.ReadToEnd();
        Assert.True(p.WaitForExit(TimeSpan.FromMinutes(1)));
        Assert.Equal(141, p.ExitCode);
        Assert.Equal("", stderr);
    }

    /// <summary>--progress bar with both streams redirected says why there is no bar, and prints plain lines instead.</summary>
    [Fact]
    public void AskingForABarWithoutATerminalSaysWhyAndPrintsPlainLines()
    {
        string dir = Directory.CreateTempSubdirectory("gpulstm-bar-").FullName;
        try
        {
            var r = CliTests.Run(dir, "train", "--corpus", inputs.Corpus, "--hidden", "4", "--seq-length", "8", "--batch", "2", "--max-steps", "3",
                "--eval-every", "3", "--sample-length", "0", "--progress", "bar", "--device", "cpu");
            Assert.True(r.ExitCode == 0, r.Stderr);
            Assert.Equal("gpulstm: --progress bar needs a terminal, and both standard output and standard error are redirected; printing plain progress lines instead\n", r.Stderr);
            Assert.Contains("eval at step 3", r.Stdout);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    /// <summary>A device name whose kind has no device here says so and lists what there is.</summary>
    [Fact]
    public void AMissingCudaDeviceIsNamedAsSuch()
    {
        bool hasCuda = GpuLstm.Runtime.Compute.ComputeDevice.List().Any(d => d.Id.StartsWith("cuda:", StringComparison.Ordinal));
        if (hasCuda)
        {
            using var device = GpuLstm.Runtime.Compute.ComputeDevice.Open("cuda");
            Assert.StartsWith("cuda:0", device.Description);
            return;
        }
        var e = Assert.Throws<GpuLstmException>(() => GpuLstm.Runtime.Compute.ComputeDevice.Open("cuda"));
        Assert.StartsWith("no CUDA device was found", e.Message);
        Assert.Contains("available: auto, ", e.Message);
        Assert.Contains("cpu, ilgpu-cpu", e.Message);
    }

    private static async Task<CliTests.Result> RunWithInput(string dir, string stdin, params string[] args)
    {
        var psi = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            WorkingDirectory = dir,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "gpulstm.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.StandardInput.WriteAsync(stdin);
        p.StandardInput.Close();
        if (!p.WaitForExit(TimeSpan.FromMinutes(2))) { p.Kill(true); Assert.Fail("gpulstm timed out: " + string.Join(' ', args)); }
        return new CliTests.Result(p.ExitCode, await stdout, await stderr);
    }
}
