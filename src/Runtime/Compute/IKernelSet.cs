using GpuLstm.Kernels;
using ILGPU;

namespace GpuLstm.Runtime.Compute;

/// <summary>
/// Every computation the runtime performs, as one interface. Models and the trainer call only this, so a
/// second implementation (a host SIMD set working on the same buffers) slots in without touching them.
/// All views are flat row-major float32 buffers owned by the model; shapes are given with each call.
/// Calls are asynchronous on the set's stream: results are visible after <see cref="Synchronize"/> or a copy.
/// </summary>
public interface IKernelSet : IDisposable
{
    string Name { get; }

    /// <summary>Kernel launches (memsets included) since creation: a cost model for accelerators that pay per launch.</summary>
    long LaunchCount { get; }

    /// <summary>c (M,N) = [c +] op(a) · op(b) [+ bias]; see <see cref="GemmShape"/>. bias may be empty when not added.</summary>
    void Gemm(in GemmShape shape, ArrayView<float> a, ArrayView<float> b, ArrayView<float> bias, ArrayView<float> c);

    /// <summary>output (R,N) = table[ids[r]] + bias: x·W + b for one-hot rows x.</summary>
    void GatherRows(ArrayView<int> ids, ArrayView<float> table, ArrayView<float> bias, ArrayView<float> output, int rows, int columns);

    /// <summary>tableGrad (V,N) = Σ_{r: ids[r] = v} grads[r] in row order: xᵀ·grads for one-hot rows x, deterministically.</summary>
    void ScatterAddRows(ArrayView<int> ids, ArrayView<float> grads, ArrayView<float> tableGrad, int rows, int vocab, int columns);

    /// <summary>Activates gates (B,4H) in place and writes c (B,H), h (B,H) from cPrev (B,H).</summary>
    void LstmCellForward(int batch, int hidden, ArrayView<float> gates, ArrayView<float> cPrev, ArrayView<float> c, ArrayView<float> h);

    /// <summary>
    /// One step of the recurrence: gates (B,4H) += hPrev (B,H)·weights (H,4H), then <see cref="LstmCellForward"/>.
    /// A kernel set may fuse the two (the ILGPU set does, in one launch).
    /// </summary>
    void LstmStepForward(int batch, int hidden, ArrayView<float> hPrev, ArrayView<float> weights, ArrayView<float> gates,
        ArrayView<float> cPrev, ArrayView<float> c, ArrayView<float> h);

    /// <summary>dGates (B,4H) from dh = dhRec (+ dhOut); dc (B,H) goes from dL/dc_t to dL/dc_{t-1} in place.</summary>
    void LstmCellBackward(int batch, int hidden, ArrayView<float> gates, ArrayView<float> cPrev, ArrayView<float> c,
        ArrayView<float> dhOut, bool hasDhOut, ArrayView<float> dhRec, ArrayView<float> dc, ArrayView<float> dGates);

    /// <summary>
    /// GRU step forward (PyTorch's nn.GRU, gates [r z n]): from xproj (B,3H) = x_t·Wx + b_ih and hproj (B,3H) =
    /// hPrev·Wh + b_hh, writes the activated gates [r z n] over xproj and h (B,H) = (1 − z) ⊙ n + z ⊙ hPrev (B,H).
    /// </summary>
    void GruCellForward(int batch, int hidden, ArrayView<float> xproj, ArrayView<float> hproj, ArrayView<float> hPrev, ArrayView<float> h);

    /// <summary>
    /// GRU step backward from dh = dhRec (+ dhOut when hasDhOut), both (B,H), with gates (B,3H) the activations
    /// <see cref="GruCellForward"/> left and hproj (B,3H), hPrev (B,H) its inputs: writes dGatesInput (B,3H), the
    /// gradient of the x-side pre-activations; dGatesHidden (B,3H), that of hproj (equal for r and z, dn ⊙ r for
    /// n); and overwrites dhRec with dh ⊙ z, the direct part of dL/dh_{t-1} (the caller adds dGatesHidden·Whᵀ).
    /// </summary>
    void GruCellBackward(int batch, int hidden, ArrayView<float> gates, ArrayView<float> hproj, ArrayView<float> hPrev,
        ArrayView<float> dhOut, bool hasDhOut, ArrayView<float> dhRec, ArrayView<float> dGatesInput, ArrayView<float> dGatesHidden);

    /// <summary>loss (R) and dLogits (R,V) = gradScale·(softmax − onehot); dLogits may alias logits.</summary>
    void SoftmaxCrossEntropy(int rows, int vocab, ArrayView<float> logits, ArrayView<int> targets,
        ArrayView<float> dLogits, ArrayView<float> loss, float gradScale);

    /// <summary>
    /// loss (R) = Σ_k (p − y)²/K per row and dPred (R,K) = gradScale·2·(p − y)/K, for predictions (R,K) and
    /// targets (R,K); dPred may alias predictions.
    /// </summary>
    void MeanSquaredError(int rows, int columns, ArrayView<float> predictions, ArrayView<float> targets,
        ArrayView<float> dPred, ArrayView<float> loss, float gradScale);

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
