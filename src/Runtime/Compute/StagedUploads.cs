using System.Runtime.InteropServices;
using ILGPU;
using ILGPU.Runtime;

namespace GpuLstm.Runtime.Compute;

/// <summary>
/// Host-to-device copies that do not make the host wait: each upload is copied into a ring of page-locked
/// (pinned) host memory and enqueued as an asynchronous copy on the stream. A region of the ring is reused only
/// once the device is known to have passed the copy that read it: the kernel set raises
/// <see cref="CompletedThrough"/> when a fence it recorded has completed, or when it drains the stream. A
/// training step uploads its tokens and targets here and reads its outcome one step late, so the ring holds
/// two steps' worth and never has to wait; an upload that finds no free region drains the stream (counted).
/// </summary>
internal sealed class StagedUploads : IDisposable
{
    private const int Alignment = 16;
    private readonly Accelerator _accelerator;
    private readonly AcceleratorStream _stream;
    private readonly Action _drain;
    private PageLockedArray1D<byte> _ring;
    private long _head;                                                       // where the next region starts
    private readonly Queue<(long Start, long End, long Sequence)> _inFlight = new(); // regions not yet known to be read, oldest first

    /// <summary>Uploads enqueued so far (each has this number when it is enqueued, starting at 1).</summary>
    public long Sequence { get; private set; }

    /// <summary>Every upload numbered up to this has been read by the device.</summary>
    public long CompletedThrough { get; set; }

    /// <param name="drain">Waits for the whole stream (the kernel set's counted Synchronize).</param>
    public StagedUploads(Accelerator accelerator, AcceleratorStream stream, Action drain, long capacityBytes = 1 << 20)
    {
        _accelerator = accelerator;
        _stream = stream;
        _drain = drain;
        _ring = accelerator.AllocatePageLocked1D<byte>(capacityBytes);
    }

    public long CapacityBytes => _ring.Length;

    public void Upload<T>(ReadOnlySpan<T> source, ArrayView<T> destination) where T : unmanaged
    {
        if (source.Length == 0) return;
        if (source.Length != destination.Length) throw new ArgumentException($"upload of {source.Length} elements into a view of {destination.Length}");
        var bytes = MemoryMarshal.AsBytes(source);
        long start = Reserve(bytes.Length);
        bytes.CopyTo(_ring.Span.Slice(checked((int)start), bytes.Length));
        var staged = _ring.ArrayView.SubView(start, bytes.Length).Cast<T>();
        destination.CopyFrom(_stream, staged);
        _inFlight.Enqueue((start, start + Aligned(bytes.Length), ++Sequence));
    }

    private static long Aligned(long n) => (n + Alignment - 1) / Alignment * Alignment;

    /// <summary>The start of a free region of <paramref name="length"/> bytes: after the newest in-flight one, wrapping to 0, never over one the device may still read.</summary>
    private long Reserve(int length)
    {
        long need = Aligned(length);
        if (need > _ring.Length)
        {
            // Rare (the first step of a bigger batch): drain, and grow to hold two such uploads.
            Drain();
            _ring.Dispose();
            _ring = _accelerator.AllocatePageLocked1D<byte>(Math.Max(2 * _ring.Length, 2 * need));
        }
        Retire();
        if (Fits(_head, need)) return Take(_head, need);
        if (Fits(0, need)) return Take(0, need);
        Drain();
        return Take(0, need);
    }

    private long Take(long start, long need)
    {
        _head = start + need;
        return start;
    }

    /// <summary>True when [start, start + need) lies inside the ring and overlaps no region still in flight.</summary>
    private bool Fits(long start, long need)
    {
        if (start + need > _ring.Length) return false;
        foreach (var (s, e, _) in _inFlight)
            if (start < e && s < start + need) return false;
        return true;
    }

    private void Retire()
    {
        while (_inFlight.Count > 0 && _inFlight.Peek().Sequence <= CompletedThrough) _inFlight.Dequeue();
    }

    private void Drain()
    {
        _drain();
        CompletedThrough = Sequence;
        _inFlight.Clear();
        _head = 0;
    }

    public void Dispose() => _ring.Dispose();
}
