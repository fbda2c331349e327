using System.Diagnostics;

namespace GpuLstm.Runtime.Compute.Host;

/// <summary>A unit of parallel work split into fixed parts; part p of n must not depend on scheduling.</summary>
internal interface IParallelWork
{
    void Run(int part, int parts);
}

/// <summary>
/// Persistent worker threads, one per core beyond the caller's. A call publishes the work object, runs part 0
/// itself and waits for the others: no thread-pool dispatch, no closure. Parts are fixed by index, so results
/// do not depend on which thread ran what.
/// A worker that finishes spins for <see cref="SpinMicroseconds"/> before it blocks: sampling runs a few
/// GEMVs of tens of microseconds per token, and waking a blocked thread costs 10–30 µs on a VM, as much as
/// the work. A worker that has gone to sleep is woken through its own semaphore.
/// </summary>
internal sealed class WorkerPool : IDisposable
{
    /// <summary>How long an idle worker keeps looking for the next call before it blocks.</summary>
    public const int SpinMicroseconds = 200;

    private readonly Thread[] _threads;
    private readonly SemaphoreSlim[] _wake;
    private readonly int[] _asleep;
    private IParallelWork? _work;
    private int _parts;
    private volatile int _generation;
    private int _pending;
    private volatile bool _disposed;
    private static readonly long SpinTicks = SpinMicroseconds * Stopwatch.Frequency / 1_000_000;

    public int Threads => _threads.Length + 1;

    public WorkerPool(int threads)
    {
        int workers = Math.Max(0, threads - 1);
        _threads = new Thread[workers];
        _wake = new SemaphoreSlim[workers];
        _asleep = new int[workers];
        for (int i = 0; i < workers; i++)
        {
            int part = i + 1;
            _wake[i] = new SemaphoreSlim(0);
            _threads[i] = new Thread(() => Loop(part)) { IsBackground = true, Name = $"gpulstm-host-{part}" };
            _threads[i].Start();
        }
    }

    private void Loop(int part)
    {
        int worker = part - 1, seen = 0;
        while (true)
        {
            WaitForCall(worker, seen);
            if (_disposed) return;
            seen = _generation;
            try
            {
                if (part < _parts) _work!.Run(part, _parts);
            }
            finally
            {
                Interlocked.Decrement(ref _pending);
            }
        }
    }

    /// <summary>Spins until the generation moves past <paramref name="seen"/>, then, past the spin budget, sleeps on the worker's semaphore.</summary>
    private void WaitForCall(int worker, int seen)
    {
        long deadline = Stopwatch.GetTimestamp() + SpinTicks;
        var spin = new SpinWait();
        while (_generation == seen && !_disposed)
        {
            if (Stopwatch.GetTimestamp() < deadline)
            {
                spin.SpinOnce(sleep1Threshold: -1);
                continue;
            }
            Interlocked.Exchange(ref _asleep[worker], 1); // a full fence: the caller's generation bump cannot be missed
            if (_generation != seen || _disposed)
            {
                // A call arrived while going to sleep: take the flag back, or, if the caller already took it, consume its release.
                if (Interlocked.Exchange(ref _asleep[worker], 0) == 0) _wake[worker].Wait();
                return;
            }
            _wake[worker].Wait();
            return;
        }
    }

    /// <summary>Runs parts 0 … parts−1 of <paramref name="work"/> (parts ≤ <see cref="Threads"/>) and returns when all are done.</summary>
    public void Run(IParallelWork work, int parts)
    {
        parts = Math.Clamp(parts, 1, Threads);
        if (parts == 1)
        {
            work.Run(0, 1);
            return;
        }
        _work = work;
        _parts = parts;
        Volatile.Write(ref _pending, _threads.Length);
        _generation++; // volatile write: publishes the work, the part count and the pending count
        WakeSleepers();
        work.Run(0, parts);
        var spin = new SpinWait();
        while (Volatile.Read(ref _pending) != 0) spin.SpinOnce(sleep1Threshold: -1);
        _work = null;
    }

    private void WakeSleepers()
    {
        for (int i = 0; i < _wake.Length; i++)
            if (Interlocked.Exchange(ref _asleep[i], 0) == 1) _wake[i].Release();
    }

    public void Dispose()
    {
        _disposed = true;
        _generation++;
        WakeSleepers();
        foreach (var t in _threads) t.Join();
        foreach (var s in _wake) s.Dispose();
    }
}
