namespace GpuLstm.Runtime.Compute.Host;

/// <summary>
/// A barrier for the few threads of one parallel region that meet once per time step: the last to arrive
/// bumps a generation counter, the others spin on it. A step's work is microseconds, so a blocking wait
/// (a futex round trip, ~10–30 µs on a VM) would cost more than the step. The spin yields the core after a
/// few rounds (SpinWait), so an oversubscribed machine still makes progress.
/// </summary>
internal sealed class SpinBarrier
{
    private int _parties = 1;
    private int _remaining = 1;
    private volatile int _generation;

    /// <summary>Sets the number of threads that meet at each <see cref="SignalAndWait"/>; call it before the region starts.</summary>
    public void Reset(int parties)
    {
        _parties = parties;
        Volatile.Write(ref _remaining, parties);
    }

    /// <summary>Returns once every party has arrived; what each wrote before arriving is visible to all after.</summary>
    public void SignalAndWait()
    {
        if (_parties == 1) return;
        int generation = _generation;
        if (Interlocked.Decrement(ref _remaining) == 0)
        {
            Volatile.Write(ref _remaining, _parties);
            _generation = generation + 1; // volatile write: releases this thread's writes and the reset count
            return;
        }
        var spin = new SpinWait();
        while (_generation == generation) spin.SpinOnce(sleep1Threshold: -1);
    }
}
