namespace GpuLstm.Runtime.Files;

/// <summary>
/// Replaces one file all at once or not at all (a <see cref="FileTransaction"/> of one file): the content
/// goes to a temporary file beside the target, is flushed to disk, then renamed over the target. A crash or
/// an error mid-write leaves the old file as it was.
/// </summary>
internal static class AtomicFile
{
    /// <summary>Writes <paramref name="path"/>; a failure is one <see cref="GpuLstmException"/> line naming <paramref name="what"/>.</summary>
    public static void Write(string path, string what, Action<Stream> write)
    {
        using var transaction = new FileTransaction();
        transaction.Stage(path, what, write);
        transaction.Commit();
    }

    public static void WriteAllBytes(string path, string what, byte[] bytes) => Write(path, what, s => s.Write(bytes));

    /// <summary>The suffix of the temporary files (then a random hex string): a killed save can leave one.</summary>
    public const string TemporarySuffix = ".tmp-";

    /// <summary>
    /// Where writing <paramref name="path"/> really goes: the final target of a symbolic link (so a link to a
    /// checkpoint is updated, not replaced by a regular file), else the path itself.
    /// </summary>
    public static string TargetOf(string path)
    {
        string full = Path.GetFullPath(path);
        try
        {
            var target = new FileInfo(full).ResolveLinkTarget(returnFinalTarget: true);
            return target is null ? full : Path.GetFullPath(target.FullName);
        }
        catch (IOException) { return full; } // a link loop: the write fails later with its own message
    }

    /// <summary>A fresh temporary name beside <paramref name="target"/>.</summary>
    public static string TemporaryFor(string target) => target + TemporarySuffix + Guid.NewGuid().ToString("N");
}

/// <summary>
/// Several files replaced together: <see cref="Stage"/> writes each one's content to a temporary file beside
/// it and flushes it to disk; only when every file is staged does <see cref="Commit"/> rename them over their
/// targets, in the order staged. A failure while staging (a full disk, a lost permission) removes every
/// temporary file and leaves every existing file as it was. Disposing without committing does the same.
/// </summary>
internal sealed class FileTransaction : IDisposable
{
    private readonly List<(string Temp, string Target, string Path, string What)> _staged = new();

    /// <summary>Writes the content of <paramref name="path"/> to a temporary file now; <paramref name="what"/> names it in errors ("checkpoint").</summary>
    public void Stage(string path, string what, Action<Stream> write)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(write);
        string target = AtomicFile.TargetOf(path);
        string? directory = Path.GetDirectoryName(target);
        if (directory is not null && !Directory.Exists(directory))
        {
            Abort();
            throw new GpuLstmException($"cannot write {what} '{path}': the directory '{directory}' does not exist; no file was changed");
        }
        string temp = AtomicFile.TemporaryFor(target);
        try
        {
            using (var fs = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                _staged.Add((temp, target, path, what));
                write(fs);
                // Without this a crash after the rename could leave a correctly named file whose contents
                // never reached the disk.
                fs.Flush(flushToDisk: true);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Abort();
            throw new GpuLstmException($"cannot write {what} '{path}': {IoErrors.Describe(e)}; no file was changed");
        }
        catch
        {
            Abort();
            throw;
        }
    }

    /// <summary>Renames every staged file over its target.</summary>
    public void Commit()
    {
        for (int i = 0; i < _staged.Count; i++)
        {
            var (temp, target, path, what) = _staged[i];
            try
            {
                File.Move(temp, target, overwrite: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                _staged.RemoveRange(0, i);
                Abort();
                throw new GpuLstmException($"cannot write {what} '{path}': {IoErrors.Describe(e)}" + (i == 0 ? "; no file was changed" : ""));
            }
        }
        _staged.Clear();
    }

    /// <summary>Removes the temporary files not yet renamed.</summary>
    private void Abort()
    {
        foreach (var (temp, _, _, _) in _staged)
        {
            try { File.Delete(temp); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
        _staged.Clear();
    }

    public void Dispose() => Abort();
}
