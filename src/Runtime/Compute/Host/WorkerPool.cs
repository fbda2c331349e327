namespace GpuLstm.Runtime.Compute.Host;

/// <summary>A unit of parallel work split into fixed parts; part p of n must not depend on scheduling.</summary>
internal interface IParallelWork
{
    void Run(int part, int parts);
}

/// <summary>
/// Persistent worker threads, one per core beyond the caller's. A call hands every worker the same work
/// object and runs part 0 itself, so a launch costs two handshakes, not a thread-pool dispatch and a
/// closure allocation. Parts are fixed by index, so results do not depend on which thread ran what.
/// </summary>
internal sealed class WorkerPool : IDisposable
{
    private readonly Thread[] _threads;
    private readonly SemaphoreSlim[] _start;
    private readonly CountdownEvent _done;
    private IParallelWork? _work;
    private int _parts;
    private volatile bool _disposed;

    public int Threads => _threads.Length + 1;

    public WorkerPool(int threads)
    {
        int workers = Math.Max(0, threads - 1);
        _threads = new Thread[workers];
        _start = new SemaphoreSlim[workers];
        _done = new CountdownEvent(1);
        for (int i = 0; i < workers; i++)
        {
            int part = i + 1;
            _start[i] = new SemaphoreSlim(0);
            _threads[i] = new Thread(() => Loop(part)) { IsBackground = true, Name = $"gpulstm-host-{part}" };
            _threads[i].Start();
        }
    }

    private void Loop(int part)
    {
        var start = _start[part - 1];
        while (true)
        {
            start.Wait();
            if (_disposed) return;
            try
            {
                if (part < _parts) _work!.Run(part, _parts);
            }
            finally
            {
                _done.Signal();
            }
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
        _done.Reset(_threads.Length);
        foreach (var s in _start) s.Release();
        work.Run(0, parts);
        _done.Wait();
        _work = null;
    }

    public void Dispose()
    {
        _disposed = true;
        foreach (var s in _start) s.Release();
        foreach (var t in _threads) t.Join();
        foreach (var s in _start) s.Dispose();
        _done.Dispose();
    }
}
