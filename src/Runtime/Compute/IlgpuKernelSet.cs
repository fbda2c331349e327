using GpuLstm.Kernels;
using GpuLstm.Runtime.Models.Cells;
using ILGPU;
using ILGPU.Runtime;

namespace GpuLstm.Runtime.Compute;

/// <summary>
/// The ILGPU kernels of src/Kernels, loaded once per accelerator. On ILGPU's CPU accelerator the
/// barrier-free GEMM runs (its barriers are OS-thread barriers, thousands of times slower); on CUDA and
/// OpenCL the shared-memory tiled GEMM runs. Tests force either variant.
/// </summary>
internal sealed class IlgpuKernelSet : IKernelSet
{
    private readonly Accelerator _accelerator;
    private readonly AcceleratorStream _stream;
    private readonly bool _tiled;
    private long _launches, _syncs;

    // The step's end on the device (see FinishStep): stage-1 partials, the status the guard writes and Adam
    // reads, and per outcome slot a page-locked copy of that status and the fence after it.
    private const int OutcomeSlots = 2;
    private readonly int _partialStride;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _stepPartials, _stepStatus;
    private readonly PageLockedArray1D<float>[] _outcomes = new PageLockedArray1D<float>[OutcomeSlots];
    private readonly ProfilingMarker?[] _outcomeFences = new ProfilingMarker?[OutcomeSlots];
    private readonly long[] _outcomeUploads = new long[OutcomeSlots];
    private bool _fencesWork = true;
    private readonly StagedUploads? _staged;
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int> _stepPartialsKernel;
    private readonly Action<AcceleratorStream, KernelConfig, ArrayView<float>, int, float, ArrayView<float>>? _stepGuard;
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, int, float, ArrayView<float>>? _stepGuardSerial;
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AdamStepArgs, ArrayView<float>> _guardedAdam;

    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmShape> _gemmNaive;
    private readonly Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmShape>? _gemmTiled,
        _gemmBlocked64, _gemmBlocked128;
    private readonly CuBlasGemm? _cuBlas;
    private readonly string _gemmName;
    private readonly Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, int, float>? _softmaxRows;
    private readonly Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, int, int, int>? _columnSumGrouped;
    private readonly Action<AcceleratorStream, Index1D, ArrayView<int>, ArrayView<int>, ArrayView<float>, ArrayView<float>, int>? _scatterAddSorted;
    private readonly Action<AcceleratorStream, Index1D, ArrayView<int>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int> _gatherRows;
    private readonly Action<AcceleratorStream, Index1D, ArrayView<int>, ArrayView<float>, ArrayView<float>, int, int> _scatterAddRows;
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, int, float> _softmaxCrossEntropy;
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float> _meanSquaredError;
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, int, int, int> _columnSum;
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AdamStepArgs> _adam;
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, int> _sumOfSquares;
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, int, int> _transpose;
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, uint, uint, float> _dropoutForward;
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>> _dropoutBackward;
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, int, int, int, int, int> _copyColumns;
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>> _accumulate;

    public IlgpuKernelSet(Accelerator accelerator, KernelProfile profile = KernelProfile.Auto)
    {
        _accelerator = accelerator;
        _stream = accelerator.DefaultStream;
        _tiled = profile switch
        {
            KernelProfile.Cpu => false,
            KernelProfile.Gpu => true,
            _ => accelerator.AcceleratorType != AcceleratorType.CPU,
        };
        if (_tiled && accelerator.MaxNumThreadsPerGroup < GemmKernels.Tile * GemmKernels.Tile)
            throw new ArgumentException($"the tiled GEMM needs groups of {GemmKernels.Tile * GemmKernels.Tile} threads; '{accelerator.Name}' allows {accelerator.MaxNumThreadsPerGroup}");

        _gemmNaive = accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmShape>(GemmKernels.Naive);
        _gemmName = "naive GEMM";
        if (_tiled)
        {
            // The GPU path: cuBLAS where libcublas loads (CUDA), else the register-blocked family, by shape.
            _cuBlas = CuBlasGemm.TryCreate(accelerator, _stream, out string cuBlas);
            _gemmName = _cuBlas?.Description ?? $"blocked GEMM; {cuBlas}";
            _gemmTiled = accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmShape>(GemmKernels.Tiled);
            _gemmBlocked64 = accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmShape>(GemmKernels.Blocked64);
            _gemmBlocked128 = accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmShape>(GemmKernels.Blocked128);
            _softmaxRows = accelerator.LoadKernel<ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, int, float>(LossKernels.SoftmaxCrossEntropyRows);
            _columnSumGrouped = accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, int, int, int>(TensorKernels.ColumnSumGrouped);
            _scatterAddSorted = accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<int>, ArrayView<int>, ArrayView<float>, ArrayView<float>, int>(
                TensorKernels.ScatterAddSorted);
        }
        _gatherRows = accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<int>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(TensorKernels.GatherRows);
        _scatterAddRows = accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<int>, ArrayView<float>, ArrayView<float>, int, int>(TensorKernels.ScatterAddRows);
        _softmaxCrossEntropy = accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, int, float>(LossKernels.SoftmaxCrossEntropy);
        _meanSquaredError = accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float>(LossKernels.MeanSquaredError);
        _columnSum = accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int, int>(TensorKernels.ColumnSum);
        _adam = accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AdamStepArgs>(AdamKernels.Step);
        _sumOfSquares = accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, int>(AdamKernels.SumOfSquaresPartials);
        _transpose = accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int>(TensorKernels.Transpose);
        _dropoutForward = accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, uint, uint, float>(DropoutKernels.Forward);
        _dropoutBackward = accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>>(DropoutKernels.Backward);
        _copyColumns = accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int, int, int, int>(TensorKernels.CopyColumns);
        _accumulate = accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>>(TensorKernels.Accumulate);

        // GPUs: 16,384 stage-1 threads (a few hundred coalesced loads each at the medium shape) and a 256-thread
        // group for stage 2. The CPU accelerator: 256 partials and one thread to add them (no barriers).
        _partialStride = _tiled ? 16384 : 256;
        _stepPartials = accelerator.Allocate1D<float>(2L * _partialStride);
        _stepStatus = accelerator.Allocate1D<float>(StepStatus.Length);
        _stepStatus.MemSetToZero();
        for (int i = 0; i < OutcomeSlots; i++) _outcomes[i] = accelerator.AllocatePageLocked1D<float>(StepStatus.Length);
        _stepPartialsKernel = accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(AdamKernels.StepPartials);
        if (_tiled)
            _stepGuard = accelerator.LoadKernel<ArrayView<float>, int, float, ArrayView<float>>(AdamKernels.StepGuard);
        else
            _stepGuardSerial = accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, int, float, ArrayView<float>>(AdamKernels.StepGuardSerial);
        _guardedAdam = accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AdamStepArgs, ArrayView<float>>(
            AdamKernels.GuardedStep);
        // The GPU path hands its inputs over through pinned memory; the CPU accelerator's memory is host memory.
        if (_tiled) _staged = new StagedUploads(accelerator, _stream, Synchronize);
        accelerator.Synchronize();
    }

    public string Name => $"ilgpu-{_accelerator.AcceleratorType.ToString().ToLowerInvariant()} ({(_tiled ? $"GPU kernels, {_gemmName}" : _gemmName)})";

    /// <summary>What runs the GEMMs: "cuBLAS 12.x", the blocked family (with why not cuBLAS), or the naive kernel.</summary>
    public string GemmBackend => _gemmName;

    /// <summary>The kernels this set launches: the GPU path, or the CPU accelerator's barrier-free ones.</summary>
    public KernelProfile Profile => _tiled ? KernelProfile.Gpu : KernelProfile.Cpu;
    public long LaunchCount => Interlocked.Read(ref _launches);
    public long SyncCount => _syncs;

    public void Upload<T>(ReadOnlySpan<T> source, ArrayView<T> destination) where T : unmanaged
    {
        if (_staged is not null) _staged.Upload(source, destination);
        else destination.SubView(0, source.Length).CopyFromCPU(_stream, source); // the CPU accelerator: a memcpy, in order
    }

    public void Download<T>(ArrayView<T> source, Span<T> destination) where T : unmanaged
    {
        _syncs++;
        source.SubView(0, destination.Length).CopyToCPU(_stream, destination);
        _stream.Synchronize();
        Completed();
    }

    /// <summary>Everything enqueued so far has run: every staged upload's memory is free again.</summary>
    private void Completed()
    {
        if (_staged is not null) _staged.CompletedThrough = _staged.Sequence;
    }

    public void FinishStep(in StepFinish step)
    {
        var status = _stepStatus.View;
        _launches++;
        _stepPartialsKernel(_stream, _partialStride, step.Grads, step.RowLosses, _stepPartials.View, _partialStride);
        _launches++;
        if (_stepGuard is not null) _stepGuard(_stream, new KernelConfig(1, AdamKernels.GuardGroupSize), _stepPartials.View, _partialStride, (float)step.ClipNorm, status);
        else _stepGuardSerial!(_stream, 1, _stepPartials.View, _partialStride, (float)step.ClipNorm, status);
        _launches++;
        _guardedAdam(_stream, (int)step.Parameters.Length, step.Parameters, step.Grads, step.M, step.V, step.Args, status);
        int slot = step.Slot;
        _outcomeFences[slot]?.Dispose();
        _outcomeFences[slot] = null;
        _stepStatus.View.CopyToPageLockedAsync(_stream, _outcomes[slot]);
        _outcomeUploads[slot] = _staged?.Sequence ?? 0;
        if (_fencesWork)
        {
            try { _outcomeFences[slot] = _stream.AddProfilingMarker(); }
            catch (NotSupportedException) { _fencesWork = false; } // a context without profiling: ReadStepOutcome drains instead
        }
    }

    public StepOutcome ReadStepOutcome(int slot)
    {
        if (_outcomeFences[slot] is { } fence)
        {
            fence.Synchronize();
            fence.Dispose();
            _outcomeFences[slot] = null;
            if (_staged is not null) _staged.CompletedThrough = Math.Max(_staged.CompletedThrough, _outcomeUploads[slot]);
        }
        else Synchronize();
        var s = _outcomes[slot].Span;
        return new StepOutcome(s[StepStatus.LossSum], Math.Sqrt(s[StepStatus.NormSquared]), s[StepStatus.Diverged] != 0f, s[StepStatus.Halted] != 0f);
    }

    public void ResetStepGuard()
    {
        _launches++;
        _stepStatus.View.MemSetToZero(_stream);
    }

    public void Gemm(in GemmShape shape, ArrayView<float> a, ArrayView<float> b, ArrayView<float> bias, ArrayView<float> c)
    {
        if (!_tiled)
        {
            _launches++;
            _gemmNaive(_stream, shape.M * shape.N, a, b, bias, c, shape);
            return;
        }
        if (_cuBlas is not null)
        {
            _launches += CuBlasGemm.Launches(shape);
            _cuBlas.Gemm(shape, a, b, bias, c);
            return;
        }
        _launches++;
        switch (GemmKernels.Choose(shape, Math.Max(1, _accelerator.NumMultiprocessors)))
        {
            case GemmTile.Blocked128: _gemmBlocked128!(_stream, GemmKernels.BlockedConfig(shape, 128), a, b, bias, c, shape); break;
            case GemmTile.Blocked64: _gemmBlocked64!(_stream, GemmKernels.BlockedConfig(shape, 64), a, b, bias, c, shape); break;
            default: _gemmTiled!(_stream, GemmKernels.TiledConfig(shape), a, b, bias, c, shape); break;
        }
    }

    public void GatherRows(ArrayView<int> ids, ArrayView<float> table, ArrayView<float> bias, ArrayView<float> output, int rows, int columns)
    {
        _launches++;
        _gatherRows(_stream, rows * columns, ids, table, bias, output, columns);
    }

    public bool SortsTokenRows => _scatterAddSorted is not null;

    public void ScatterAddRows(ArrayView<int> ids, ArrayView<float> grads, ArrayView<float> tableGrad, int rows, int vocab, int columns,
        TokenRows sorted = default)
    {
        _launches++;
        if (_scatterAddSorted is not null && !sorted.IsEmpty)
            _scatterAddSorted(_stream, vocab * columns, sorted.Order, sorted.Offsets, grads, tableGrad, columns);
        else
            _scatterAddRows(_stream, vocab * columns, ids, grads, tableGrad, rows, columns);
    }

    public void CellForward(RecurrentCell cell, in CellStep step)
    {
        _launches++;
        cell.IlgpuForward(this, step);
    }

    /// <summary>
    /// On a GPU, one launch per step: <see cref="RecurrentStepKernels"/> stages 16×16 tiles of h and Wh in shared
    /// memory and runs the cell on its tile. On the CPU accelerator (no barriers), the LSTM's barrier-free fused
    /// kernel (launches cost ~85 µs there), or the GEMM and then the cell.
    /// </summary>
    public void CellStepForward(RecurrentCell cell, in CellStep step, ArrayView<float> recurrentWeights, ArrayView<float> recurrentBias)
    {
        if (_tiled)
        {
            _launches++;
            cell.FusedStep.Forward(this, step, recurrentWeights, recurrentBias);
            return;
        }
        if (step.StartsFromZero) RecurrentStepParts.ZeroPreviousState(this, cell, step);
        if (cell.IlgpuFusedStep(this, step, recurrentWeights))
        {
            _launches++;
            return;
        }
        int gh = cell.Gates * step.Hidden;
        if (cell.KeepsRecurrentProjection)
            Gemm(GemmShape.NN(step.Batch, gh, step.Hidden, addBias: true), step.PrevH, recurrentWeights, recurrentBias, step.Recurrent);
        else
            Gemm(GemmShape.NN(step.Batch, gh, step.Hidden, accumulate: true), step.PrevH, recurrentWeights, default, step.Gates);
        CellForward(cell, step);
    }

    public void CellBackward(RecurrentCell cell, in CellStep step)
    {
        _launches++;
        cell.IlgpuBackward(this, step);
    }

    public bool FusesRecurrentSteps => _tiled;

    public void BeginRecurrentBackward(ArrayView<float> recurrentWeights, ArrayView<float> recurrentWeightsT, int hidden, int gateWidth)
    {
        if (!_tiled) Transpose(recurrentWeights, recurrentWeightsT, hidden, gateWidth); // the fused GPU step reads Wh directly
    }

    public void CellStepBackward(RecurrentCell cell, in CellStep step, ArrayView<float> recurrentWeights, ArrayView<float> recurrentWeightsT,
        ArrayView<float> nextGrads)
    {
        if (!_tiled)
        {
            RecurrentStepParts.Backward(this, cell, step, recurrentWeightsT, nextGrads);
            return;
        }
        _launches++;
        cell.FusedStep.Backward(this, step, recurrentWeights, nextGrads);
    }

    /// <summary>The stream every kernel of this set runs on.</summary>
    internal AcceleratorStream Stream => _stream;

    private readonly Dictionary<(object Owner, string Name), Delegate> _loaded = new();

    /// <summary>A kernel an op outside this class launches (a cell's), loaded once per set by <paramref name="load"/>.</summary>
    internal T Kernel<T>(object owner, string name, Func<Accelerator, T> load) where T : Delegate
    {
        lock (_loaded)
        {
            if (!_loaded.TryGetValue((owner, name), out var kernel)) _loaded[(owner, name)] = kernel = load(_accelerator);
            return (T)kernel;
        }
    }

    public void SoftmaxCrossEntropy(int rows, int vocab, ArrayView<float> logits, ArrayView<int> targets,
        ArrayView<float> dLogits, ArrayView<float> loss, float gradScale)
    {
        _launches++;
        // A GPU gives each row a group that reads it coalesced; one thread per row strides by V across a warp.
        if (_softmaxRows is not null)
            _softmaxRows(_stream, LossKernels.SoftmaxRowsConfig(rows, vocab, _accelerator.WarpSize), logits, targets, dLogits, loss, vocab, gradScale);
        else
            _softmaxCrossEntropy(_stream, rows, logits, targets, dLogits, loss, vocab, gradScale);
    }

    public void MeanSquaredError(int rows, int columns, ArrayView<float> predictions, ArrayView<float> targets,
        ArrayView<float> dPred, ArrayView<float> loss, float gradScale)
    {
        _launches++;
        _meanSquaredError(_stream, rows, predictions, targets, dPred, loss, columns, gradScale);
    }

    public void ColumnSum(int rows, int columns, ArrayView<float> x, ArrayView<float> sum, bool accumulate)
    {
        _launches++;
        if (_columnSumGrouped is not null)
            _columnSumGrouped(_stream, new KernelConfig((columns + TensorKernels.ColumnSumColumns - 1) / TensorKernels.ColumnSumColumns,
                TensorKernels.ColumnSumColumns * TensorKernels.ColumnSumLanes), x, sum, rows, columns, accumulate ? 1 : 0);
        else
            _columnSum(_stream, columns, x, sum, rows, columns, accumulate ? 1 : 0);
    }

    public void AdamStep(ArrayView<float> parameters, ArrayView<float> grads, ArrayView<float> m, ArrayView<float> v, in AdamStepArgs args)
    {
        _launches++;
        _adam(_stream, (int)parameters.Length, parameters, grads, m, v, args);
    }

    public void SumOfSquaresPartials(ArrayView<float> x, ArrayView<float> partials)
    {
        _launches++;
        _sumOfSquares(_stream, (int)partials.Length, x, partials, (int)x.Length);
    }

    public void Transpose(ArrayView<float> input, ArrayView<float> output, int rows, int columns)
    {
        _launches++;
        _transpose(_stream, rows * columns, input, output, rows, columns);
    }

    public void DropoutForward(ArrayView<float> x, ArrayView<float> mask, ArrayView<float> y, float rate, uint key)
    {
        var (threshold, scale) = Dropout.Parameters(rate);
        _launches++;
        _dropoutForward(_stream, (int)x.Length, x, mask, y, key, threshold, scale);
    }

    public void DropoutBackward(ArrayView<float> dy, ArrayView<float> mask, ArrayView<float> dx)
    {
        _launches++;
        _dropoutBackward(_stream, (int)dy.Length, dy, mask, dx);
    }

    public void CopyColumns(int rows, int columns, ArrayView<float> source, int sourceStride, int sourceOffset,
        ArrayView<float> destination, int destinationStride, int destinationOffset)
    {
        _launches++;
        _copyColumns(_stream, rows * columns, source, destination, columns, sourceStride, sourceOffset, destinationStride, destinationOffset);
    }

    public void Accumulate(ArrayView<float> source, ArrayView<float> destination)
    {
        if (source.Length != destination.Length) throw new ArgumentException("accumulate between views of different lengths");
        _launches++;
        _accumulate(_stream, (int)destination.Length, source, destination);
    }

    public void Zero(ArrayView<float> x)
    {
        _launches++;
        x.MemSetToZero(_stream);
    }

    public void Copy(ArrayView<float> source, ArrayView<float> destination)
    {
        _launches++;
        source.CopyTo(_stream, destination);
    }

    public void Synchronize()
    {
        _syncs++;
        _stream.Synchronize();
        Completed();
    }

    public void Dispose()
    {
        _cuBlas?.Dispose();
        foreach (var fence in _outcomeFences) fence?.Dispose();
        foreach (var outcome in _outcomes) outcome.Dispose();
        _staged?.Dispose();
        _stepPartials.Dispose();
        _stepStatus.Dispose();
    }
}
