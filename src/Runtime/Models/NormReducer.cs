using GpuLstm.Runtime.Compute;
using ILGPU;
using ILGPU.Runtime;

namespace GpuLstm.Runtime.Models;

/// <summary>
/// The global L2 norm of a gradient buffer: the kernel set writes 256 strided partial sums of squares, and
/// the host adds them in float64 in a fixed order, so the norm is deterministic. Shared by every model.
/// </summary>
internal sealed class NormReducer : IDisposable
{
    private const int Partials = 256;
    private readonly IKernelSet _k;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _partials;
    private readonly float[] _host = new float[Partials];

    public NormReducer(IKernelSet kernels, Accelerator accelerator)
    {
        _k = kernels;
        _partials = accelerator.Allocate1D<float>(Partials);
    }

    public double Of(ArrayView<float> gradients)
    {
        _k.SumOfSquaresPartials(gradients, _partials.Flat());
        _k.Download(_partials.Flat(), _host.AsSpan());
        double sum = 0;
        foreach (float p in _host) sum += p;
        return Math.Sqrt(sum);
    }

    public void Dispose() => _partials.Dispose();
}
