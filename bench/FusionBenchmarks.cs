using BenchmarkDotNet.Attributes;
using GpuLstm.Kernels;
using GpuLstm.Runtime.Compute;
using GpuLstm.Runtime.Models;
using GpuLstm.Runtime.Models.Cells;
using ILGPU;
using ILGPU.Runtime;

namespace GpuLstm.Bench;

/// <summary>
/// Fused kernels against the same work as separate element-wise launches, on ILGPU's CPU accelerator
/// (where each launch costs ~0.1 ms, as a kernel launch costs ~5 µs on a GPU): the LSTM cell update at the
/// seed configuration (B 16, H 128), and Adam over the seed model's 83k parameters in 5 tensors.
/// </summary>
[Config(typeof(ShortRunConfig))]
public class FusionBenchmarks : IWorkPerCall
{
    private const int B = 16, H = 128;
    private ComputeDevice _device = null!;
    private Accelerator _acc = null!;
    private MemoryBuffer1D<float, Stride1D.Dense> _gates = null!, _pre = null!, _cPrev = null!, _c = null!, _h = null!;
    private MemoryBuffer1D<float, Stride1D.Dense>[] _tmp = null!;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, int, int> _sigmoidGate = null!, _tanhGate = null!;
    private Action<Index1D, ArrayView<float>, ArrayView<float>> _tanh = null!;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>> _mul = null!, _mulAdd = null!;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, float, int> _moment = null!;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, float> _adamUpdate = null!;
    private ParameterSet _params = null!;
    private MemoryBuffer1D<float, Stride1D.Dense> _m = null!, _v = null!;

    public string WorkUnit => "GB/s";

    /// <summary>The minimum bytes each op must move: cell 4H in, 4H out, c_prev in, c and h out per row; Adam p, g, m, v in and p, m, v out.</summary>
    public double WorkPerCall(string method) => method.Contains("Cell")
        ? (4 * H + 4 * H + 3 * H) * B * 4.0
        : 7.0 * 4 * ParameterCount();

    private int ParameterCount() => 27 * 512 + 128 * 512 + 512 + 128 * 27 + 27;

    [GlobalSetup]
    public void Setup()
    {
        _device = ComputeDevice.Open("ilgpu-cpu");
        _acc = _device.Accelerator;
        var rng = new Random(3);
        MemoryBuffer1D<float, Stride1D.Dense> Random(int n)
        {
            var b = _acc.Allocate1D<float>(n);
            b.CopyFromCPU(Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray());
            return b;
        }
        _pre = Random(B * 4 * H); _gates = Random(B * 4 * H); _cPrev = Random(B * H); _c = Random(B * H); _h = Random(B * H);
        _tmp = Enumerable.Range(0, 5).Select(_ => Random(B * H)).ToArray();
        _sigmoidGate = _acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int>(UnfusedKernels.SigmoidGate);
        _tanhGate = _acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int>(UnfusedKernels.TanhGate);
        _tanh = _acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>>(UnfusedKernels.Tanh);
        _mul = _acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>>(UnfusedKernels.Multiply);
        _mulAdd = _acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>>(UnfusedKernels.MultiplyAdd);
        _moment = _acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, float, int>(UnfusedKernels.Moment);
        _adamUpdate = _acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, float>(UnfusedKernels.AdamUpdate);

        _params = new ParameterSet();
        _params.Add("lstm.input_weights", 27, 512); _params.Add("lstm.recurrent_weights", 128, 512); _params.Add("lstm.bias", 512);
        _params.Add("dense.weights", 128, 27); _params.Add("dense.bias", 27);
        _params.Allocate(_acc);
        _m = Random(_params.Count); _v = Random(_params.Count);
        _v.MemSetToZero();
        _acc.Synchronize();
    }

    [Benchmark(Baseline = true, Description = "LSTM cell forward, fused (1 launch)")]
    public void CellFused()
    {
        _pre.View.CopyTo(_gates.View); // the fused kernel activates in place; start from the same inputs each time
        _device.Kernels.CellForward(RecurrentCell.Lstm, new CellStep { Batch = B, Hidden = H, Gates = _gates.View, PrevC = _cPrev.View, C = _c.View, H = _h.View });
        _acc.Synchronize();
    }

    [Benchmark(Description = "LSTM cell forward, unfused (8 element-wise launches)")]
    public void CellUnfused()
    {
        _pre.View.CopyTo(_gates.View);
        int n = B * H;
        _sigmoidGate(n, _gates.View, _tmp[0].View, H, 0); // i
        _sigmoidGate(n, _gates.View, _tmp[1].View, H, 1); // f
        _tanhGate(n, _gates.View, _tmp[2].View, H, 2);    // g
        _sigmoidGate(n, _gates.View, _tmp[3].View, H, 3); // o
        _mul(n, _tmp[1].View, _cPrev.View, _c.View);      // c = f·c_prev
        _mulAdd(n, _tmp[0].View, _tmp[2].View, _c.View);  // c += i·g
        _tanh(n, _c.View, _tmp[4].View);                  // tanh c
        _mul(n, _tmp[3].View, _tmp[4].View, _h.View);     // h = o·tanh c
        _acc.Synchronize();
    }

    [Benchmark(Description = "Adam, fused (1 launch over the flat parameter buffer)")]
    public void AdamFused()
    {
        _device.Kernels.AdamStep(_params.Values, _params.Grads, _m.View, _v.View, new AdamStepArgs(1e-3f, 0.9f, 0.999f, 1e-7f, 1f));
        _acc.Synchronize();
    }

    [Benchmark(Description = "Adam, unfused (3 launches per tensor, 5 tensors)")]
    public void AdamUnfused()
    {
        foreach (var t in _params.Tensors)
        {
            var m = _m.View.SubView(t.Offset, t.Length);
            var v = _v.View.SubView(t.Offset, t.Length);
            _moment(t.Length, m, _params.Grad(t), 0.9f, 0);
            _moment(t.Length, v, _params.Grad(t), 0.999f, 1);
            _adamUpdate(t.Length, _params.Value(t), m, v, 1e-3f, 1e-7f);
        }
        _acc.Synchronize();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var b in _tmp.Concat(new[] { _pre, _gates, _cPrev, _c, _h, _m, _v })) b.Dispose();
        _params.Dispose();
        _device.Dispose();
    }
}
