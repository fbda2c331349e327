using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using GpuLstm.Kernels;
using GpuLstm.Runtime.Models.Cells;
using ILGPU;
using ILGPU.Runtime;

namespace GpuLstm.Runtime.Compute.Host;

/// <summary>
/// The kernel set for CPUs: the same contracts as <see cref="IlgpuKernelSet"/>, computed by host code directly on
/// the CPU accelerator's buffers, whose memory is host memory: no copies. The GEMMs, the fused recurrence and
/// sampling's GEMVs use the ISA picked at start-up (<see cref="HostGemm.StartupIsa"/>: AVX-512 where the CPU has
/// it, else AVX2, else scalar; <c>GPULSTM_ISA</c> asks for a lower one) and run on a persistent worker pool;
/// pointwise ops are memory-bound at LSTM sizes and run on the calling thread.
/// </summary>
internal sealed unsafe class HostKernelSet : IKernelSet
{
    private readonly WorkerPool _pool;
    private readonly HostGemm _gemm;
    private readonly HostRecurrence _recurrence;
    private readonly HostGemv _gemv;
    private readonly HostSoftmax _softmax;
    private readonly HostAdam _adam;
    private long _calls;

    /// <param name="isa">The kernels' ISA; <see cref="HostGemm.StartupIsa"/> when null. Tests force each one: Vector512
    /// code runs (slowly, in software) where the hardware lacks it.</param>
    public HostKernelSet(Accelerator accelerator, int threads = 0, HostIsa? isa = null)
    {
        if (accelerator.AcceleratorType != AcceleratorType.CPU)
            throw new ArgumentException("the host kernel set works on the CPU accelerator's host-memory buffers");
        _pool = new WorkerPool(threads > 0 ? threads : Environment.ProcessorCount);
        _gemm = new HostGemm(_pool, isa);
        _recurrence = new HostRecurrence(_pool, wide: _gemm.Isa == HostIsa.Avx512);
        _gemv = new HostGemv(_pool, wide: _gemm.Isa == HostIsa.Avx512);
        _softmax = new HostSoftmax(_pool);
        _adam = new HostAdam(_pool);
    }

    public string Name => $"host-simd ({HostGemm.IsaDisplayName(_gemm.Isa)}, {_pool.Threads} threads)";

    /// <summary>The kernels' ISA: "avx512", "avx2" or "scalar".</summary>
    public string Isa => HostGemm.IsaName(_gemm.Isa);
    public long LaunchCount => _calls;
    public long SyncCount => _syncs;
    private long _syncs;

    // Every op runs on the calling thread before it returns, so an upload is a copy and a download waits for nothing.
    public void Upload<T>(ReadOnlySpan<T> source, ArrayView<T> destination) where T : unmanaged =>
        destination.SubView(0, source.Length).CopyFromCPU(source);

    public void Download<T>(ArrayView<T> source, Span<T> destination) where T : unmanaged
    {
        _syncs++;
        source.SubView(0, destination.Length).CopyToCPU(destination);
    }

    private const int NormPartials = 256;
    private readonly float[] _normPartials = new float[NormPartials];
    private readonly StepOutcome[] _outcomes = new StepOutcome[2];
    private bool _halted;

    /// <summary>
    /// The step's end in float64 on the host: the row losses summed in order, the norm from the same 256 strided
    /// partials of squares the GPU kernels use, added in order; then Adam with scale clip/norm (computed in
    /// float64) unless the step or an earlier one diverged.
    /// </summary>
    public void FinishStep(in StepFinish step)
    {
        double lossSum = 0;
        float* losses = P(step.RowLosses);
        for (long i = 0; i < step.RowLosses.Length; i++) lossSum += losses[i];
        fixed (float* partials = _normPartials)
            SumOfSquares(P(step.Grads), step.Grads.Length, partials, NormPartials);
        _calls++;
        double squares = 0;
        foreach (float p in _normPartials) squares += p;
        double norm = Math.Sqrt(squares);
        bool diverged = !double.IsFinite(lossSum) || !double.IsFinite(norm);
        _halted |= diverged;
        _outcomes[step.Slot] = new StepOutcome(lossSum, norm, diverged, _halted);
        if (_halted) return;
        double scale = step.ClipNorm > 0 && norm > step.ClipNorm ? step.ClipNorm / norm : 1;
        var a = step.Args;
        AdamStep(step.Parameters, step.Grads, step.M, step.V, new AdamStepArgs(a.StepSize, a.Beta1, a.Beta2, a.Epsilon, (float)scale));
    }

    public StepOutcome ReadStepOutcome(int slot) => _outcomes[slot];

    public void ResetStepGuard() => _halted = false;

    private static float* P(ArrayView<float> v) => Pointer(v);

    /// <summary>A view's address: the CPU accelerator's buffers are host memory. Null for an empty view.</summary>
    internal static float* Pointer(ArrayView<float> v) => v.Length == 0 ? null : (float*)v.LoadEffectiveAddressAsPtr();
    private static int* P(ArrayView<int> v) => v.Length == 0 ? null : (int*)v.LoadEffectiveAddressAsPtr();

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Gemm(in GemmShape shape, ArrayView<float> a, ArrayView<float> b, ArrayView<float> bias, ArrayView<float> c)
    {
        _calls++;
        Product(shape, P(a), P(b), P(bias), P(c));
    }

    /// <summary>A few rows (sampling) stream B at memory speed (<see cref="HostGemv"/>); the rest go to the blocked GEMM.</summary>
    private void Product(in GemmShape shape, float* a, float* b, float* bias, float* c)
    {
        if (HostGemv.Takes(shape) && _gemm.Isa != HostIsa.Scalar) _gemv.Run(shape, a, b, bias, c);
        else _gemm.Run(shape, a, b, bias, c);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void GatherRows(ArrayView<int> ids, ArrayView<float> table, ArrayView<float> bias, ArrayView<float> output, int rows, int columns)
    {
        _calls++;
        int* id = P(ids);
        float* t = P(table), b = P(bias), o = P(output);
        for (int r = 0; r < rows; r++)
            HostMath.Add(o + (long)r * columns, t + (long)id[r] * columns, b, columns);
    }

    public bool SortsTokenRows => false;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void ScatterAddRows(ArrayView<int> ids, ArrayView<float> grads, ArrayView<float> tableGrad, int rows, int vocab, int columns,
        TokenRows sorted = default)
    {
        _calls++;
        int* id = P(ids);
        float* g = P(grads), t = P(tableGrad);
        new Span<float>(t, checked(vocab * columns)).Clear();
        // Rows in order, as the GPU kernel sums them: the same result, deterministically.
        for (int r = 0; r < rows; r++)
            HostMath.AddInPlace(t + (long)id[r] * columns, g + (long)r * columns, columns);
    }

    public void CellForward(RecurrentCell cell, in CellStep step)
    {
        _calls++;
        cell.HostForward(step);
    }

    /// <summary>
    /// The register-blocked GEMM, then the cell's vectorized pointwise code, counted as one call: unfused,
    /// because the gates of one column sit in different 16-column panels of the GEMM's output.
    /// </summary>
    public void CellStepForward(RecurrentCell cell, in CellStep step, ArrayView<float> recurrentWeights, ArrayView<float> recurrentBias)
    {
        if (step.StartsFromZero) RecurrentStepParts.ZeroPreviousState(this, cell, step);
        int gh = cell.Gates * step.Hidden;
        if (cell.KeepsRecurrentProjection)
            Product(GemmShape.NN(step.Batch, gh, step.Hidden, addBias: true), P(step.PrevH), P(recurrentWeights), P(recurrentBias), P(step.Recurrent));
        else
            Product(GemmShape.NN(step.Batch, gh, step.Hidden, accumulate: true), P(step.PrevH), P(recurrentWeights), null, P(step.Gates));
        CellForward(cell, step);
    }

    public bool FusesRecurrentSteps => false;

    public void BeginRecurrentBackward(ArrayView<float> recurrentWeights, ArrayView<float> recurrentWeightsT, int hidden, int gateWidth) =>
        Transpose(recurrentWeights, recurrentWeightsT, hidden, gateWidth);

    public void CellStepBackward(RecurrentCell cell, in CellStep step, ArrayView<float> recurrentWeights, ArrayView<float> recurrentWeightsT,
        ArrayView<float> nextGrads) => RecurrentStepParts.Backward(this, cell, step, recurrentWeightsT, nextGrads);

    public void CellBackward(RecurrentCell cell, in CellStep step)
    {
        _calls++;
        cell.HostBackward(step);
    }

    public bool RunsWholeRecurrence => true;

    /// <summary>
    /// The whole time loop in one parallel region (<see cref="HostRecurrence"/>). A single step of a few rows
    /// (sampling: T = 1, B = 1) goes step by step instead, where streaming Wh once beats packing it first.
    /// </summary>
    public void RecurrentForward(RecurrentCell cell, in RecurrentRun run, ArrayView<float> recurrentWeights, ArrayView<float> recurrentBias)
    {
        if (!FusesRun(run))
        {
            RecurrentStepParts.ForwardSteps(this, cell, run, recurrentWeights, recurrentBias);
            return;
        }
        _calls++;
        _recurrence.Forward(cell, run, P(recurrentWeights), P(recurrentBias));
    }

    /// <summary>The whole backward time loop in one parallel region; Whᵀ is packed from Wh inside it, so recurrentWeightsT goes unused.</summary>
    public void RecurrentBackward(RecurrentCell cell, in RecurrentRun run, ArrayView<float> recurrentWeights, ArrayView<float> recurrentWeightsT)
    {
        if (!FusesRun(run))
        {
            RecurrentStepParts.BackwardSteps(this, cell, run, recurrentWeights, recurrentWeightsT);
            return;
        }
        _calls++;
        _recurrence.Backward(cell, run, P(recurrentWeights));
    }

    private bool FusesRun(in RecurrentRun run) => _gemm.Isa != HostIsa.Scalar && (run.Steps > 1 || run.Batch >= 4);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void SoftmaxCrossEntropy(int rows, int vocab, ArrayView<float> logits, ArrayView<int> targets,
        ArrayView<float> dLogits, ArrayView<float> loss, float gradScale)
    {
        _calls++;
        _softmax.Run(rows, vocab, P(logits), P(targets), P(dLogits), P(loss), gradScale);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void MeanSquaredError(int rows, int columns, ArrayView<float> predictions, ArrayView<float> targets,
        ArrayView<float> dPred, ArrayView<float> loss, float gradScale)
    {
        _calls++;
        float* p = P(predictions), y = P(targets), d = P(dPred), l = P(loss);
        // The kernel's arithmetic in the kernel's order, so both sets give the same bits; element by element,
        // reading each prediction before writing its gradient, which makes dPred aliasing predictions safe.
        float invK = 1f / columns;
        float scale = 2f * gradScale * invK;
        for (int r = 0; r < rows; r++)
        {
            long start = (long)r * columns;
            float sum = 0f;
            for (int k = 0; k < columns; k++)
            {
                float diff = p[start + k] - y[start + k];
                sum += diff * diff;
                d[start + k] = scale * diff;
            }
            l[r] = sum * invK;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void GaussianNll(int rows, int horizon, ArrayView<float> predictions, ArrayView<float> targets,
        ArrayView<float> dPred, ArrayView<float> loss, float gradScale)
    {
        _calls++;
        float* p = P(predictions), y = P(targets), d = P(dPred), l = P(loss);
        // LossKernels.GaussianNll's arithmetic in its order; each step's μ and s are read before either
        // gradient is written, so dPred may alias predictions.
        float invK = 1f / horizon;
        float c = gradScale * invK;
        for (int r = 0; r < rows; r++)
        {
            long start = 2L * r * horizon, targetStart = (long)r * horizon;
            float sum = 0f;
            for (int k = 0; k < horizon; k++)
            {
                float mean = p[start + k];
                float raw = p[start + horizon + k];
                float e = MathF.Exp(-MathF.Abs(raw));
                float sigma = MathF.Max(raw, 0f) + LossKernels.Log1p(e) + LossKernels.GaussianScaleFloor;
                float sigmoid = raw >= 0f ? 1f / (1f + e) : e / (1f + e);
                float invSigma = 1f / sigma;
                float z = (y[targetStart + k] - mean) * invSigma;
                sum += MathF.Log(sigma) + 0.5f * z * z + LossKernels.HalfLogTwoPi;
                d[start + k] = -c * z * invSigma;
                d[start + horizon + k] = c * (1f - z * z) * invSigma * sigmoid;
            }
            l[r] = sum * invK;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Pinball(int rows, int horizon, int quantileCount, ArrayView<float> predictions, ArrayView<float> targets,
        ArrayView<float> quantiles, ArrayView<float> dPred, ArrayView<float> loss, float gradScale)
    {
        _calls++;
        float* p = P(predictions), y = P(targets), tau = P(quantiles), d = P(dPred), l = P(loss);
        // LossKernels.Pinball's arithmetic in its order.
        int outputs = quantileCount * horizon;
        float invN = 1f / outputs;
        float c = gradScale * invN;
        for (int r = 0; r < rows; r++)
        {
            long start = (long)r * outputs, targetStart = (long)r * horizon;
            float sum = 0f;
            for (int q = 0; q < quantileCount; q++)
            {
                float t = tau[q];
                for (int k = 0; k < horizon; k++)
                {
                    long i = start + (long)q * horizon + k;
                    float u = y[targetStart + k] - p[i];
                    bool over = u <= 0f;
                    sum += over ? (t - 1f) * u : t * u;
                    d[i] = c * (over ? 1f - t : -t);
                }
            }
            l[r] = sum * invN;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void ColumnSum(int rows, int columns, ArrayView<float> x, ArrayView<float> sum, bool accumulate)
    {
        _calls++;
        float* src = P(x), dst = P(sum);
        var acc = new Span<float>(dst, columns);
        if (!accumulate) acc.Clear();
        // Row by row, the same order for every column, as the GPU kernel sums: deterministic and vectorizable.
        for (int r = 0; r < rows; r++)
            HostMath.AddInPlace(dst, src + (long)r * columns, columns);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void AdamStep(ArrayView<float> parameters, ArrayView<float> grads, ArrayView<float> m, ArrayView<float> v, in AdamStepArgs args)
    {
        _calls++;
        _adam.Run(P(parameters), P(grads), P(m), P(v), parameters.Length, args);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void SumOfSquaresPartials(ArrayView<float> x, ArrayView<float> partials)
    {
        _calls++;
        SumOfSquares(P(x), x.Length, P(partials), (int)partials.Length);
    }

    /// <summary>
    /// partials[s] = Σ src[i]² over i ≡ s (mod stride), i ascending: the GPU kernel's strided partials, so the
    /// host reduces the same numbers either way. One sequential pass, a block of <paramref name="stride"/>
    /// elements at a time into the partials (which stay in L1), adding in each partial's order: the bits of a
    /// partial-by-partial loop without its <paramref name="stride"/> passes over memory.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void SumOfSquares(float* src, long n, float* dst, int stride)
    {
        new Span<float>(dst, stride).Clear();
        long i = 0;
        for (; i + stride <= n; i += stride)
        {
            float* block = src + i;
            int s = 0;
            if (Vector256.IsHardwareAccelerated)
                for (; s + 8 <= stride; s += 8)
                {
                    var x = Vector256.Load(block + s);
                    (Vector256.Load(dst + s) + x * x).Store(dst + s);
                }
            for (; s < stride; s++) dst[s] += block[s] * block[s];
        }
        for (int s = 0; i < n; i++, s++) dst[s] += src[i] * src[i];
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Transpose(ArrayView<float> input, ArrayView<float> output, int rows, int columns)
    {
        _calls++;
        HostMath.Transpose(P(input), P(output), rows, columns);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void DropoutForward(ArrayView<float> x, ArrayView<float> mask, ArrayView<float> y, float rate, uint key)
    {
        _calls++;
        var (threshold, scale) = Dropout.Parameters(rate);
        float* xs = P(x), m = P(mask), ys = P(y);
        int n = checked((int)x.Length);
        for (int i = 0; i < n; i++)
        {
            float keep = DropoutKernels.Keeps(key, i, threshold) ? scale : 0f;
            m[i] = keep;
            ys[i] = xs[i] * keep;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void DropoutBackward(ArrayView<float> dy, ArrayView<float> mask, ArrayView<float> dx)
    {
        _calls++;
        float* d = P(dy), m = P(mask), o = P(dx);
        int n = checked((int)dy.Length);
        for (int i = 0; i < n; i++) o[i] = d[i] * m[i];
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void CopyColumns(int rows, int columns, ArrayView<float> source, int sourceStride, int sourceOffset,
        ArrayView<float> destination, int destinationStride, int destinationOffset)
    {
        _calls++;
        float* src = P(source) + sourceOffset, dst = P(destination) + destinationOffset;
        long bytes = (long)columns * sizeof(float);
        for (int r = 0; r < rows; r++)
            Buffer.MemoryCopy(src + (long)r * sourceStride, dst + (long)r * destinationStride, bytes, bytes);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Accumulate(ArrayView<float> source, ArrayView<float> destination)
    {
        _calls++;
        if (source.Length != destination.Length) throw new ArgumentException("accumulate between views of different lengths");
        HostMath.AddInPlace(P(destination), P(source), checked((int)destination.Length));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Zero(ArrayView<float> x)
    {
        _calls++;
        new Span<float>(P(x), checked((int)x.Length)).Clear();
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Copy(ArrayView<float> source, ArrayView<float> destination)
    {
        _calls++;
        if (source.Length != destination.Length) throw new ArgumentException("copy between views of different lengths");
        new ReadOnlySpan<float>(P(source), checked((int)source.Length)).CopyTo(new Span<float>(P(destination), (int)destination.Length));
    }

    public void Synchronize() => _syncs++;

    public void Dispose()
    {
        _gemm.Dispose();
        _recurrence.Dispose();
        _pool.Dispose();
    }
}
