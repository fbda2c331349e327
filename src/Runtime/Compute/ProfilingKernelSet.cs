using System.Diagnostics;
using GpuLstm.Kernels;
using GpuLstm.Runtime.Models.Cells;
using ILGPU;

namespace GpuLstm.Runtime.Compute;

/// <summary>
/// Wraps a kernel set and times every call, synchronizing after each so the time is the op's own. For
/// `gpulstm bench --profile`: where a training step's time goes, op by op. Synchronizing serializes the
/// stream, so the total is an upper bound on a GPU; on the host set it changes nothing.
/// </summary>
internal sealed class ProfilingKernelSet : IKernelSet
{
    private readonly IKernelSet _inner;
    private readonly Dictionary<string, (long Calls, long Ticks, double Flops)> _ops = new();

    public ProfilingKernelSet(IKernelSet inner) => _inner = inner;

    public string Name => _inner.Name + " [profiled]";
    public long LaunchCount => _inner.LaunchCount;
    public long SyncCount => _inner.SyncCount;

    public void Upload<T>(ReadOnlySpan<T> source, ArrayView<T> destination) where T : unmanaged => _inner.Upload(source, destination);

    public void Download<T>(ArrayView<T> source, Span<T> destination) where T : unmanaged => _inner.Download(source, destination);

    public void FinishStep(in StepFinish step)
    {
        var s = step;
        Time("finish_step (norm, guard, adam)", 0, () => _inner.FinishStep(s));
    }

    public StepOutcome ReadStepOutcome(int slot) => _inner.ReadStepOutcome(slot);

    public void ResetStepGuard() => _inner.ResetStepGuard();

    public IReadOnlyDictionary<string, (long Calls, long Ticks, double Flops)> Ops => _ops;

    public void Reset() => _ops.Clear();

    private void Time(string op, double flops, Action run)
    {
        long start = Stopwatch.GetTimestamp();
        run();
        _inner.Synchronize();
        long ticks = Stopwatch.GetTimestamp() - start;
        _ops.TryGetValue(op, out var e);
        _ops[op] = (e.Calls + 1, e.Ticks + ticks, e.Flops + flops);
    }

    private static string Layout(in GemmShape s) =>
        s.BColStride == 1 ? (s.ARowStride == 1 && s.AColStride == s.M && s.M > 1 ? "TN" : "NN") : "NT";

    public void Gemm(in GemmShape shape, ArrayView<float> a, ArrayView<float> b, ArrayView<float> bias, ArrayView<float> c)
    {
        var s = shape;
        Time($"gemm {Layout(s)} {s.M}x{s.N}x{s.K}", s.Flops, () => _inner.Gemm(s, a, b, bias, c));
    }

    public void GatherRows(ArrayView<int> ids, ArrayView<float> table, ArrayView<float> bias, ArrayView<float> output, int rows, int columns) =>
        Time("gather_rows", 0, () => _inner.GatherRows(ids, table, bias, output, rows, columns));

    public bool SortsTokenRows => _inner.SortsTokenRows;

    public void ScatterAddRows(ArrayView<int> ids, ArrayView<float> grads, ArrayView<float> tableGrad, int rows, int vocab, int columns,
        TokenRows sorted = default) =>
        Time("scatter_add_rows", 0, () => _inner.ScatterAddRows(ids, grads, tableGrad, rows, vocab, columns, sorted));

    public void CellForward(RecurrentCell cell, in CellStep step)
    {
        var s = step;
        Time($"{cell.Name}_cell_forward", 0, () => _inner.CellForward(cell, s));
    }

    public void CellStepForward(RecurrentCell cell, in CellStep step, ArrayView<float> recurrentWeights, ArrayView<float> recurrentBias)
    {
        var s = step;
        int gh = cell.Gates * s.Hidden;
        Time($"{cell.Name}_step_forward {s.Batch}x{gh}x{s.Hidden}", 2.0 * s.Batch * gh * s.Hidden,
            () => _inner.CellStepForward(cell, s, recurrentWeights, recurrentBias));
    }

    public void CellBackward(RecurrentCell cell, in CellStep step)
    {
        var s = step;
        Time($"{cell.Name}_cell_backward", 0, () => _inner.CellBackward(cell, s));
    }

    public bool FusesRecurrentSteps => _inner.FusesRecurrentSteps;

    public void BeginRecurrentBackward(ArrayView<float> recurrentWeights, ArrayView<float> recurrentWeightsT, int hidden, int gateWidth)
    {
        if (_inner.FusesRecurrentSteps) _inner.BeginRecurrentBackward(recurrentWeights, recurrentWeightsT, hidden, gateWidth);
        else Transpose(recurrentWeights, recurrentWeightsT, hidden, gateWidth);
    }

    /// <summary>A fused step is timed as one op; otherwise its GEMM and the cell's kernel are timed apart, through this set.</summary>
    public void CellStepBackward(RecurrentCell cell, in CellStep step, ArrayView<float> recurrentWeights, ArrayView<float> recurrentWeightsT,
        ArrayView<float> nextGrads)
    {
        if (!_inner.FusesRecurrentSteps)
        {
            RecurrentStepParts.Backward(this, cell, step, recurrentWeightsT, nextGrads);
            return;
        }
        var s = step;
        int gh = cell.Gates * s.Hidden;
        Time($"{cell.Name}_step_backward {s.Batch}x{s.Hidden}x{gh}", s.FirstBackward ? 0 : 2.0 * s.Batch * gh * s.Hidden,
            () => _inner.CellStepBackward(cell, s, recurrentWeights, recurrentWeightsT, nextGrads));
    }

    public bool RunsWholeRecurrence => _inner.RunsWholeRecurrence;

    /// <summary>A recurrence the inner set runs as one call is timed as one op; otherwise step by step, through this set.</summary>
    public void RecurrentForward(RecurrentCell cell, in RecurrentRun run, ArrayView<float> recurrentWeights, ArrayView<float> recurrentBias)
    {
        if (!_inner.RunsWholeRecurrence)
        {
            RecurrentStepParts.ForwardSteps(this, cell, run, recurrentWeights, recurrentBias);
            return;
        }
        var r = run;
        int gh = cell.Gates * r.Hidden;
        Time($"{cell.Name}_recurrence_forward {r.Steps}x({r.Batch}x{gh}x{r.Hidden})", 2.0 * r.Steps * r.Batch * gh * r.Hidden,
            () => _inner.RecurrentForward(cell, r, recurrentWeights, recurrentBias));
    }

    public void RecurrentBackward(RecurrentCell cell, in RecurrentRun run, ArrayView<float> recurrentWeights, ArrayView<float> recurrentWeightsT)
    {
        if (!_inner.RunsWholeRecurrence)
        {
            RecurrentStepParts.BackwardSteps(this, cell, run, recurrentWeights, recurrentWeightsT);
            return;
        }
        var r = run;
        int gh = cell.Gates * r.Hidden;
        Time($"{cell.Name}_recurrence_backward {r.Steps}x({r.Batch}x{r.Hidden}x{gh})", 2.0 * (r.Steps - 1) * r.Batch * gh * r.Hidden,
            () => _inner.RecurrentBackward(cell, r, recurrentWeights, recurrentWeightsT));
    }

    public void SoftmaxCrossEntropy(int rows, int vocab, ArrayView<float> logits, ArrayView<int> targets, ArrayView<float> dLogits,
        ArrayView<float> loss, float gradScale) =>
        Time("softmax_cross_entropy", 0, () => _inner.SoftmaxCrossEntropy(rows, vocab, logits, targets, dLogits, loss, gradScale));

    public void MeanSquaredError(int rows, int columns, ArrayView<float> predictions, ArrayView<float> targets, ArrayView<float> dPred,
        ArrayView<float> loss, float gradScale) =>
        Time("mean_squared_error", 0, () => _inner.MeanSquaredError(rows, columns, predictions, targets, dPred, loss, gradScale));

    public void GaussianNll(int rows, int horizon, ArrayView<float> predictions, ArrayView<float> targets, ArrayView<float> dPred,
        ArrayView<float> loss, float gradScale) =>
        Time("gaussian_nll", 0, () => _inner.GaussianNll(rows, horizon, predictions, targets, dPred, loss, gradScale));

    public void Pinball(int rows, int horizon, int quantileCount, ArrayView<float> predictions, ArrayView<float> targets,
        ArrayView<float> quantiles, ArrayView<float> dPred, ArrayView<float> loss, float gradScale) =>
        Time("pinball", 0, () => _inner.Pinball(rows, horizon, quantileCount, predictions, targets, quantiles, dPred, loss, gradScale));

    public void ColumnSum(int rows, int columns, ArrayView<float> x, ArrayView<float> sum, bool accumulate) =>
        Time("column_sum", 0, () => _inner.ColumnSum(rows, columns, x, sum, accumulate));

    public void AdamStep(ArrayView<float> parameters, ArrayView<float> grads, ArrayView<float> m, ArrayView<float> v, in AdamStepArgs args)
    {
        var a = args;
        Time("adam_step", 0, () => _inner.AdamStep(parameters, grads, m, v, a));
    }

    public void SumOfSquaresPartials(ArrayView<float> x, ArrayView<float> partials) =>
        Time("sum_of_squares_partials", 0, () => _inner.SumOfSquaresPartials(x, partials));

    public void Transpose(ArrayView<float> input, ArrayView<float> output, int rows, int columns) =>
        Time("transpose", 0, () => _inner.Transpose(input, output, rows, columns));

    public void DropoutForward(ArrayView<float> x, ArrayView<float> mask, ArrayView<float> y, float rate, uint key) =>
        Time("dropout_forward", 0, () => _inner.DropoutForward(x, mask, y, rate, key));

    public void DropoutBackward(ArrayView<float> dy, ArrayView<float> mask, ArrayView<float> dx) =>
        Time("dropout_backward", 0, () => _inner.DropoutBackward(dy, mask, dx));
    public void CopyColumns(int rows, int columns, ArrayView<float> source, int sourceStride, int sourceOffset,
        ArrayView<float> destination, int destinationStride, int destinationOffset) =>
        Time("copy_columns", 0, () => _inner.CopyColumns(rows, columns, source, sourceStride, sourceOffset, destination, destinationStride, destinationOffset));

    public void Accumulate(ArrayView<float> source, ArrayView<float> destination) =>
        Time("accumulate", 0, () => _inner.Accumulate(source, destination));

    public void Zero(ArrayView<float> x) => Time("zero", 0, () => _inner.Zero(x));

    public void Copy(ArrayView<float> source, ArrayView<float> destination) => Time("copy", 0, () => _inner.Copy(source, destination));

    public void Synchronize() => _inner.Synchronize();

    public void Dispose() => _inner.Dispose();
}
