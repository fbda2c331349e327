using BenchmarkDotNet.Attributes;
using GpuLstm.Runtime.Compute;
using ILGPU;
using ILGPU.Runtime;

namespace GpuLstm.Bench;

/// <summary>
/// The fused GRU cell, forward then backward, as one time step of training runs it (the recurrent GEMMs
/// aside), on the host SIMD set and on the ILGPU kernels on ILGPU's CPU accelerator, at the seed
/// configuration's batch and width (B 16, H 128); the fused LSTM cell's forward and backward beside it as
/// the baseline. Each call first restores the inputs the kernels overwrite (the gates, activated in place,
/// and dhRec), so every iteration does the same work and dhRec never decays into denormals.
/// </summary>
[Config(typeof(ShortRunConfig))]
public class GruCellBenchmarks : IWorkPerCall
{
    private const int B = 16, H = 128;

    [Params("host", "ilgpu-cpu")]
    public string Set = "host";

    private ComputeDevice _device = null!;
    private IKernelSet _k = null!;
    private Accelerator _acc = null!;
    // GRU: xproj/gates (B,3H), hproj (B,3H), dGatesInput and dGatesHidden (B,3H); LSTM: pre/gates, dGates (B,4H).
    private MemoryBuffer1D<float, Stride1D.Dense> _gruPre = null!, _gruGates = null!, _hproj = null!, _dIn = null!, _dHid = null!;
    private MemoryBuffer1D<float, Stride1D.Dense> _lstmPre = null!, _lstmGates = null!, _dGates = null!;
    // (B,H) each: h_{t-1}, h_t, c_{t-1}, c_t, dhOut, dhRec and its saved start, dc and its saved start.
    private MemoryBuffer1D<float, Stride1D.Dense> _hPrev = null!, _h = null!, _cPrev = null!, _c = null!, _dhOut = null!;
    private MemoryBuffer1D<float, Stride1D.Dense> _dhRec = null!, _dhRec0 = null!, _dc = null!, _dc0 = null!;

    public string WorkUnit => "GB/s";

    /// <summary>
    /// The minimum bytes a step's two kernels must move, per batch row. GRU forward: xproj 3H, hproj 3H, h_prev H
    /// in, gates 3H and h H out; backward: gates 3H, hproj's n block H, h_prev H, dhOut H, dhRec H in, dGatesInput
    /// 3H, dGatesHidden 3H, dhRec H out: 25H. LSTM forward 4H + H in, 4H + 2H out; backward 4H + 5H in, 4H + H out: 25H.
    /// The restoring copies are not counted.
    /// </summary>
    public double WorkPerCall(string method) => 25.0 * H * B * sizeof(float);

    [GlobalSetup]
    public void Setup()
    {
        _device = ComputeDevice.Open(Set == "host" ? "cpu" : Set);
        _k = _device.Kernels;
        _acc = _device.Accelerator;
        var rng = new Random(3);
        MemoryBuffer1D<float, Stride1D.Dense> Random(int n, double scale = 1)
        {
            var b = _acc.Allocate1D<float>(n);
            b.CopyFromCPU(Enumerable.Range(0, n).Select(_ => (float)((rng.NextDouble() * 2 - 1) * scale)).ToArray());
            return b;
        }
        _gruPre = Random(B * 3 * H, 2); _gruGates = Random(B * 3 * H); _hproj = Random(B * 3 * H, 2);
        _dIn = Random(B * 3 * H); _dHid = Random(B * 3 * H);
        _lstmPre = Random(B * 4 * H, 2); _lstmGates = Random(B * 4 * H); _dGates = Random(B * 4 * H);
        _hPrev = Random(B * H); _h = Random(B * H); _cPrev = Random(B * H); _c = Random(B * H); _dhOut = Random(B * H);
        _dhRec0 = Random(B * H); _dhRec = Random(B * H); _dc0 = Random(B * H); _dc = Random(B * H);
        _acc.Synchronize();
    }

    [Benchmark(Baseline = true, Description = "LSTM cell forward + backward, fused (2 launches)")]
    public void LstmStep()
    {
        _lstmPre.View.CopyTo(_lstmGates.View);
        _dc0.View.CopyTo(_dc.View);
        _k.LstmCellForward(B, H, _lstmGates.View, _cPrev.View, _c.View, _h.View);
        _k.LstmCellBackward(B, H, _lstmGates.View, _cPrev.View, _c.View, _dhOut.View, true, _dhRec.View, _dc.View, _dGates.View);
        _k.Synchronize();
    }

    [Benchmark(Description = "GRU cell forward + backward, fused (2 launches)")]
    public void GruStep()
    {
        _gruPre.View.CopyTo(_gruGates.View);
        _dhRec0.View.CopyTo(_dhRec.View);
        _k.GruCellForward(B, H, _gruGates.View, _hproj.View, _hPrev.View, _h.View);
        _k.GruCellBackward(B, H, _gruGates.View, _hproj.View, _hPrev.View, _dhOut.View, true, _dhRec.View, _dIn.View, _dHid.View);
        _k.Synchronize();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var b in new[] { _gruPre, _gruGates, _hproj, _dIn, _dHid, _lstmPre, _lstmGates, _dGates, _hPrev, _h, _cPrev, _c, _dhOut,
                     _dhRec, _dhRec0, _dc, _dc0 })
            b.Dispose();
        _device.Dispose();
    }
}
