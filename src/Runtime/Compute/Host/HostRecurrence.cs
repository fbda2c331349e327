using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using GpuLstm.Runtime.Models.Cells;

namespace GpuLstm.Runtime.Compute.Host;

/// <summary>
/// A layer's whole recurrence on the host in one parallel region (<see cref="IKernelSet.RecurrentForward"/>,
/// <see cref="IKernelSet.RecurrentBackward"/>), instead of a GEMM call and a cell call per time step:
/// <list type="bullet">
/// <item>The hidden units are split over the threads in whole panels (16 units with AVX2, 32 with AVX-512).
/// A thread owns every gate of its units, so it runs the cell on them right after its share of the step's
/// GEMM, while the gates are still in L1/L2; the threads meet at a spin barrier once per step, since each
/// step's product reads the whole previous state (or, backward, every gate gradient of the step before).</item>
/// <item>Each thread packs its columns of Wh (forward: gate by gate, K = H) or of Whᵀ (backward: K = G·H)
/// once per call into contiguous K × panel-width blocks, which <see cref="PanelKernel"/> streams at every step.</item>
/// </list>
/// The results are bitwise those of the step-by-step path: each element is the same chain of multiply-adds
/// in k order from the same start, and the cells' host code is the same, whatever the threads or the ISA.
/// </summary>
internal sealed unsafe class HostRecurrence : IParallelWork, IDisposable
{
    private readonly WorkerPool _pool;
    private readonly SpinBarrier _barrier = new();
    private readonly bool _wide;
    private float* _panels;
    private long _panelCapacity;
    private readonly float*[] _scratch;

    // The call in flight, for the parts.
    private RecurrentCell _cell = null!;
    private RecurrentRun _run;
    private float* _weights, _bias;
    private bool _backward;
    private int _blocks;

    /// <param name="pool">The threads; each call uses up to all of them.</param>
    /// <param name="wide">AVX-512 panels (<see cref="Lanes16"/>) rather than AVX2 ones (<see cref="Lanes8"/>).</param>
    public HostRecurrence(WorkerPool pool, bool wide)
    {
        _pool = pool;
        _wide = wide;
        _scratch = new float*[pool.Threads];
        for (int i = 0; i < _scratch.Length; i++)
            _scratch[i] = (float*)NativeMemory.AlignedAlloc((nuint)(PanelKernel.ScratchLength(LaneCount) * sizeof(float)), 64);
    }

    private int LaneCount => _wide ? 16 : 8;

    /// <summary>Units per panel: two registers' width.</summary>
    public int PanelWidth => 2 * LaneCount;

    /// <summary>
    /// A time step's product below this many FLOPs runs on one thread: two threads meeting at a barrier every
    /// step pay about a microsecond each time, which a step of a few hundred thousand FLOPs does not earn back.
    /// </summary>
    public long MinParallelFlops { get; init; } = 1L << 18;

    /// <summary>Threads a run of this shape uses: at most one per panel of units, one when a step is small.</summary>
    public int PartsFor(in RecurrentRun run)
    {
        long stepFlops = 2L * run.Batch * run.Gates * run.Hidden * run.Hidden;
        int blocks = (run.Hidden + PanelWidth - 1) / PanelWidth;
        return stepFlops < MinParallelFlops ? 1 : Math.Min(_pool.Threads, blocks);
    }

    /// <summary>The forward recurrence: recurrentWeights (H,G·H), recurrentBias (G·H) for a cell that keeps its projection apart (else null).</summary>
    public void Forward(RecurrentCell cell, in RecurrentRun run, float* recurrentWeights, float* recurrentBias) =>
        Start(cell, run, recurrentWeights, recurrentBias, backward: false);

    /// <summary>The backward recurrence, reading Wh (H,G·H) directly (its transpose is packed per thread).</summary>
    public void Backward(RecurrentCell cell, in RecurrentRun run, float* recurrentWeights) =>
        Start(cell, run, recurrentWeights, null, backward: true);

    private void Start(RecurrentCell cell, in RecurrentRun run, float* weights, float* bias, bool backward)
    {
        _cell = cell; _run = run; _weights = weights; _bias = bias; _backward = backward;
        _blocks = (run.Hidden + PanelWidth - 1) / PanelWidth;
        EnsurePanels((long)_blocks * PanelWidth * run.Gates * run.Hidden);
        int parts = PartsFor(run);
        _barrier.Reset(parts);
        _pool.Run(this, parts);
        _cell = null!; _run = default;
    }

    private void EnsurePanels(long floats)
    {
        if (floats <= _panelCapacity) return;
        NativeMemory.AlignedFree(_panels);
        _panels = (float*)NativeMemory.AlignedAlloc((nuint)(floats * sizeof(float)), 64);
        _panelCapacity = floats;
    }

    void IParallelWork.Run(int part, int parts)
    {
        int b0 = (int)((long)_blocks * part / parts), b1 = (int)((long)_blocks * (part + 1) / parts);
        var range = new UnitRange(Math.Min(_run.Hidden, b0 * PanelWidth), Math.Min(_run.Hidden, b1 * PanelWidth), b1 - b0);
        // Part p's panels start after those of the parts before it: blocks × panel width × (G·H) floats each way.
        float* panels = _panels + (long)b0 * PanelWidth * _run.Gates * _run.Hidden;
        float* scratch = _scratch[part];
        if (_wide)
        {
            if (_backward) RunBackward<Lanes16>(range, panels, scratch);
            else RunForward<Lanes16>(range, panels, scratch);
        }
        else
        {
            if (_backward) RunBackward<Lanes8>(range, panels, scratch);
            else RunForward<Lanes8>(range, panels, scratch);
        }
    }

    /// <summary>Units [First, End) of H, in Blocks panels.</summary>
    private readonly record struct UnitRange(int First, int End, int Blocks);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void RunForward<TL>(UnitRange units, float* panels, float* scratch) where TL : struct, ILanes<TL>
    {
        ref readonly var run = ref _run;
        int hidden = run.Hidden, gh = run.Gates * hidden, batch = run.Batch, width = 2 * TL.Count;
        bool keeps = _cell.KeepsRecurrentProjection;
        PackForward(units, panels, width);
        if (run.StartsFromZero)
        {
            var first = run.ForwardStep(0);
            ZeroUnits(Ptr(first.PrevH), batch, hidden, units);
            if (_cell.HasCellState) ZeroUnits(Ptr(first.PrevC), batch, hidden, units);
            _barrier.SignalAndWait(); // every unit of h_0 is zero before any thread's product reads it
        }
        for (int i = 0; i < run.Steps; i++)
        {
            var step = run.ForwardStep(i);
            float* c = Ptr(keeps ? step.Recurrent : step.Gates); // (B,G·H): the kept projection gets b_hh first
            if (keeps) FillBias(c, batch, gh, hidden, units);
            float* prev = Ptr(step.PrevH);
            for (int g = 0; g < run.Gates; g++)
                for (int p = 0; p < units.Blocks; p++)
                {
                    int u = units.First + p * width;
                    PanelKernel.Multiply<TL>(batch, prev, hidden, panels + ((long)g * units.Blocks + p) * hidden * width, hidden,
                        c + g * hidden + u, gh, Math.Min(width, units.End - u), scratch);
                }
            _cell.HostForward(step, units.First, units.End);
            if (i + 1 < run.Steps) _barrier.SignalAndWait(); // h_t complete before step t+1 reads it
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void RunBackward<TL>(UnitRange units, float* panels, float* scratch) where TL : struct, ILanes<TL>
    {
        ref readonly var run = ref _run;
        int hidden = run.Hidden, gh = run.Gates * hidden, batch = run.Batch, width = 2 * TL.Count;
        bool keeps = _cell.KeepsRecurrentProjection;
        PackBackward(units, panels, width, gh);
        float* dhRec = Ptr(run.DhRec);
        for (int i = 0; i < run.Steps; i++)
        {
            var step = run.BackwardStep(i);
            if (i == 0)
            {
                // Nothing flows in from a later step: dc starts at zero, and dh at zero unless the caller wrote dL/d(final state).
                if (_cell.HasCellState) ZeroUnits(Ptr(run.Dc), batch, hidden, units);
                if (step.DhRecIsZero) ZeroUnits(dhRec, batch, hidden, units);
            }
            else
            {
                // dh (B,units) (+)= next (B,G·H) · Whᵀ (G·H,units); a kept-projection cell left the direct part in dhRec.
                if (!keeps) ZeroUnits(dhRec, batch, hidden, units);
                float* next = Ptr(run.NextGradients(i));
                for (int p = 0; p < units.Blocks; p++)
                {
                    int u = units.First + p * width;
                    PanelKernel.Multiply<TL>(batch, next, gh, panels + (long)p * gh * width, gh, dhRec + u, hidden,
                        Math.Min(width, units.End - u), scratch);
                }
            }
            _cell.HostBackward(step, units.First, units.End);
            if (i + 1 < run.Steps) _barrier.SignalAndWait(); // this step's gate gradients complete before the next product reads them
        }
    }

    /// <summary>Forward panels, gate by gate: panel (g, p)[k][j] = Wh[k, g·H + u + j] for the units u of panel p, zero past the range.</summary>
    private void PackForward(UnitRange units, float* panels, int width)
    {
        int hidden = _run.Hidden, gh = _run.Gates * hidden;
        for (int g = 0; g < _run.Gates; g++)
            for (int p = 0; p < units.Blocks; p++)
            {
                int u = units.First + p * width, count = Math.Min(width, units.End - u);
                float* panel = panels + ((long)g * units.Blocks + p) * hidden * width;
                for (int k = 0; k < hidden; k++)
                {
                    float* source = _weights + (long)k * gh + g * hidden + u;
                    float* row = panel + (long)k * width;
                    new ReadOnlySpan<float>(source, count).CopyTo(new Span<float>(row, count));
                    if (count < width) new Span<float>(row + count, width - count).Clear();
                }
            }
    }

    /// <summary>Backward panels of Whᵀ: panel p[k][j] = Wh[u + j, k] for k &lt; G·H, zero past the range.</summary>
    private void PackBackward(UnitRange units, float* panels, int width, int gh)
    {
        for (int p = 0; p < units.Blocks; p++)
        {
            int u = units.First + p * width, count = Math.Min(width, units.End - u);
            float* panel = panels + (long)p * gh * width;
            if (count < width)
                new Span<float>(panel, checked(gh * width)).Clear();
            for (int j = 0; j < count; j++)
            {
                float* source = _weights + (long)(u + j) * gh;
                for (int k = 0; k < gh; k++) panel[(long)k * width + j] = source[k];
            }
        }
    }

    private static void ZeroUnits(float* x, int batch, int hidden, UnitRange units)
    {
        for (int b = 0; b < batch; b++) new Span<float>(x + (long)b * hidden + units.First, units.End - units.First).Clear();
    }

    /// <summary>Each gate's block of the thread's units in every row of the kept projection (B,G·H) = b_hh.</summary>
    private void FillBias(float* c, int batch, int gh, int hidden, UnitRange units)
    {
        int count = units.End - units.First;
        for (int b = 0; b < batch; b++)
            for (int g = 0; g < _run.Gates; g++)
            {
                int at = g * hidden + units.First;
                new ReadOnlySpan<float>(_bias + at, count).CopyTo(new Span<float>(c + (long)b * gh + at, count));
            }
    }

    private static float* Ptr(ILGPU.ArrayView<float> view) => HostKernelSet.Pointer(view);

    public void Dispose()
    {
        NativeMemory.AlignedFree(_panels);
        _panels = null;
        foreach (var s in _scratch) NativeMemory.AlignedFree(s);
    }
}
