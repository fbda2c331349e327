using GpuLstm.Kernels;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace GpuLstm.Runtime.Compute;

/// <summary>
/// Every <see cref="GemmShape"/> as one cublasSgemm call on a CUDA accelerator, on the kernel set's stream.
/// The arguments all come from <see cref="CuBlasMapping"/> (tested on the host); this class only makes the
/// calls. A bias, which cuBLAS lacks, is one <see cref="TensorKernels.BroadcastRows"/> launch on the same
/// stream. Nothing here synchronizes: like every kernel set op, results are visible after the stream's.
/// </summary>
internal sealed class CuBlasGemm : IDisposable
{
    private readonly CuBlas _blas;
    private readonly AcceleratorStream _stream;
    private readonly Sgemm<ArrayView<float>> _sgemm;
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, int, int> _broadcastRows;

    private CuBlasGemm(CuBlas blas, AcceleratorStream stream, Accelerator accelerator)
    {
        _blas = blas;
        _stream = stream;
        _sgemm = blas.Gemm; // the float overload: alpha and beta by value, from the host
        _broadcastRows = accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int>(TensorKernels.BroadcastRows);
    }

    /// <summary>"cuBLAS 12.4.5", for device descriptions.</summary>
    public string Description { get; private set; } = "";

    /// <summary>The handle's math mode, as cuBLAS reports it (<see cref="CuBlasMathMode.DefaultMath"/>: FP32 throughout).</summary>
    public CuBlasMathMode MathMode => _blas.MathMode;

    /// <summary>
    /// cuBLAS on <paramref name="accelerator"/>, its calls issued on <paramref name="stream"/>; null when the
    /// accelerator is not CUDA or libcublas cannot be loaded or initialized, with the reason in
    /// <paramref name="description"/>. libcublas comes with the CUDA toolkit (or the nvidia-cublas packages),
    /// not with the driver, so a machine that runs CUDA kernels may still lack it.
    /// </summary>
    public static CuBlasGemm? TryCreate(Accelerator accelerator, AcceleratorStream stream, out string description)
    {
        ArgumentNullException.ThrowIfNull(accelerator);
        ArgumentNullException.ThrowIfNull(stream);
        if (accelerator is not CudaAccelerator cuda)
        {
            description = $"no cuBLAS: '{accelerator.Name}' is not a CUDA accelerator";
            return null;
        }
        if (stream is not CudaStream cudaStream || stream.Accelerator != accelerator)
            throw new ArgumentException("the stream must belong to the CUDA accelerator cuBLAS runs on", nameof(stream));

        CuBlas? blas = null;
        CuBlasGemm? gemm = null;
        try
        {
            // cuBLAS attaches its handle to the CUDA context current on this thread: make it ILGPU's, before
            // ILGPU.Algorithms probes the library (which creates a handle too).
            cuda.Bind();
            blas = new CuBlas(cuda); // the newest of libcublas.so.12, .11, .10 that loads and creates a handle
            blas.Stream = cudaStream;
            // alpha and beta go by value from the host; the plain CuBlas class never switches this mode itself.
            blas.PointerMode = CuBlasPointerMode.Host;
            // FP32 arithmetic throughout: the default math mode never lowers an SGEMM's precision (TF32 needs
            // CUBLAS_TF32_TENSOR_OP_MATH; ILGPU's other value, the deprecated TensorOpMath, would allow FP16).
            blas.MathMode = CuBlasMathMode.DefaultMath;
            // cuBLAS's default, stated: no routine may take a faster path that reduces with atomics (run-to-run
            // reproducibility; the GEMMs have no such path today, and the handle is ours alone).
            blas.AtomicsMode = CuBlasAtomicsMode.NotAllowed;
            gemm = new CuBlasGemm(blas, stream, accelerator);
            gemm.Description = description = $"cuBLAS {CuBlasMapping.FormatVersion(blas.Version)}";
            return gemm;
        }
        catch (DllNotFoundException)
        {
            // ILGPU.Algorithms throws this when no libcublas loads, and when those that load cannot create a handle.
            description = "no usable libcublas (install the CUDA toolkit's libcublas.so.12, or cublas64_12.dll on Windows)";
            return null;
        }
        catch (EntryPointNotFoundException e)
        {
            description = $"libcublas lacks a function ILGPU's cuBLAS bindings call: {e.Message}";
            return null;
        }
        catch (CuBlasException e)
        {
            description = $"cuBLAS could not be initialized: {e.Error}";
            return null;
        }
        finally
        {
            if (gemm is null) blas?.Dispose();
        }
    }

    /// <summary>
    /// c (M,N) = [c +] op(a) · op(b) [+ bias], as <see cref="IKernelSet.Gemm"/>; bias may be empty when not added.
    /// Throws <see cref="ArgumentException"/> for a shape cuBLAS cannot express or a view too short for it.
    /// </summary>
    public void Gemm(in GemmShape shape, ArrayView<float> a, ArrayView<float> b, ArrayView<float> bias, ArrayView<float> c)
    {
        var call = CuBlasMapping.Map(shape);
        var need = CuBlasMapping.RequiredLengths(shape);
        if (a.Length < need.A || b.Length < need.B || c.Length < need.C || bias.Length < need.Bias)
            throw new ArgumentException(
                $"GEMM M={shape.M} N={shape.N} K={shape.K} needs views of at least a {need.A}, b {need.B}, c {need.C}, bias {need.Bias} elements; " +
                $"got {a.Length}, {b.Length}, {c.Length}, {bias.Length}");
        int elements = shape.M * shape.N;
        if (call.Bias == CuBlasBiasStep.BroadcastBefore) _broadcastRows(_stream, elements, bias, c, shape.N, 0);
        CuBlasMapping.Invoke(call, a, b, c, _sgemm);
        if (call.Bias == CuBlasBiasStep.AddAfter) _broadcastRows(_stream, elements, bias, c, shape.N, 1);
    }

    /// <summary>Launches per <see cref="Gemm"/>: the GEMM, and the bias kernel when there is a bias.</summary>
    public static int Launches(in GemmShape shape) => shape.AddBias != 0 ? 2 : 1;

    public void Dispose() => _blas.Dispose();
}
