namespace GpuLstm.Runtime.Files;

/// <summary>
/// A file the command reads, opened once and checked: it exists, it is not a directory, it can be read.
/// A regular file is read from disk, as often as the reader needs (the corpus loader passes over it twice).
/// Anything else that can be read — standard input given as <c>-</c>, a pipe such as <c>/dev/stdin</c> or
/// bash's <c>&lt;(cmd)</c>, a named FIFO, a character device — is read exactly once, into memory, up to
/// <see cref="MaxSpooledBytes"/>; every pass then reads those bytes, so a second pass never sees an empty
/// pipe. A named FIFO that no writer opens within <see cref="WriterTimeout"/> is an error, not a hang.
/// </summary>
internal sealed class InputSource
{
    /// <summary>The name that means standard input.</summary>
    public const string StandardInput = "-";

    /// <summary>The most a pipe or other non-regular input may hold: it is kept in memory.</summary>
    public const long MaxSpooledBytes = 1L << 30;

    /// <summary>How long a named FIFO may wait for its writer before the command gives up.</summary>
    public static readonly TimeSpan WriterTimeout = TimeSpan.FromSeconds(2);

    private readonly SpooledBytes? _spooled;

    /// <summary>The path as the user gave it (<c>-</c> for standard input).</summary>
    public string Path { get; }

    /// <summary>What the file is to the command, for messages: "corpus file", "checkpoint".</summary>
    public string What { get; }

    /// <summary>True when the input was read into memory (standard input, a pipe, a device), false for a regular file.</summary>
    public bool IsSpooled => _spooled is not null;

    /// <summary>The input's length in bytes.</summary>
    public long Length { get; }

    /// <summary>"corpus file 'x.txt'" or "corpus file (standard input)": how messages name it.</summary>
    public string Describe() => Path == StandardInput ? $"{What} (standard input)" : $"{What} '{Path}'";

    private InputSource(string path, string what, SpooledBytes? spooled, long length)
    {
        Path = path; What = what; _spooled = spooled; Length = length;
    }

    /// <summary>
    /// Checks and opens <paramref name="path"/>; every problem is one <see cref="GpuLstmException"/> line
    /// that names <paramref name="what"/> and the path.
    /// </summary>
    public static InputSource Open(string path, string what)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(what);
        string named = $"{what} '{path}'";
        if (string.IsNullOrWhiteSpace(path)) throw new GpuLstmException($"the {what} path is empty");
        if (path == StandardInput)
        {
            using var stdin = Console.OpenStandardInput();
            var bytes = SpooledBytes.ReadAll(stdin, $"{what} (standard input)");
            return new InputSource(path, what, bytes, bytes.Length);
        }
        var status = FileStatus.Of(path);
        switch (status.Kind)
        {
            case FileKind.Missing: throw new GpuLstmException($"{named} not found");
            case FileKind.Directory: throw new GpuLstmException($"{named} is a directory");
            case FileKind.Regular:
                try
                {
                    using var probe = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1);
                    return new InputSource(path, what, null, probe.Length);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    throw new GpuLstmException($"{named} cannot be read: {IoErrors.Describe(e)}");
                }
            case FileKind.Socket:
                throw new GpuLstmException($"{named} is a socket; give a file, a pipe, or '-' for standard input");
        }
        // A pipe, a FIFO, a device: open it (a FIFO's open waits for a writer), then read it once.
        var opening = Task.Run(() => new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1));
        try
        {
            if (!opening.Wait(WriterTimeout))
                throw new GpuLstmException($"{named} is a named pipe that no program opened for writing within {WriterTimeout.TotalSeconds:0} s");
        }
        catch (AggregateException e) when (e.InnerException is IOException or UnauthorizedAccessException)
        {
            throw new GpuLstmException($"{named} cannot be read: {IoErrors.Describe(e.InnerException)}");
        }
        using var stream = opening.Result;
        var spooled = SpooledBytes.ReadAll(stream, named);
        return new InputSource(path, what, spooled, spooled.Length);
    }

    /// <summary>A new stream at the start of the input (a file opened again, or the bytes read earlier).</summary>
    public Stream OpenRead()
    {
        if (_spooled is not null) return _spooled.OpenRead();
        try
        {
            return new FileStream(Path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1 << 16, FileOptions.SequentialScan);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new GpuLstmException($"{Describe()} cannot be read: {IoErrors.Describe(e)}");
        }
    }

    /// <summary>The whole input. Regular files over 2 GiB are refused.</summary>
    public byte[] ReadAllBytes()
    {
        if (Length > Array.MaxLength) throw new GpuLstmException($"{Describe()} has {Length:N0} bytes; the limit is {Array.MaxLength:N0}");
        using var stream = OpenRead();
        var bytes = new byte[Length];
        int read = 0;
        try
        {
            while (read < bytes.Length)
            {
                int n = stream.Read(bytes, read, bytes.Length - read);
                if (n == 0) break;
                read += n;
            }
        }
        catch (IOException e) { throw new GpuLstmException($"{Describe()} cannot be read: {IoErrors.Describe(e)}"); }
        return read == bytes.Length ? bytes : bytes[..read];
    }

    /// <summary>
    /// The bytes of a non-regular input, in 1 MiB chunks: no copy of the whole on growth, no single array
    /// over the 2 GiB limit.
    /// </summary>
    private sealed class SpooledBytes
    {
        private const int ChunkSize = 1 << 20;
        private readonly List<byte[]> _chunks = new();
        public long Length { get; private set; }

        public static SpooledBytes ReadAll(Stream source, string named)
        {
            var result = new SpooledBytes();
            try
            {
                while (true)
                {
                    var chunk = new byte[ChunkSize];
                    int filled = 0;
                    while (filled < ChunkSize)
                    {
                        int n = source.Read(chunk, filled, ChunkSize - filled);
                        if (n == 0) break;
                        filled += n;
                    }
                    if (filled > 0)
                    {
                        if (result.Length + filled > MaxSpooledBytes)
                            throw new GpuLstmException($"{named} holds more than {MaxSpooledBytes >> 20:N0} MiB; input that is not a regular file is read into memory, up to that size; save it to a file first");
                        result._chunks.Add(filled == ChunkSize ? chunk : chunk[..filled]);
                        result.Length += filled;
                    }
                    if (filled < ChunkSize) break;
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new GpuLstmException($"{named} cannot be read: {IoErrors.Describe(e)}");
            }
            return result;
        }

        public Stream OpenRead() => new ChunkStream(this);

        private sealed class ChunkStream(SpooledBytes bytes) : Stream
        {
            private long _position;
            public override bool CanRead => true;
            public override bool CanSeek => true;
            public override bool CanWrite => false;
            public override long Length => bytes.Length;
            public override long Position { get => _position; set => _position = Math.Clamp(value, 0, bytes.Length); }
            public override void Flush() { }
            public override long Seek(long offset, SeekOrigin origin) => Position = origin switch
            {
                SeekOrigin.Begin => offset,
                SeekOrigin.Current => _position + offset,
                _ => bytes.Length + offset,
            };
            public override void SetLength(long value) => throw new NotSupportedException();
            public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
            public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
            public override int Read(Span<byte> buffer)
            {
                int copied = 0;
                while (copied < buffer.Length && _position < bytes.Length)
                {
                    var chunk = bytes._chunks[(int)(_position / ChunkSize)];
                    int at = (int)(_position % ChunkSize);
                    int n = Math.Min(buffer.Length - copied, chunk.Length - at);
                    chunk.AsSpan(at, n).CopyTo(buffer[copied..]);
                    copied += n;
                    _position += n;
                }
                return copied;
            }
        }
    }
}
