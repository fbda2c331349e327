using System.Runtime.InteropServices;
using System.Text;

namespace GpuLstm.Cli;

/// <summary>Standard output was closed by its reader (`gpulstm sample | head`): the command stops and exits 141.</summary>
internal sealed class OutputClosedException : Exception
{
    public OutputClosedException() : base("standard output was closed by its reader") { }
}

/// <summary>
/// Standard output that notices its reader going away. .NET's console stream pretends that writes to a
/// closed pipe succeed, so `gpulstm sample | head -c 20` would go on generating to the end. This writer
/// calls write(2) on file descriptor 1 directly (not a FileStream: on a regular file that writes with
/// pwrite at its own offset and leaves the shared one alone, so `(gpulstm sample; echo end) > f` would
/// have the echo overwrite the sample): a write that fails with EPIPE throws
/// <see cref="OutputClosedException"/> (exit 141, 128 + SIGPIPE, as Unix tools do), and a watcher thread
/// polls the descriptor so that a command between two writes learns it within 50 ms
/// (<see cref="Closed"/>). Train sets <see cref="DiscardWhenClosed"/>: a run whose log nobody reads goes on and
/// saves its checkpoint.
/// </summary>
internal static class StandardOutput
{
    private static readonly CancellationTokenSource ClosedSource = new();
    private static int _installed;

    /// <summary>Cancelled once the reader of standard output has gone.</summary>
    public static CancellationToken Closed => ClosedSource.Token;

    /// <summary>When true, output written after the reader has gone is dropped instead of throwing.</summary>
    public static bool DiscardWhenClosed { get; set; }

    /// <summary>Throws <see cref="OutputClosedException"/> if the reader has gone (unless output is discarded then).</summary>
    public static void ThrowIfClosed()
    {
        if (ClosedSource.IsCancellationRequested && !DiscardWhenClosed) throw new OutputClosedException();
    }

    /// <summary>Routes Console.Out through the pipe-aware stream and starts the watcher (Unix only).</summary>
    public static void Install()
    {
        if (OperatingSystem.IsWindows() || Interlocked.Exchange(ref _installed, 1) == 1) return;
        var stream = new PipeAwareStream();
        Console.SetOut(new StreamWriter(stream, new UTF8Encoding(false), 1 << 12) { AutoFlush = true });
        var watcher = new Thread(Watch) { IsBackground = true, Name = "stdout watcher" };
        watcher.Start();
    }

    private const short PollErr = 0x008, PollHup = 0x010, PollNval = 0x020;

    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [DllImport("libc", EntryPoint = "poll", SetLastError = true)]
    private static extern unsafe int Poll(PollFd* fds, nuint count, int timeoutMs);

    /// <summary>poll(2) on descriptor 1 with no events asked: it wakes only for POLLERR (a pipe whose reader closed), POLLHUP or POLLNVAL.</summary>
    private static unsafe void Watch()
    {
        try
        {
            while (true)
            {
                var fd = new PollFd { Fd = 1, Events = 0 };
                int rc = Poll(&fd, 1, 50);
                if (rc < 0) { Thread.Sleep(50); continue; }
                if (rc > 0 && (fd.Revents & (PollErr | PollHup | PollNval)) != 0)
                {
                    if ((fd.Revents & PollNval) != 0) return; // descriptor 1 is not open: nothing to watch
                    ClosedSource.Cancel();
                    return;
                }
            }
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { }
    }

    private const int Eintr = 4, Ebadf = 9, Epipe = 32, PollOut = 0x004;
    private static readonly int Eagain = OperatingSystem.IsLinux() ? 11 : 35; // 35 on macOS and the BSDs

    [DllImport("libc", EntryPoint = "write", SetLastError = true)]
    private static extern unsafe nint SysWrite(int fd, byte* buffer, nuint count);

    /// <summary>All of <paramref name="data"/> to descriptor 1, through short writes, EINTR and a non-blocking descriptor; other errors throw an IOException whose HResult is the errno.</summary>
    private static unsafe void WriteAll(ReadOnlySpan<byte> data)
    {
        fixed (byte* start = data)
        {
            int done = 0;
            while (done < data.Length)
            {
                nint n = SysWrite(1, start + done, (nuint)(data.Length - done));
                if (n >= 0) { done += (int)n; continue; }
                int errno = Marshal.GetLastPInvokeError();
                if (errno == Eintr) continue;
                if (errno == Eagain)
                {
                    var fd = new PollFd { Fd = 1, Events = PollOut };
                    Poll(&fd, 1, 100);
                    continue;
                }
                throw new IOException(errno == Ebadf ? "it is not open" : Marshal.GetPInvokeErrorMessage(errno), errno);
            }
        }
    }

    /// <summary>Forwards writes to descriptor 1; EPIPE becomes <see cref="OutputClosedException"/>, or silence when discarding.</summary>
    private sealed class PipeAwareStream : Stream
    {
        private bool _gone;

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            if (_gone)
            {
                if (DiscardWhenClosed) return;
                throw new OutputClosedException();
            }
            try
            {
                WriteAll(buffer);
            }
            catch (IOException e) when (e.HResult == Epipe)
            {
                _gone = true;
                ClosedSource.Cancel();
                if (!DiscardWhenClosed) throw new OutputClosedException();
            }
            catch (IOException e)
            {
                // A full disk (> /dev/full), a closed descriptor (>&-): the output is lost, and said so once.
                _gone = true;
                ClosedSource.Cancel();
                if (!DiscardWhenClosed) throw new GpuLstmException($"cannot write to standard output: {GpuLstm.Runtime.Files.IoErrors.Describe(e)}");
            }
        }

        // Every write goes straight to the descriptor: nothing is held here.
        public override void Flush() { }
    }
}
