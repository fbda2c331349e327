using System.Diagnostics;
using GpuLstm.Runtime;
using GpuLstm.Runtime.Files;
using Xunit;

namespace GpuLstm.Tests;

/// <summary>The file layer in process: identities, the output plan, staged writes that fail late, and inputs that are not regular files.</summary>
public sealed class FilesTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gpulstm-files-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, string text = "content")
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    private static void Run(string program, params string[] args)
    {
        using var p = Process.Start(program, args);
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
    }

    [Fact]
    public void StatGivesKindsAndOneIdentityForEveryNameOfAFile()
    {
        string file = Write("a.txt");
        Run("ln", file, Path.Combine(_dir, "hard.txt"));
        File.CreateSymbolicLink(Path.Combine(_dir, "soft.txt"), "a.txt");
        var a = FileStatus.Of(file);
        Assert.Equal(FileKind.Regular, a.Kind);
        Assert.True(a.HasIdentity);
        foreach (var other in new[] { "hard.txt", "soft.txt", "./a.txt", "sub/../a.txt" })
        {
            Directory.CreateDirectory(Path.Combine(_dir, "sub"));
            var s = FileStatus.Of(Path.Combine(_dir, other));
            Assert.Equal((a.Device, a.Inode), (s.Device, s.Inode));
        }
        Assert.NotEqual(a.Inode, FileStatus.Of(Write("b.txt")).Inode);
        Assert.Equal(FileKind.Directory, FileStatus.Of(_dir).Kind);
        Assert.Equal(FileKind.Missing, FileStatus.Of(Path.Combine(_dir, "missing")).Kind);
        Assert.Equal(FileKind.Missing, FileStatus.Of(Path.Combine(file, "below-a-file")).Kind);
        Assert.Equal(FileKind.CharacterDevice, FileStatus.Of("/dev/null").Kind);
        Run("mkfifo", Path.Combine(_dir, "fifo"));
        Assert.Equal(FileKind.Pipe, FileStatus.Of(Path.Combine(_dir, "fifo")).Kind);
        // The inode agrees with the one `stat` prints.
        var psi = new ProcessStartInfo("stat", ["-c", "%i", file]) { RedirectStandardOutput = true };
        using var stat = Process.Start(psi)!;
        Assert.Equal(stat.StandardOutput.ReadToEnd().Trim(), a.Inode.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public void APlanRefusesEachKindOfBadOutputAndCreatesNothing()
    {
        string input = Write("in.txt");
        Write("old.csv", "an earlier output");
        Directory.CreateDirectory(Path.Combine(_dir, "adir"));
        string Refusal(Action<FilePlan> build)
        {
            var plan = new FilePlan();
            build(plan);
            var before = DirectorySnapshot.Of(_dir);
            var e = Assert.Throws<GpuLstmException>(plan.Check);
            Assert.Equal(before, DirectorySnapshot.Of(_dir));
            return e.Message;
        }
        string P(string name) => Path.Combine(_dir, name);
        Assert.Contains($"--out '{input}' is the same file as --in", Refusal(p => p.Input("--in", input).Output("--out", P("in.txt"))));
        Assert.Contains($"--a '{P("x.csv")}' and --b are the same file", Refusal(p => p.Output("--a", P("x.csv")).Output("--b", P("x.csv"))));
        Assert.Contains("and --b '" + P("./x.csv") + "' are the same file", Refusal(p => p.Output("--a", P("x.csv")).Output("--b", P("./x.csv"))));
        Assert.Contains("is a directory", Refusal(p => p.Output("--out", P("adir"))));
        Assert.Contains("the directory", Refusal(p => p.Output("--out", P("nodir/x.csv"))));
        Assert.Contains("is a character device, not a regular file", Refusal(p => p.Output("--out", "/dev/null")));
        Assert.Contains("--out is an empty path", Refusal(p => p.Output("--out", "")));
        Assert.Contains("--in is an empty path (only spaces)", Refusal(p => p.Input("--in", "   ")));
        // The write probe: a name too long for the file system fails now, not after the work.
        Assert.Contains("cannot write --out", Refusal(p => p.Output("--out", P(new string('n', 250)))));
        // An update may be the same file as itself, and two inputs may be one file.
        new FilePlan().Update("--ck", P("old.csv")).Input("--in", input).Input("--again", input).Output("--out", P("new.csv")).Check();
        Assert.Contains("same file", Refusal(p => p.Update("--ck", P("old.csv")).Output("--out", P("old.csv"))));
        Assert.False(File.Exists(P("new.csv")));
    }

    [Fact]
    public void ATransactionThatFailsLateChangesNoFileAndLeavesNoTemporaries()
    {
        string a = Write("a.bin", "old a"), b = Write("b.bin", "old b");
        using (var files = new FileTransaction())
        {
            files.Stage(a, "first", s => s.Write("new a"u8));
            var e = Assert.Throws<GpuLstmException>(() => files.Stage(b, "second", s =>
            {
                s.Write("half of b"u8);
                throw new IOException("No space left on device : '" + b + "'");
            }));
            Assert.Equal($"cannot write second '{b}': no space left on device; no file was changed", e.Message);
        }
        Assert.Equal("old a", File.ReadAllText(a));
        Assert.Equal("old b", File.ReadAllText(b));
        Assert.Equal(2, Directory.GetFiles(_dir).Length);

        // Disposed without a commit: nothing changes either.
        using (var files = new FileTransaction()) files.Stage(a, "first", s => s.Write("newer a"u8));
        Assert.Equal("old a", File.ReadAllText(a));
        Assert.Equal(2, Directory.GetFiles(_dir).Length);

        using (var files = new FileTransaction())
        {
            files.Stage(a, "first", s => s.Write("new a"u8));
            files.Stage(Path.Combine(_dir, "c.bin"), "third", s => s.Write("new c"u8));
            files.Commit();
        }
        Assert.Equal("new a", File.ReadAllText(a));
        Assert.Equal("new c", File.ReadAllText(Path.Combine(_dir, "c.bin")));
        Assert.Empty(Directory.GetFiles(_dir, "*" + AtomicFile.TemporarySuffix + "*"));
    }

    [Fact]
    public void WritingThroughASymbolicLinkUpdatesItsTarget()
    {
        Directory.CreateDirectory(Path.Combine(_dir, "runs"));
        string target = Write("runs/model.bin", "old");
        string link = Path.Combine(_dir, "model.bin");
        File.CreateSymbolicLink(link, "runs/model.bin");
        AtomicFile.WriteAllBytes(link, "model", "new"u8.ToArray());
        Assert.Equal("runs/model.bin", new FileInfo(link).LinkTarget);
        Assert.Equal("new", File.ReadAllText(target));
    }

    [Fact]
    public async Task AnInputIsCheckedAndAPipeIsReadOnceForManyPasses()
    {
        Assert.Equal("corpus file 'missing.txt' not found", Assert.Throws<GpuLstmException>(() => InputSource.Open("missing.txt", "corpus file")).Message);
        Assert.Contains("is a directory", Assert.Throws<GpuLstmException>(() => InputSource.Open(_dir, "corpus file")).Message);
        string file = Write("f.txt", "hello");
        var regular = InputSource.Open(file, "text file");
        Assert.False(regular.IsSpooled);
        Assert.Equal("hello"u8.ToArray(), regular.ReadAllBytes());

        // A FIFO with a writer: read once, then every pass sees the same bytes.
        string fifo = Path.Combine(_dir, "fifo");
        Run("mkfifo", fifo);
        var payload = new byte[3 << 20];
        new Random(7).NextBytes(payload);
        var writer = Task.Run(() => File.WriteAllBytes(fifo, payload));
        var piped = InputSource.Open(fifo, "text file");
        await writer;
        Assert.True(piped.IsSpooled);
        Assert.Equal(payload.Length, piped.Length);
        Assert.Equal(payload, piped.ReadAllBytes());
        using var again = piped.OpenRead();
        again.Seek(1 << 20, SeekOrigin.Begin);
        var middle = new byte[10];
        Assert.Equal(10, again.Read(middle));
        Assert.Equal(payload.AsSpan(1 << 20, 10).ToArray(), middle);

        // No writer: refused after the wait, not a hang.
        var clock = Stopwatch.StartNew();
        var e = Assert.Throws<GpuLstmException>(() => InputSource.Open(fifo, "text file"));
        Assert.Contains("no program opened for writing", e.Message);
        Assert.True(clock.Elapsed < InputSource.WriterTimeout + TimeSpan.FromSeconds(2));
    }
}
