using BenchmarkDotNet.Attributes;
using GpuLstm.Runtime.Compute;
using GpuLstm.Runtime.Models.Cells;
using ILGPU;
using ILGPU.Runtime;

namespace GpuLstm.Bench;

/// <summary>
/// Every cell's fused pointwise kernels, forward then backward, as one time step of training runs them (the
/// recurrent GEMMs aside), on the host SIMD set and on the ILGPU kernels on ILGPU's CPU accelerator, at the
/// seed configuration's batch and width (B 16, H 128); the LSTM is the baseline. Each call first restores the
/// inputs the kernels overwrite (the gates, activated in place, dhRec and dc), so every iteration does the
/// same work and the gradients never decay into denormals.
/// </summary>
[Config(typeof(ShortRunConfig))]
public class CellBenchmarks : IWorkPerCall
{
    private const int B = 16, H = 128;

    [Params("host", "ilgpu-cpu")]
    public string Set = "host";

    [ParamsSource(nameof(Cells))]
    public string Cell = "lstm";

    public static IEnumerable<string> Cells => RecurrentCell.All.Select(c => c.Name);

    private ComputeDevice _device = null!;
    private IKernelSet _k = null!;
    private RecurrentCell _cell = null!;
    // (B,G·H): the pre-activations to restore, the gates, the kept recurrent projection, dGates, dRecurrent.
    private MemoryBuffer1D<float, Stride1D.Dense> _pre = null!, _gates = null!, _recurrent = null!, _dGates = null!, _dRecurrent = null!;
    // (B,H) each: h_{t-1}, h_t, c_{t-1}, c_t, dhOut, dhRec and its saved start, dc and its saved start.
    private MemoryBuffer1D<float, Stride1D.Dense> _hPrev = null!, _h = null!, _cPrev = null!, _c = null!, _dhOut = null!;
    private MemoryBuffer1D<float, Stride1D.Dense> _dhRec = null!, _dhRec0 = null!, _dc = null!, _dc0 = null!;
    private CellStep _step;

    public string WorkUnit => "GB/s";

    /// <summary>
    /// The minimum bytes a step's two kernels move, per batch row: forward reads the G·H pre-activations (and the
    /// kept projection), the previous state, writes the gates and the new state; backward reads the gates, the
    /// states and dh, writes dGates (and dRecurrent) and the state gradients. Counted from the cell's shape.
    /// </summary>
    public double WorkPerCall(string method)
    {
        var cell = RecurrentCell.Parse(Cell);
        int states = cell.HasCellState ? 2 : 1, gh = cell.Gates * H, kept = cell.KeepsRecurrentProjection ? 1 : 0;
        double forward = gh * (2 + kept) + 2 * states * H;
        double backward = gh * (2 + 2 * kept) + (3 + 2 * states) * H;
        return (forward + backward) * B * sizeof(float);
    }

    [GlobalSetup]
    public void Setup()
    {
        _cell = RecurrentCell.Parse(Cell);
        _device = ComputeDevice.Open(Set == "host" ? "cpu" : Set);
        _k = _device.Kernels;
        var acc = _device.Accelerator;
        var rng = new Random(3);
        MemoryBuffer1D<float, Stride1D.Dense> Random(int n, double scale = 1)
        {
            var b = acc.Allocate1D<float>(n);
            b.CopyFromCPU(Enumerable.Range(0, n).Select(_ => (float)((rng.NextDouble() * 2 - 1) * scale)).ToArray());
            return b;
        }
        int gh = _cell.Gates * H;
        _pre = Random(B * gh, 2); _gates = Random(B * gh); _recurrent = Random(B * gh, 2); _dGates = Random(B * gh); _dRecurrent = Random(B * gh);
        _hPrev = Random(B * H); _h = Random(B * H); _cPrev = Random(B * H); _c = Random(B * H); _dhOut = Random(B * H);
        _dhRec0 = Random(B * H); _dhRec = Random(B * H); _dc0 = Random(B * H); _dc = Random(B * H);
        bool kept = _cell.KeepsRecurrentProjection, hasC = _cell.HasCellState;
        _step = new CellStep
        {
            Batch = B, Hidden = H, Gates = _gates.View, Recurrent = kept ? _recurrent.View : default,
            PrevH = _hPrev.View, PrevC = hasC ? _cPrev.View : default, H = _h.View, C = hasC ? _c.View : default,
            DhOut = _dhOut.View, HasDhOut = true, DhRec = _dhRec.View, Dc = hasC ? _dc.View : default,
            DGates = _dGates.View, DRecurrent = kept ? _dRecurrent.View : default,
        };
        acc.Synchronize();
    }

    [Benchmark(Description = "cell forward + backward, fused (2 launches)")]
    public void Step()
    {
        _pre.View.CopyTo(_gates.View);
        _dhRec0.View.CopyTo(_dhRec.View);
        _dc0.View.CopyTo(_dc.View);
        _k.CellForward(_cell, _step);
        _k.CellBackward(_cell, _step);
        _k.Synchronize();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var b in new[] { _pre, _gates, _recurrent, _dGates, _dRecurrent, _hPrev, _h, _cPrev, _c, _dhOut, _dhRec, _dhRec0, _dc, _dc0 })
            b.Dispose();
        _device.Dispose();
    }
}
