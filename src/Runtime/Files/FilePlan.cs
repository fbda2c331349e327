namespace GpuLstm.Runtime.Files;

/// <summary>
/// Every file a command reads and writes, checked before the command does any work. <see cref="Check"/>
/// refuses, with one line that names the files, when
/// <list type="bullet">
/// <item>a path is empty or only spaces (an unset shell variable);</item>
/// <item>an output is a directory or another non-regular file (a pipe, a device), or its directory does not exist;</item>
/// <item>two outputs are the same file, or an output is the same file as an input. Files are compared by
/// identity (device and inode), so relative and absolute spellings, "./", "..", symbolic links and hard links
/// all count;</item>
/// <item>an output's directory cannot be written: probed by creating and deleting the temporary file the
/// write will use.</item>
/// </list>
/// Nothing is created or changed by a refused plan (the probe file is removed before returning).
/// </summary>
internal sealed class FilePlan
{
    private enum Role { Input, Output, Update }

    private sealed record Entry(string Label, string Path, Role Role);

    private readonly List<Entry> _entries = new();

    /// <summary>A file the command reads. <paramref name="label"/> names it in messages (an option such as "--corpus").</summary>
    public FilePlan Input(string label, string? path) => Add(label, path, Role.Input);

    /// <summary>A file the command writes (replacing any file there).</summary>
    public FilePlan Output(string label, string? path) => Add(label, path, Role.Output);

    /// <summary>A file the command reads and then replaces (a resumed checkpoint): an output that may be the same file as itself only.</summary>
    public FilePlan Update(string label, string? path) => Add(label, path, Role.Update);

    private FilePlan Add(string label, string? path, Role role)
    {
        ArgumentNullException.ThrowIfNull(label);
        if (path is not null) _entries.Add(new Entry(label, path, role));
        return this;
    }

    /// <summary>Throws a <see cref="GpuLstmException"/> naming the first problem; see the class summary.</summary>
    public void Check()
    {
        foreach (var e in _entries)
            if (string.IsNullOrWhiteSpace(e.Path))
                throw new GpuLstmException($"{e.Label} is an empty path{(e.Path.Length > 0 ? " (only spaces)" : "")}; give a file name (is a shell variable unset?)");

        var identities = new List<(Entry Entry, string Key)>();
        foreach (var e in _entries)
        {
            if (e.Role == Role.Input && e.Path == InputSource.StandardInput) continue;
            string? key = e.Role == Role.Input ? InputKey(e) : OutputKey(e);
            if (key is not null) identities.Add((e, key));
        }
        for (int i = 0; i < identities.Count; i++)
            for (int j = i + 1; j < identities.Count; j++)
            {
                var (a, keyA) = identities[i];
                var (b, keyB) = identities[j];
                if (keyA != keyB) continue;
                if (a.Role == Role.Input && b.Role == Role.Input) continue; // reading one file twice harms nothing
                var (output, other) = a.Role == Role.Input ? (b, a) : (a, b);
                string sameAs = SameSpelling(a.Path, b.Path) ? "" : $" '{other.Path}'";
                throw other.Role == Role.Input
                    ? new GpuLstmException($"{output.Label} '{output.Path}' is the same file as {other.Label}{sameAs}, which this command reads; writing it would destroy that input. Give {output.Label} another path")
                    : new GpuLstmException($"{output.Label} '{output.Path}' and {other.Label}{sameAs} are the same file; give them different paths");
            }

        foreach (var e in _entries)
            if (e.Role != Role.Input) ProbeWritable(e);
    }

    private static bool SameSpelling(string a, string b) => a == b;

    /// <summary>An input's identity, or null when it does not exist (its reader reports that).</summary>
    private static string? InputKey(Entry e)
    {
        var status = FileStatus.Of(e.Path);
        if (!status.Exists) return null;
        return status.HasIdentity ? Identity(status) : FullPathKey(e.Path);
    }

    /// <summary>An output's identity: the existing file's, or its directory's and its name when it does not exist yet.</summary>
    private static string OutputKey(Entry e)
    {
        var status = FileStatus.Of(e.Path);
        if (status.Kind == FileKind.Directory) throw new GpuLstmException($"{e.Label} '{e.Path}' is a directory; give a file path");
        if (status.Exists && status.Kind != FileKind.Regular)
            throw new GpuLstmException($"{e.Label} '{e.Path}' is {status.Describe()}, not a regular file; outputs are written whole to a temporary file and renamed into place, so give a file path");
        string target = AtomicFile.TargetOf(e.Path);
        string directory = Path.GetDirectoryName(target) ?? target;
        var dir = FileStatus.Of(directory);
        if (dir.Kind == FileKind.Missing)
            throw new GpuLstmException($"{e.Label} '{e.Path}': the directory '{DisplayDirectory(e.Path, directory)}' does not exist");
        if (dir.Kind != FileKind.Directory)
            throw new GpuLstmException($"{e.Label} '{e.Path}': '{DisplayDirectory(e.Path, directory)}' is {dir.Describe()}, not a directory");
        if (status.Exists) return status.HasIdentity ? Identity(status) : FullPathKey(target);
        return dir.HasIdentity ? Identity(dir) + "/" + Path.GetFileName(target) : FullPathKey(target);
    }

    private static string DisplayDirectory(string path, string resolvedDirectory)
    {
        string? given = Path.GetDirectoryName(path);
        return string.IsNullOrEmpty(given) ? resolvedDirectory : given;
    }

    private static string Identity(FileStatus s) => $"{s.Device}:{s.Inode}";

    private static string FullPathKey(string path)
    {
        string full = Path.GetFullPath(path);
        return OperatingSystem.IsWindows() || OperatingSystem.IsMacOS() ? full.ToUpperInvariant() : full;
    }

    /// <summary>Creates and deletes the temporary file the write will use, so a read-only directory fails now, not after training.</summary>
    private static void ProbeWritable(Entry e)
    {
        string temp = AtomicFile.TemporaryFor(AtomicFile.TargetOf(e.Path));
        try
        {
            using (new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose)) { }
        }
        catch (Exception x) when (x is IOException or UnauthorizedAccessException)
        {
            throw new GpuLstmException($"cannot write {e.Label} '{e.Path}': {IoErrors.Describe(x)}");
        }
        finally
        {
            try { if (File.Exists(temp)) File.Delete(temp); } catch (Exception x) when (x is IOException or UnauthorizedAccessException) { }
        }
    }
}
