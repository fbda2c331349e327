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
    private const int GpuPartialGroups = 512;
    private readonly int _partialStride;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _stepPartials, _stepStatus;
    private readonly PageLockedArray1D<float>[] _outcomes = new PageLockedArray1D<float>[OutcomeSlots];
    private readonly ProfilingMarker?[] _outcomeFences = new ProfilingMarker?[OutcomeSlots];
    private readonly long[] _outcomeUploads = new long[OutcomeSlots];
    private bool _fencesWork = true;
    private readonly StagedUploads? _staged;
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>? _stepPartialsKernel;
    private readonly Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>>? _stepPartialsGrouped;
    private readonly Action<AcceleratorStream, KernelConfig, ArrayView<float>, int, float, ArrayView<float>>? _stepGuard;
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, int, float, ArrayView<float>>? _stepGuardSerial;
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AdamStepArgs, ArrayView<float>> _guardedAdam;

    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmShape> _gemmNaive;
    private readonly Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmShape>? _gemmTiled,
        _gemmBlocked64, _gemmBlocked128;
    private readonly CuBlasGemm? _cuBlas;
    private readonly string _gemmName;
    private readonly Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, int, float>? _softmaxRows;
    private readonly Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, int, int>? _columnPartials;
    // Grown on demand, never in a step after the first: the column sums' partials (⌈R/256⌉,N), and a vector of ones (R) for cuBLAS's column sums.
    private MemoryBuffer1D<float, Stride1D.Dense>? _columnPartialsBuffer, _ones;
    private readonly Action<AcceleratorStream, Index1D, ArrayView<int>, ArrayView<int>, ArrayView<float>, ArrayView<float>, int>? _scatterAddSorted;
    private readonly Action<AcceleratorStream, Index1D, ArrayView<int>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int> _gatherRows;
    private readonly Action<AcceleratorStream, Index1D, ArrayView<int>, ArrayView<float>, ArrayView<float>, int, int> _scatterAddRows;
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, int, float> _softmaxCrossEntropy;
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float> _meanSquaredError;
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float> _gaussianNll;
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, float> _pinball;
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, int, int, int> _columnSum;
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AdamStepArgs> _adam;
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, int> _sumOfSquares;
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, int, int> _transpose;
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, uint, uint, float> _dropoutForward;
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>> _dropoutBackward;
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, int, int, int, int, int> _copyColumns;
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>> _accumulate;

    /// <param name="useCuBlas">On CUDA, run GEMMs with cuBLAS where libcublas loads (false: GpuLstm's own kernels, to compare them).</param>
    public IlgpuKernelSet(Accelerator accelerator, KernelProfile profile = KernelProfile.Auto, bool useCuBlas = true)
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
            string cuBlas = "cuBLAS not asked for";
            if (useCuBlas) _cuBlas = CuBlasGemm.TryCreate(accelerator, _stream, out cuBlas);
            _gemmName = _cuBlas?.Description ?? $"blocked GEMM; {cuBlas}";
            _gemmTiled = accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmShape>(GemmKernels.Tiled);
            _gemmBlocked64 = accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmShape>(GemmKernels.Blocked64);
            _gemmBlocked128 = accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmShape>(GemmKernels.Blocked128);
            _softmaxRows = accelerator.LoadKernel<ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, int, float>(LossKernels.SoftmaxCrossEntropyRows);
            _columnPartials = accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, int, int>(TensorKernels.ColumnPartials);
            _scatterAddSorted = accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<int>, ArrayView<int>, ArrayView<float>, ArrayView<float>, int>(
                TensorKernels.ScatterAddSorted);
        }
        _gatherRows = accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<int>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(TensorKernels.GatherRows);
        _scatterAddRows = accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<int>, ArrayView<float>, ArrayView<float>, int, int>(TensorKernels.ScatterAddRows);
        _softmaxCrossEntropy = accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, int, float>(LossKernels.SoftmaxCrossEntropy);
        _meanSquaredError = accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float>(LossKernels.MeanSquaredError);
        _gaussianNll = accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float>(LossKernels.GaussianNll);
        _pinball = accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, float>(LossKernels.Pinball);
        _columnSum = accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int, int>(TensorKernels.ColumnSum);
        _adam = accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AdamStepArgs>(AdamKernels.Step);
        _sumOfSquares = accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, int>(AdamKernels.SumOfSquaresPartials);
        _transpose = accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int>(TensorKernels.Transpose);
        _dropoutForward = accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, uint, uint, float>(DropoutKernels.Forward);
        _dropoutBackward = accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>>(DropoutKernels.Backward);
        _copyColumns = accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int, int, int, int>(TensorKernels.CopyColumns);
        _accumulate = accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>>(TensorKernels.Accumulate);

        // GPUs: 512 groups of 256 threads stream the gradients (about 25 coalesced loads each at the medium shape)
        // and reduce in shared memory; one group adds the 512 partials. The CPU accelerator: 256 partials and one
        // thread to add them (no barriers).
        // (The GPU path on the CPU accelerator, where every barrier is an OS-thread barrier, uses 4 groups: the
        // same kernels, a test-sized grid.)
        _partialStride = !_tiled ? 256 : accelerator.AcceleratorType == AcceleratorType.CPU ? 4 : GpuPartialGroups;
        _stepPartials = accelerator.Allocate1D<float>(2L * _partialStride);
        _stepStatus = accelerator.Allocate1D<float>(StepStatus.Length);
        _stepStatus.MemSetToZero();
        for (int i = 0; i < OutcomeSlots; i++) _outcomes[i] = accelerator.AllocatePageLocked1D<float>(StepStatus.Length);
        if (_tiled)
        {
            _stepPartialsGrouped = accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>>(AdamKernels.StepPartialsGrouped);
            _stepGuard = accelerator.LoadKernel<ArrayView<float>, int, float, ArrayView<float>>(AdamKernels.StepGuard);
        }
        else
        {
            _stepPartialsKernel = accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(AdamKernels.StepPartials);
            _stepGuardSerial = accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, int, float, ArrayView<float>>(AdamKernels.StepGuardSerial);
        }
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

    private LaunchLog? _log;

    /// <summary>Records every launch into <paramref name="log"/> from now on (null: stop); a dry-run log also stops the launches.</summary>
    internal void Record(LaunchLog? log) => _log = log;

    private const int AutoGroup = 256; // threads per group the model assumes for implicitly grouped kernels
    private static long Groups(long threads, int groupSize) => (threads + groupSize - 1) / groupSize;

    /// <summary>Counts a launch and books it in the log; false when the log is a dry run, and the kernel is not to run.</summary>
    private bool Launch(string kernel, LaunchKind kind, long groups, int groupSize, double flops, double bytes, string tile = "",
        long m = 0, long n = 0, long k = 0)
    {
        _launches++;
        if (_log is null) return true;
        _log.Records.Add(new LaunchRecord(kernel, kind, tile, groups, groupSize, flops, bytes, m, n, k));
        return !_log.DryRun;
    }

    /// <summary>A kernel over N elements, one thread each, moving the given bytes.</summary>
    private bool LaunchElementwise(string kernel, long elements, double bytes, double flops = 0) =>
        Launch(kernel, LaunchKind.MemoryBound, Groups(elements, AutoGroup), AutoGroup, flops, bytes);

    private int Multiprocessors => _log is { Multiprocessors: > 0 } l ? l.Multiprocessors : Math.Max(1, _accelerator.NumMultiprocessors);
    private int WarpSize => _log is { WarpSize: > 0 } l ? l.WarpSize : _accelerator.WarpSize;

    public unsafe void Upload<T>(ReadOnlySpan<T> source, ArrayView<T> destination) where T : unmanaged
    {
        if (_log is not null) _log.UploadBytes += (double)source.Length * sizeof(T);
        if (_staged is not null) _staged.Upload(source, destination);
        else destination.SubView(0, source.Length).CopyFromCPU(_stream, source); // the CPU accelerator: a memcpy, in order
    }

    public unsafe void Download<T>(ArrayView<T> source, Span<T> destination) where T : unmanaged
    {
        _syncs++;
        if (_log is not null) { _log.Syncs++; _log.DownloadBytes += (double)destination.Length * sizeof(T); }
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
        long p = step.Parameters.Length;
        double partialBytes = 4.0 * (p + step.RowLosses.Length + 2 * _partialStride);
        if (_stepPartialsGrouped is not null)
        {
            // A dry run lists what a GPU launches: 512 groups, whatever this accelerator's test-sized grid.
            int groups = _log is { DryRun: true } ? GpuPartialGroups : _partialStride;
            if (Launch("step_partials_grouped", LaunchKind.MemoryBound, groups, AdamKernels.GuardGroupSize, 2.0 * p, partialBytes))
                _stepPartialsGrouped(_stream, new KernelConfig(_partialStride, AdamKernels.GuardGroupSize), step.Grads, step.RowLosses, _stepPartials.View);
        }
        else if (Launch("step_partials", LaunchKind.MemoryBound, Groups(_partialStride, AutoGroup), AutoGroup, 2.0 * p, partialBytes))
            _stepPartialsKernel!(_stream, _partialStride, step.Grads, step.RowLosses, _stepPartials.View, _partialStride);
        if (_stepGuard is not null)
        {
            if (Launch("step_guard", LaunchKind.MemoryBound, 1, AdamKernels.GuardGroupSize, 2.0 * _partialStride, 4.0 * 2 * _partialStride))
                _stepGuard(_stream, new KernelConfig(1, AdamKernels.GuardGroupSize), _stepPartials.View, _partialStride, (float)step.ClipNorm, status);
        }
        else if (Launch("step_guard_serial", LaunchKind.MemoryBound, 1, 1, 2.0 * _partialStride, 4.0 * 2 * _partialStride))
            _stepGuardSerial!(_stream, 1, _stepPartials.View, _partialStride, (float)step.ClipNorm, status);
        // Adam reads p, g, m, v and writes p, m, v.
        if (LaunchElementwise("adam_guarded_step", p, 4.0 * 7 * p, 12.0 * p))
            _guardedAdam(_stream, (int)p, step.Parameters, step.Grads, step.M, step.V, step.Args, status);
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
        if (Launch("memset", LaunchKind.Memory, 1, 1, 0, 4.0 * StepStatus.Length)) _stepStatus.View.MemSetToZero(_stream);
    }

    public void Gemm(in GemmShape shape, ArrayView<float> a, ArrayView<float> b, ArrayView<float> bias, ArrayView<float> c)
    {
        long m = shape.M, n = shape.N, k = shape.K;
        // Each operand read once and C written (and read, when accumulating), as a well-tiled GEMM moves them.
        double bytes = 4.0 * (m * k + k * n + m * n * (1 + shape.Accumulate) + (shape.AddBias != 0 ? n : 0));
        if (!_tiled)
        {
            if (Launch("gemm_naive", LaunchKind.Gemm, Groups(m * n, AutoGroup), AutoGroup, shape.Flops, bytes, "naive", m, n, k))
                _gemmNaive(_stream, shape.M * shape.N, a, b, bias, c, shape);
            return;
        }
        if (_cuBlas is not null || _log is { AssumeCuBlas: true })
        {
            // The bias, when there is one, is a broadcast kernel before (or after) the SGEMM.
            bool run = true;
            if (CuBlasGemm.Launches(shape) > 1) run &= LaunchElementwise("broadcast_rows", m * n, 4.0 * m * n * (1 + shape.Accumulate) + 4.0 * n);
            run &= Launch("cublas_sgemm", LaunchKind.Gemm, 0, 0, shape.Flops, bytes, "cublas", m, n, k);
            if (run && _cuBlas is not null) _cuBlas.Gemm(shape, a, b, bias, c);
            return;
        }
        switch (GemmKernels.Choose(shape, Multiprocessors))
        {
            case GemmTile.Blocked128:
            {
                var config = GemmKernels.BlockedConfig(shape, 128);
                if (Launch("gemm_blocked128", LaunchKind.Gemm, config.GridDim.Size, config.GroupDim.Size, shape.Flops, bytes, "blocked128", m, n, k))
                    _gemmBlocked128!(_stream, config, a, b, bias, c, shape);
                break;
            }
            case GemmTile.Blocked64:
            {
                var config = GemmKernels.BlockedConfig(shape, 64);
                if (Launch("gemm_blocked64", LaunchKind.Gemm, config.GridDim.Size, config.GroupDim.Size, shape.Flops, bytes, "blocked64", m, n, k))
                    _gemmBlocked64!(_stream, config, a, b, bias, c, shape);
                break;
            }
            default:
            {
                var config = GemmKernels.TiledConfig(shape);
                if (Launch("gemm_tiled", LaunchKind.Gemm, config.GridDim.Size, config.GroupDim.Size, shape.Flops, bytes, "tiled16", m, n, k))
                    _gemmTiled!(_stream, config, a, b, bias, c, shape);
                break;
            }
        }
    }

    public void GatherRows(ArrayView<int> ids, ArrayView<float> table, ArrayView<float> bias, ArrayView<float> output, int rows, int columns)
    {
        long e = (long)rows * columns;
        if (LaunchElementwise("gather_rows", e, 4.0 * (2 * e + rows + columns)))
            _gatherRows(_stream, rows * columns, ids, table, bias, output, columns);
    }

    public bool SortsTokenRows => _scatterAddSorted is not null;

    public void ScatterAddRows(ArrayView<int> ids, ArrayView<float> grads, ArrayView<float> tableGrad, int rows, int vocab, int columns,
        TokenRows sorted = default)
    {
        long table = (long)vocab * columns, read = (long)rows * columns;
        if (_scatterAddSorted is not null && !sorted.IsEmpty)
        {
            if (LaunchElementwise("scatter_add_sorted", table, 4.0 * (read + table + rows + vocab), read))
                _scatterAddSorted(_stream, vocab * columns, sorted.Order, sorted.Offsets, grads, tableGrad, columns);
        }
        // Every thread scans every id: V·N·R compare-and-adds.
        else if (LaunchElementwise("scatter_add_rows", table, 4.0 * (read + table) + 4.0 * rows * Groups(table, 32), (double)table * rows))
            _scatterAddRows(_stream, vocab * columns, ids, grads, tableGrad, rows, columns);
    }

    public void CellForward(RecurrentCell cell, in CellStep step)
    {
        long e = (long)step.Batch * step.Hidden;
        if (LaunchElementwise($"{cell.Name}_cell_forward", e, 4.0 * e * (2 * cell.Gates + 4)))
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
            if (LaunchRecurrentStep(cell, step, "forward"))
                cell.FusedStep.Forward(this, step, recurrentWeights, recurrentBias);
            return;
        }
        if (step.StartsFromZero) RecurrentStepParts.ZeroPreviousState(this, cell, step);
        if (cell.IlgpuFusedStep(this, step, recurrentWeights))
        {
            // The CPU accelerator's barrier-free fused LSTM step (it has run; the CPU profile makes no dry runs).
            long width = (long)cell.Gates * step.Hidden;
            Launch($"{cell.Name}_step_forward", LaunchKind.RecurrentStep, Groups((long)step.Batch * step.Hidden, AutoGroup), AutoGroup,
                2.0 * step.Batch * width * step.Hidden, 4.0 * ((long)step.Batch * step.Hidden * step.Hidden + 3L * step.Batch * width), cell.Name,
                step.Batch, width, step.Hidden);
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
        long e = (long)step.Batch * step.Hidden;
        if (LaunchElementwise($"{cell.Name}_cell_backward", e, 4.0 * e * (3 * cell.Gates + 6)))
            cell.IlgpuBackward(this, step);
    }

    /// <summary>
    /// Books a fused step (<see cref="RecurrentStepKernels"/>): 2·B·G·H·H flops (none forward from a zero state,
    /// none backward on the first step), Wh read once per row block of 16 (the tiles read it from L2 after the
    /// first), the step's (B,G·H) slices read and written.
    /// </summary>
    private bool LaunchRecurrentStep(RecurrentCell cell, in CellStep step, string direction)
    {
        var config = RecurrentStepKernels.Config(step.Batch, step.Hidden);
        long b = step.Batch, h = step.Hidden, gh = cell.Gates * h;
        bool product = direction == "forward" ? !step.StartsFromZero : !step.FirstBackward;
        double flops = product ? 2.0 * b * gh * h : 0;
        double bytes = 4.0 * ((product ? gh * h + b * (direction == "forward" ? h : gh) : 0) + b * gh * (direction == "forward" ? 2 : 3) + 4 * b * h);
        return Launch($"{cell.Name}_step_{direction}_fused", LaunchKind.RecurrentStep, config.GridDim.Size, config.GroupDim.Size, flops, bytes, cell.Name, b, gh, h);
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
        if (LaunchRecurrentStep(cell, step, "backward"))
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
        long e = (long)rows * vocab;
        // A GPU gives each row a group that reads it coalesced; one thread per row strides by V across a warp.
        if (_softmaxRows is not null)
        {
            var config = LossKernels.SoftmaxRowsConfig(rows, vocab, WarpSize);
            if (Launch("softmax_cross_entropy_rows", LaunchKind.MemoryBound, config.GridDim.Size, config.GroupDim.Size, 5.0 * e, 4.0 * (3 * e + 2 * rows)))
                _softmaxRows(_stream, LossKernels.SoftmaxRowsConfig(rows, vocab, _accelerator.WarpSize), logits, targets, dLogits, loss, vocab, gradScale);
        }
        else if (LaunchElementwise("softmax_cross_entropy", rows, 4.0 * (4 * e + 2 * rows), 5.0 * e))
            _softmaxCrossEntropy(_stream, rows, logits, targets, dLogits, loss, vocab, gradScale);
    }

    public void MeanSquaredError(int rows, int columns, ArrayView<float> predictions, ArrayView<float> targets,
        ArrayView<float> dPred, ArrayView<float> loss, float gradScale)
    {
        long e = (long)rows * columns;
        if (LaunchElementwise("mean_squared_error", rows, 4.0 * (3 * e + rows), 4.0 * e))
            _meanSquaredError(_stream, rows, predictions, targets, dPred, loss, columns, gradScale);
    }

    public void GaussianNll(int rows, int horizon, ArrayView<float> predictions, ArrayView<float> targets,
        ArrayView<float> dPred, ArrayView<float> loss, float gradScale)
    {
        long e = (long)rows * horizon;
        // Reads μ, s, y and writes two gradients a step; about 20 flops and two exps and a log a step.
        if (LaunchElementwise("gaussian_nll", rows, 4.0 * (5 * e + rows), 20.0 * e))
            _gaussianNll(_stream, rows, predictions, targets, dPred, loss, horizon, gradScale);
    }

    public void Pinball(int rows, int horizon, int quantileCount, ArrayView<float> predictions, ArrayView<float> targets,
        ArrayView<float> quantiles, ArrayView<float> dPred, ArrayView<float> loss, float gradScale)
    {
        long e = (long)rows * horizon * quantileCount;
        if (LaunchElementwise("pinball", rows, 4.0 * (2 * e + (long)rows * horizon + rows), 5.0 * e))
            _pinball(_stream, rows, predictions, targets, quantiles, dPred, loss, horizon, quantileCount, gradScale);
    }

    /// <summary>
    /// On a GPU: with cuBLAS, one SGEMM of a row of ones, 1ᵀ (1,R) · x (R,N); otherwise two stages, the column
    /// partials of 256-row chunks over many groups, then one thread per column over the chunks. On the CPU
    /// accelerator, one thread per column.
    /// </summary>
    public void ColumnSum(int rows, int columns, ArrayView<float> x, ArrayView<float> sum, bool accumulate)
    {
        long e = (long)rows * columns;
        if (_cuBlas is not null || _log is { AssumeCuBlas: true } && _tiled)
        {
            var ones = Grown(ref _ones, rows, fill: 1f);
            Gemm(GemmShape.NN(1, columns, rows, accumulate), ones.SubView(0, rows), x, default, sum);
            return;
        }
        if (_columnPartials is not null)
        {
            int chunks = (rows + TensorKernels.ColumnSumChunk - 1) / TensorKernels.ColumnSumChunk;
            var partials = Grown(ref _columnPartialsBuffer, (long)chunks * columns, fill: 0f).SubView(0, (long)chunks * columns);
            var config = new KernelConfig(new Index2D((columns + TensorKernels.ColumnSumColumns - 1) / TensorKernels.ColumnSumColumns, chunks),
                new Index2D(TensorKernels.ColumnSumColumns * TensorKernels.ColumnSumLanes, 1));
            if (Launch("column_partials", LaunchKind.MemoryBound, config.GridDim.Size, config.GroupDim.Size, e, 4.0 * (e + partials.Length)))
                _columnPartials(_stream, config, x, partials, rows, columns);
            if (LaunchElementwise("column_sum", columns, 4.0 * (partials.Length + 2 * columns), partials.Length))
                _columnSum(_stream, columns, partials, sum, chunks, columns, accumulate ? 1 : 0);
            return;
        }
        if (LaunchElementwise("column_sum", columns, 4.0 * (e + 2 * columns), e))
            _columnSum(_stream, columns, x, sum, rows, columns, accumulate ? 1 : 0);
    }

    /// <summary>A buffer of at least <paramref name="length"/> floats, reallocated (and filled) only when it grows: once per shape, not per step.</summary>
    private ArrayView<float> Grown(ref MemoryBuffer1D<float, Stride1D.Dense>? buffer, long length, float fill)
    {
        if (buffer is null || buffer.Length < length)
        {
            buffer?.Dispose();
            buffer = _accelerator.Allocate1D<float>(Math.Max(1, length));
            if (fill == 0f) buffer.MemSetToZero(_stream);
            else
            {
                var values = new float[buffer.Length];
                Array.Fill(values, fill);
                buffer.View.CopyFromCPU(_stream, values);
            }
        }
        return buffer.View;
    }

    public void AdamStep(ArrayView<float> parameters, ArrayView<float> grads, ArrayView<float> m, ArrayView<float> v, in AdamStepArgs args)
    {
        long p = parameters.Length;
        if (LaunchElementwise("adam_step", p, 4.0 * 7 * p, 12.0 * p))
            _adam(_stream, (int)parameters.Length, parameters, grads, m, v, args);
    }

    public void SumOfSquaresPartials(ArrayView<float> x, ArrayView<float> partials)
    {
        if (LaunchElementwise("sum_of_squares_partials", partials.Length, 4.0 * (x.Length + partials.Length), 2.0 * x.Length))
            _sumOfSquares(_stream, (int)partials.Length, x, partials, (int)x.Length);
    }

    public void Transpose(ArrayView<float> input, ArrayView<float> output, int rows, int columns)
    {
        long e = (long)rows * columns;
        if (LaunchElementwise("transpose", e, 8.0 * e))
            _transpose(_stream, rows * columns, input, output, rows, columns);
    }

    public void DropoutForward(ArrayView<float> x, ArrayView<float> mask, ArrayView<float> y, float rate, uint key)
    {
        var (threshold, scale) = Dropout.Parameters(rate);
        if (LaunchElementwise("dropout_forward", x.Length, 12.0 * x.Length))
            _dropoutForward(_stream, (int)x.Length, x, mask, y, key, threshold, scale);
    }

    public void DropoutBackward(ArrayView<float> dy, ArrayView<float> mask, ArrayView<float> dx)
    {
        if (LaunchElementwise("dropout_backward", dy.Length, 12.0 * dy.Length))
            _dropoutBackward(_stream, (int)dy.Length, dy, mask, dx);
    }

    public void CopyColumns(int rows, int columns, ArrayView<float> source, int sourceStride, int sourceOffset,
        ArrayView<float> destination, int destinationStride, int destinationOffset)
    {
        long e = (long)rows * columns;
        if (LaunchElementwise("copy_columns", e, 8.0 * e))
            _copyColumns(_stream, rows * columns, source, destination, columns, sourceStride, sourceOffset, destinationStride, destinationOffset);
    }

    public void Accumulate(ArrayView<float> source, ArrayView<float> destination)
    {
        if (source.Length != destination.Length) throw new ArgumentException("accumulate between views of different lengths");
        if (LaunchElementwise("accumulate", destination.Length, 12.0 * destination.Length, destination.Length))
            _accumulate(_stream, (int)destination.Length, source, destination);
    }

    public void Zero(ArrayView<float> x)
    {
        if (Launch("memset", LaunchKind.Memory, 1, 1, 0, 4.0 * x.Length)) x.MemSetToZero(_stream);
    }

    public void Copy(ArrayView<float> source, ArrayView<float> destination)
    {
        if (Launch("copy", LaunchKind.Memory, 1, 1, 0, 8.0 * source.Length)) source.CopyTo(_stream, destination);
    }

    public void Synchronize()
    {
        _syncs++;
        if (_log is not null) _log.Syncs++;
        _stream.Synchronize();
        Completed();
    }

    public void Dispose()
    {
        _cuBlas?.Dispose();
        _columnPartialsBuffer?.Dispose();
        _ones?.Dispose();
        foreach (var fence in _outcomeFences) fence?.Dispose();
        foreach (var outcome in _outcomes) outcome.Dispose();
        _staged?.Dispose();
        _stepPartials.Dispose();
        _stepStatus.Dispose();
    }
}
