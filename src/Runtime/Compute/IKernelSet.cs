using GpuLstm.Kernels;
using GpuLstm.Runtime.Models.Cells;
using ILGPU;

namespace GpuLstm.Runtime.Compute;

/// <summary>
/// Every computation the runtime performs, as one interface. Models and the trainer call only this, so a
/// second implementation (a host SIMD set working on the same buffers) slots in without touching them.
/// All views are flat row-major float32 buffers owned by the model; shapes are given with each call.
/// Calls are asynchronous on the set's stream: results are visible after <see cref="Synchronize"/> or a copy.
/// </summary>
internal interface IKernelSet : IDisposable
{
    string Name { get; }

    /// <summary>Kernel launches (memsets included) since creation: a cost model for accelerators that pay per launch.</summary>
    long LaunchCount { get; }

    /// <summary>
    /// Waits that drain the stream (<see cref="Synchronize"/>, <see cref="Download{T}"/>, an upload that found no
    /// free staging memory) since creation. A training step makes none: it hands its data over with
    /// <see cref="Upload{T}"/> and learns its outcome one step late (<see cref="ReadStepOutcome"/>).
    /// </summary>
    long SyncCount { get; }

    /// <summary>
    /// destination ← source, in order with the kernels. A GPU set copies source into page-locked staging memory
    /// and enqueues an asynchronous copy, so the host goes on at once; the caller may reuse source on return.
    /// </summary>
    void Upload<T>(ReadOnlySpan<T> source, ArrayView<T> destination) where T : unmanaged;

    /// <summary>destination ← source, after everything enqueued before it has run: a synchronizing copy.</summary>
    void Download<T>(ArrayView<T> source, Span<T> destination) where T : unmanaged;

    /// <summary>
    /// The end of a training step, on the device, without the host: the row losses and the squared gradients are
    /// reduced in a fixed order, a loss or norm that is not finite halts this step's Adam and every later one
    /// (until <see cref="ResetStepGuard"/>), and Adam runs with the clip scale min(1, clip/norm). The outcome goes
    /// to <paramref name="step"/>'s slot, for <see cref="ReadStepOutcome"/> once the device has got there.
    /// </summary>
    void FinishStep(in StepFinish step);

    /// <summary>The outcome of the last step finished into <paramref name="slot"/>; waits for that step only, not for later work.</summary>
    StepOutcome ReadStepOutcome(int slot);

    /// <summary>Clears the sticky halt of <see cref="FinishStep"/> (a new run).</summary>
    void ResetStepGuard();

    /// <summary>c (M,N) = [c +] op(a) · op(b) [+ bias]; see <see cref="GemmShape"/>. bias may be empty when not added.</summary>
    void Gemm(in GemmShape shape, ArrayView<float> a, ArrayView<float> b, ArrayView<float> bias, ArrayView<float> c);

    /// <summary>output (R,N) = table[ids[r]] + bias: x·W + b for one-hot rows x.</summary>
    void GatherRows(ArrayView<int> ids, ArrayView<float> table, ArrayView<float> bias, ArrayView<float> output, int rows, int columns);

    /// <summary>tableGrad (V,N) = Σ_{r: ids[r] = v} grads[r] in row order: xᵀ·grads for one-hot rows x, deterministically.</summary>
    void ScatterAddRows(ArrayView<int> ids, ArrayView<float> grads, ArrayView<float> tableGrad, int rows, int vocab, int columns,
        TokenRows sorted = default);

    /// <summary>
    /// True when <see cref="ScatterAddRows"/> wants the batch's ids sorted (<see cref="TokenRows"/>): a GPU then sums
    /// each id's rows directly instead of every thread scanning every id (V·N·R comparisons at V 10,000).
    /// </summary>
    bool SortsTokenRows { get; }

    /// <summary>One time step of a recurrent cell's pointwise forward (see <see cref="RecurrentCell"/> for what it reads and writes).</summary>
    void CellForward(RecurrentCell cell, in CellStep step);

    /// <summary>
    /// One whole step of the recurrence: the recurrent GEMM h_prev (B,H)·recurrentWeights (H,G·H), accumulated
    /// onto the gates, or written with recurrentBias (G·H) into the kept projection for a cell that keeps it
    /// apart; then <see cref="CellForward"/>. With <see cref="CellStep.StartsFromZero"/> the previous state is
    /// zeroed first. A kernel set may fuse the two.
    /// </summary>
    void CellStepForward(RecurrentCell cell, in CellStep step, ArrayView<float> recurrentWeights, ArrayView<float> recurrentBias);

    /// <summary>One time step of a recurrent cell's pointwise backward (see <see cref="RecurrentCell"/>).</summary>
    void CellBackward(RecurrentCell cell, in CellStep step);

    /// <summary>True when a recurrent time step runs as one fused launch each way (the GPU path), not as a GEMM and a cell kernel.</summary>
    bool FusesRecurrentSteps { get; }

    /// <summary>
    /// Before a layer's backward time loop: recurrentWeightsT (G·H,H) = Whᵀ (H,G·H) for a set whose per-step
    /// product dh = dGates·Whᵀ wants it as a plain NN GEMM; a set that reads Wh directly does nothing.
    /// </summary>
    void BeginRecurrentBackward(ArrayView<float> recurrentWeights, ArrayView<float> recurrentWeightsT, int hidden, int gateWidth);

    /// <summary>
    /// One whole step of the recurrence backward: dL/dh_t (+)= nextGrads (B,G·H)·Whᵀ, the recurrent gradient of the
    /// step processed before (accumulated onto the direct part a kept-projection cell left in DhRec), or, on the
    /// first step, DhRec and Dc as <see cref="CellStep.DhRecIsZero"/> says; then <see cref="CellBackward"/>. A set may fuse the two.
    /// </summary>
    void CellStepBackward(RecurrentCell cell, in CellStep step, ArrayView<float> recurrentWeights, ArrayView<float> recurrentWeightsT,
        ArrayView<float> nextGrads);

    /// <summary>
    /// A layer's whole recurrence forward (haste's Run): <see cref="CellStepForward"/> for each step of
    /// <paramref name="run"/> in order, recurrentWeights (H,G·H) and recurrentBias (G·H, a kept projection's b_hh, or
    /// empty). A set may run the sequence as one call; the results are those of the step-by-step loop.
    /// </summary>
    void RecurrentForward(RecurrentCell cell, in RecurrentRun run, ArrayView<float> recurrentWeights, ArrayView<float> recurrentBias) =>
        RecurrentStepParts.ForwardSteps(this, cell, run, recurrentWeights, recurrentBias);

    /// <summary>
    /// A layer's whole recurrence backward: <see cref="BeginRecurrentBackward"/> into recurrentWeightsT (G·H,H), then
    /// <see cref="CellStepBackward"/> for each step of <paramref name="run"/> in backward order. A set may run it as one call.
    /// </summary>
    void RecurrentBackward(RecurrentCell cell, in RecurrentRun run, ArrayView<float> recurrentWeights, ArrayView<float> recurrentWeightsT) =>
        RecurrentStepParts.BackwardSteps(this, cell, run, recurrentWeights, recurrentWeightsT);

    /// <summary>True when <see cref="RecurrentForward"/> and <see cref="RecurrentBackward"/> run a sequence as one call (the host set), not step by step.</summary>
    bool RunsWholeRecurrence => false;

    /// <summary>loss (R) and dLogits (R,V) = gradScale·(softmax − onehot); dLogits may alias logits.</summary>
    void SoftmaxCrossEntropy(int rows, int vocab, ArrayView<float> logits, ArrayView<int> targets,
        ArrayView<float> dLogits, ArrayView<float> loss, float gradScale);

    /// <summary>
    /// loss (R) = Σ_k (p − y)²/K per row and dPred (R,K) = gradScale·2·(p − y)/K, for predictions (R,K) and
    /// targets (R,K); dPred may alias predictions.
    /// </summary>
    void MeanSquaredError(int rows, int columns, ArrayView<float> predictions, ArrayView<float> targets,
        ArrayView<float> dPred, ArrayView<float> loss, float gradScale);

    /// <summary>
    /// Gaussian negative log-likelihood (LossKernels.GaussianNll): predictions (R,2K) hold each row's K means
    /// then its K raw scales (σ = softplus(raw) + floor); targets (R,K). loss (R) = the row's mean NLL over K;
    /// dPred (R,2K) = gradScale·its gradient wrt the predictions; dPred may alias predictions.
    /// </summary>
    void GaussianNll(int rows, int horizon, ArrayView<float> predictions, ArrayView<float> targets,
        ArrayView<float> dPred, ArrayView<float> loss, float gradScale);

    /// <summary>
    /// Pinball (quantile) loss (LossKernels.Pinball): predictions (R,Q·K) hold each row's Q blocks of K
    /// forecasts, block q for level quantiles[q] (Q); targets (R,K). loss (R) = the row's mean over Q·K;
    /// dPred (R,Q·K) = gradScale·its gradient; dPred may alias predictions.
    /// </summary>
    void Pinball(int rows, int horizon, int quantileCount, ArrayView<float> predictions, ArrayView<float> targets,
        ArrayView<float> quantiles, ArrayView<float> dPred, ArrayView<float> loss, float gradScale);

    /// <summary>sum (N) [+]= column sums of x (R,N).</summary>
    void ColumnSum(int rows, int columns, ArrayView<float> x, ArrayView<float> sum, bool accumulate);

    /// <summary>One Adam step over every parameter.</summary>
    void AdamStep(ArrayView<float> parameters, ArrayView<float> grads, ArrayView<float> m, ArrayView<float> v, in AdamStepArgs args);

    /// <summary>partials (S): strided partial sums of x² for the global gradient norm.</summary>
    void SumOfSquaresPartials(ArrayView<float> x, ArrayView<float> partials);

    /// <summary>output (C,R) = inputᵀ for input (R,C).</summary>
    void Transpose(ArrayView<float> input, ArrayView<float> output, int rows, int columns);

    /// <summary>
    /// Inverted dropout: mask (N) = 0 or 1/(1 − rate), y (N) = x·mask. The mask is a hash of (key, index), so
    /// every kernel set draws the same one.
    /// </summary>
    void DropoutForward(ArrayView<float> x, ArrayView<float> mask, ArrayView<float> y, float rate, uint key);

    /// <summary>dx (N) = dy·mask; dx may alias dy.</summary>
    void DropoutBackward(ArrayView<float> dy, ArrayView<float> mask, ArrayView<float> dx);

    /// <summary>
    /// destination[r·ds + do + c] = source[r·ss + so + c] for r &lt; rows, c &lt; columns: a (R,C) column block
    /// of source (R,ss) copied into destination (R,ds); the destination's other columns are left alone.
    /// source and destination must not overlap.
    /// </summary>
    void CopyColumns(int rows, int columns, ArrayView<float> source, int sourceStride, int sourceOffset,
        ArrayView<float> destination, int destinationStride, int destinationOffset);

    /// <summary>destination (N) += source (N) (same length, no overlap).</summary>
    void Accumulate(ArrayView<float> source, ArrayView<float> destination);

    void Zero(ArrayView<float> x);

    /// <summary>destination = source (same length, no overlap).</summary>
    void Copy(ArrayView<float> source, ArrayView<float> destination);

    void Synchronize();
}

/// <summary>
/// One training step's end, as <see cref="IKernelSet.FinishStep"/> takes it: the step's per-row losses, the flat
/// parameter, gradient and moment buffers, Adam's scalars (its GradScale is decided on the device), the
/// global-norm clip (0: none) and the outcome slot (steps alternate between two, so the host can read one
/// while the device runs the next).
/// </summary>
internal readonly record struct StepFinish(ArrayView<float> RowLosses, ArrayView<float> Parameters, ArrayView<float> Grads,
    ArrayView<float> M, ArrayView<float> V, AdamStepArgs Args, double ClipNorm, int Slot);

/// <summary>What the host learns about a finished step: Σ row losses, the gradients' global L2 norm, whether this step's loss or norm was not finite, and whether Adam was skipped (this step or an earlier one diverged).</summary>
internal readonly record struct StepOutcome(double LossSum, double GradientNorm, bool Diverged, bool Halted);

/// <summary>
/// A batch's token ids grouped by id (<see cref="Data.TokenOrder.Sort"/>, on the host, once per batch): Order (R)
/// the rows of id 0, then id 1, … each in increasing row; Offsets (V+1) where each id's rows start. Empty when
/// the kernel set does not ask for them.
/// </summary>
internal readonly record struct TokenRows(ArrayView<int> Order, ArrayView<int> Offsets)
{
    public bool IsEmpty => Order.Length == 0;
}

