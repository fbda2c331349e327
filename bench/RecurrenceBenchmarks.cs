using BenchmarkDotNet.Attributes;
using GpuLstm.Runtime.Compute;
using GpuLstm.Runtime.Compute.Host;
using GpuLstm.Runtime.Models.Cells;
using ILGPU;
using ILGPU.Runtime;

namespace GpuLstm.Bench;

/// <summary>The ISA of the fused recurrence's panels.</summary>
public enum PanelIsa { Avx2, Avx512 }

/// <summary>
/// An LSTM layer's whole recurrence, forward and backward, on the host: the fused region
/// (<see cref="HostRecurrence"/>, per ISA of its panels) against the step-by-step loop (a GEMM call and a cell
/// call per time step, <see cref="RecurrentStepParts"/>), at the seed (T 50, B 16, H 128) and medium
/// (T 100, B 64, H 512) shapes, on all of the machine's cores. GFLOP/s counts the recurrent products only:
/// 2·B·4H·H per step forward, the same per step but the first backward. Every call first restores its
/// inputs (forward: the input projections; backward: the saved activations, which it overwrites with their
/// gradients), a copy of T·B·4H floats that both variants pay alike.
/// </summary>
[Config(typeof(ShortRunConfig))]
public unsafe class RecurrenceBenchmarks : IWorkPerCall
{
    [Params("seed", "medium")]
    public string Shape = "seed";

    [Params(PanelIsa.Avx2, PanelIsa.Avx512)]
    public PanelIsa Isa;

    private int T => Shape == "seed" ? 50 : 100;
    private int B => Shape == "seed" ? 16 : 64;
    private int H => Shape == "seed" ? 128 : 512;

    private ComputeDevice _device = null!;
    private WorkerPool _pool = null!;
    private HostRecurrence _fused = null!;
    private MemoryBuffer1D<float, Stride1D.Dense> _inputs = null!, _gates = null!, _h = null!, _c = null!, _dhOut = null!, _dhRec = null!, _dc = null!;
    private MemoryBuffer1D<float, Stride1D.Dense> _wh = null!, _whT = null!;

    public string WorkUnit => "GFLOP/s";

    public double WorkPerCall(string method) =>
        2.0 * B * 4 * H * H * (method.Contains("Backward") ? T - 1 : T);

    [GlobalSetup]
    public void Setup()
    {
        _device = ComputeDevice.Open("cpu");
        var acc = _device.Accelerator;
        _pool = new WorkerPool(Environment.ProcessorCount);
        _fused = new HostRecurrence(_pool, wide: Isa == PanelIsa.Avx512);
        var rng = new Random(7);
        MemoryBuffer1D<float, Stride1D.Dense> Random(long n, double scale)
        {
            var b = acc.Allocate1D<float>(n);
            b.CopyFromCPU(Enumerable.Range(0, (int)n).Select(_ => (float)((rng.NextDouble() * 2 - 1) * scale)).ToArray());
            return b;
        }
        int gh = 4 * H;
        _inputs = Random((long)T * B * gh, 1);
        _gates = acc.Allocate1D<float>((long)T * B * gh);
        _h = Random((T + 1L) * B * H, 0);
        _c = Random((T + 1L) * B * H, 0);
        _dhOut = Random((long)T * B * H, 1);
        _dhRec = Random((long)B * H, 0);
        _dc = Random((long)B * H, 0);
        _wh = Random((long)H * gh, 1.0 / Math.Sqrt(H));
        _whT = acc.Allocate1D<float>((long)H * gh);
    }

    private RecurrentRun Run => new()
    {
        Steps = T, Batch = B, Hidden = H, Gates = 4, GateRows = _gates.View, HiddenSlots = _h.View, CellSlots = _c.View, StartsFromZero = true,
        OutputGradients = _dhOut.View, HasOutputGradients = true, DhRec = _dhRec.View, Dc = _dc.View,
    };

    private void Restart() => _inputs.View.CopyTo(_gates.View);

    private MemoryBuffer1D<float, Stride1D.Dense> _activations = null!;

    /// <summary>Backward's input: the activations of one forward, kept aside.</summary>
    private void RestoreActivations()
    {
        if (_activations is null)
        {
            Restart();
            RecurrentStepParts.ForwardSteps(_device.Kernels, RecurrentCell.Lstm, Run, _wh.View, default);
            _device.Kernels.Synchronize();
            _activations = _device.Accelerator.Allocate1D<float>(_gates.Length);
            _gates.View.CopyTo(_activations.View);
        }
        _activations.View.CopyTo(_gates.View);
    }

    [Benchmark(Baseline = true, Description = "LSTM recurrence forward, step by step (GEMM + cell per step)")]
    public void StepByStepForward()
    {
        Restart();
        RecurrentStepParts.ForwardSteps(_device.Kernels, RecurrentCell.Lstm, Run, _wh.View, default);
        _device.Kernels.Synchronize();
    }

    [Benchmark(Description = "LSTM recurrence forward, fused region")]
    public void FusedForward()
    {
        Restart();
        _fused.Forward(RecurrentCell.Lstm, Run, HostKernelSet.Pointer(_wh.View), null);
    }

    [Benchmark(Description = "LSTM recurrence backward, step by step")]
    public void StepByStepBackward()
    {
        RestoreActivations();
        RecurrentStepParts.BackwardSteps(_device.Kernels, RecurrentCell.Lstm, Run, _wh.View, _whT.View);
        _device.Kernels.Synchronize();
    }

    [Benchmark(Description = "LSTM recurrence backward, fused region")]
    public void FusedBackward()
    {
        RestoreActivations();
        _fused.Backward(RecurrentCell.Lstm, Run, HostKernelSet.Pointer(_wh.View));
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _fused.Dispose(); _pool.Dispose();
        foreach (var b in new[] { _inputs, _gates, _h, _c, _dhOut, _dhRec, _dc, _wh, _whT, _activations }) b?.Dispose();
        _device.Dispose();
    }
}
