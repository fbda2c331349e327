using ILGPU;
using ILGPU.Runtime;

namespace GpuLstm.Kernels;

/// <summary>Losses fused with their gradients: each kernel reads its row once and writes loss and gradient in the same pass.</summary>
internal static class LossKernels
{
    /// <summary>
    /// index: 0..R, one row (one predicted position) per thread. Writes −log softmax(logits)[target]
    /// and gradScale·(softmax − onehot(target)). dLogits may alias logits: each thread reads its row
    /// completely before writing it.
    /// </summary>
    public static void SoftmaxCrossEntropy(
        Index1D row,
        ArrayView<float> logits,   // (R,V)
        ArrayView<int> targets,    // (R) class ids in 0..V
        ArrayView<float> dLogits,  // (R,V) out: gradScale·(p − onehot)
        ArrayView<float> loss,     // (R) out: −log p[target]
        int vocab,                 // V
        float gradScale)           // 1/R for a mean over rows
    {
        int start = row * vocab;
        float max = logits[start];
        for (int v = 1; v < vocab; v++) max = MathF.Max(max, logits[start + v]);
        float sum = 0f;
        for (int v = 0; v < vocab; v++) sum += MathF.Exp(logits[start + v] - max);
        int target = targets[row];
        float logSum = MathF.Log(sum);
        loss[row] = logSum - (logits[start + target] - max);
        float invSum = 1f / sum;
        for (int v = 0; v < vocab; v++)
        {
            float p = MathF.Exp(logits[start + v] - max) * invSum;
            dLogits[start + v] = gradScale * (v == target ? p - 1f : p);
        }
    }

    /// <summary>
    /// Most threads a group of <see cref="SoftmaxCrossEntropyRows"/> may have: the length of its two shared
    /// reduction arrays (2 KB of shared memory a group).
    /// </summary>
    public const int SoftmaxRowsMaxGroup = 256;

    /// <summary>
    /// The same contract as <see cref="SoftmaxCrossEntropy"/>, for word vocabularies (V in the thousands):
    /// one group per row instead of one thread per row. Launch with <see cref="SoftmaxRowsConfig"/>:
    /// grid R, group G = a power of two, at most <see cref="SoftmaxRowsMaxGroup"/>. Thread t of a group
    /// owns the row's elements v ≡ t (mod G), so a warp's loads are adjacent (coalesced), where the
    /// one-thread-per-row kernel's were V floats apart.
    /// <para>
    /// Three passes over the row: the maximum, the sum of exp(x − max), and the writes. The maximum and the
    /// sum go through a shared-memory tree in a fixed order (each thread's strided elements in increasing v,
    /// then pairs t, t + G/2, …), so for a given V and G the result is the same on every run. No atomics, and
    /// not ILGPU.Algorithms' group reductions: those merge the warps' partials with AtomicApply, in whatever
    /// order the warps arrive.
    /// </para>
    /// <para>
    /// dLogits may alias logits: every element is read and written only by the thread that owns it, and the
    /// write pass reads an element just before writing it. The one element another thread would need, the
    /// target's logit for the loss, is not read by thread 0: the target's owner writes loss[row] when it
    /// reaches it, from the value it has just read.
    /// </para>
    /// <para>
    /// R·V must stay below 2³¹, as for the old kernel (int offsets): 40,000 rows at V 50,000.
    /// </para>
    /// </summary>
    public static void SoftmaxCrossEntropyRows(
        ArrayView<float> logits,   // (R,V)
        ArrayView<int> targets,    // (R) class ids in 0..V
        ArrayView<float> dLogits,  // (R,V) out: gradScale·(p − onehot); may be logits itself
        ArrayView<float> loss,     // (R) out: −log p[target]
        int vocab,                 // V
        float gradScale)           // 1/R for a mean over rows
    {
        var maxima = SharedMemory.Allocate<float>(SoftmaxRowsMaxGroup); // (G) each thread's maximum, then the tree's
        var sums = SharedMemory.Allocate<float>(SoftmaxRowsMaxGroup);   // (G) each thread's Σ exp, then the tree's
        int row = Grid.IdxX;
        int thread = Group.IdxX;
        int threads = Group.DimX;  // G, a power of two: the tree halves it
        int start = row * vocab;

        // Threads past V (a group wider than a small row) keep −∞ and 0, the identities of max and +.
        float max = float.NegativeInfinity;
        for (int v = thread; v < vocab; v += threads) max = MathF.Max(max, logits[start + v]);
        maxima[thread] = max;
        Group.Barrier();
        for (int half = threads >> 1; half > 0; half >>= 1)
        {
            if (thread < half) maxima[thread] = MathF.Max(maxima[thread], maxima[thread + half]);
            Group.Barrier();
        }
        max = maxima[0];

        // A separate array for the sums: thread 0 may store its partial sum while others still read maxima[0].
        float sum = 0f;
        for (int v = thread; v < vocab; v += threads) sum += MathF.Exp(logits[start + v] - max);
        sums[thread] = sum;
        Group.Barrier();
        for (int half = threads >> 1; half > 0; half >>= 1)
        {
            if (thread < half) sums[thread] += sums[thread + half];
            Group.Barrier();
        }
        sum = sums[0];

        int target = targets[row];
        float logSum = MathF.Log(sum);
        float invSum = 1f / sum;
        for (int v = thread; v < vocab; v += threads)
        {
            float x = logits[start + v];
            float p = MathF.Exp(x - max) * invSum;
            if (v == target) loss[row] = logSum - (x - max);
            dLogits[start + v] = gradScale * (v == target ? p - 1f : p);
        }
    }

    /// <summary>
    /// The launch of <see cref="SoftmaxCrossEntropyRows"/>: one group per row, G = the smallest power of two
    /// ≥ V, at least a warp and at most <see cref="SoftmaxRowsMaxGroup"/>.
    /// <para>
    /// Why 256 for large V rather than a warp per row: at V 10,000–50,000 a 256-thread group gives each thread
    /// 40–200 loads a pass, plenty to hide the 18 barriers of the two trees (1 + log₂ 256 each), and a row's three passes
    /// stream with 8 warps of loads in flight instead of one. A warp per row would also leave the GPU short of
    /// work at the usual R = B·T ≈ 4,000 rows: 4,000 warps, about half of what an H100's 132 SMs hold
    /// resident (64 warps each). Why not wider: R groups of 256 already fill it, and a wider group only adds
    /// tree steps and more threads waiting at every barrier.
    /// </para>
    /// <para>
    /// Why fewer threads for small V: with V ≤ 256 every thread holds at most one element, so a wider group
    /// would only add idle threads and tree steps; at V ≤ warp size the group is one warp (a warp per row),
    /// whose barriers cost almost nothing. A group smaller than a warp would still occupy a whole warp.
    /// </para>
    /// </summary>
    public static KernelConfig SoftmaxRowsConfig(
        int rows,     // R
        int vocab,    // V ≥ 1
        int warpSize) // the accelerator's (32 NVIDIA, 64 AMD, 16 in the tests' CPU accelerator); a power of two
    {
        if (vocab < 1) throw new ArgumentOutOfRangeException(nameof(vocab), $"the vocabulary must have at least one class, got {vocab}");
        if (warpSize < 1 || (warpSize & (warpSize - 1)) != 0 || warpSize > SoftmaxRowsMaxGroup)
            throw new ArgumentOutOfRangeException(nameof(warpSize), $"the warp size must be a power of two up to {SoftmaxRowsMaxGroup}, got {warpSize}");
        int threads = warpSize;
        while (threads < vocab && threads < SoftmaxRowsMaxGroup) threads <<= 1;
        return new KernelConfig(new Index1D(rows), new Index1D(threads));
    }

    /// <summary>
    /// index: 0..R, one row (one forecast of K values) per thread. Writes loss[r] = Σ_k (p − y)² / K and
    /// dPred = gradScale·2·(p − y)/K. dPred may alias predictions: each element is read before it is written,
    /// and the row's loss sums the differences as they are read.
    /// </summary>
    public static void MeanSquaredError(
        Index1D row,
        ArrayView<float> predictions, // (R,K)
        ArrayView<float> targets,     // (R,K)
        ArrayView<float> dPred,       // (R,K) out: gradScale·2·(p − y)/K
        ArrayView<float> loss,        // (R) out: mean over the row's K squared errors
        int columns,                  // K
        float gradScale)              // 1/R for a mean over rows
    {
        int start = row * columns;
        float invK = 1f / columns;
        float scale = 2f * gradScale * invK;
        float sum = 0f;
        for (int k = 0; k < columns; k++)
        {
            float d = predictions[start + k] - targets[start + k];
            sum += d * d;
            dPred[start + k] = scale * d;
        }
        loss[row] = sum * invK;
    }

    /// <summary>
    /// The smallest standard deviation the Gaussian head can predict, in the scaled series' units (the scaler
    /// makes the training part's standard deviation 1): without it a head that fits a flat stretch exactly
    /// drives σ to 0 and the log-likelihood to −∞.
    /// </summary>
    public const float GaussianScaleFloor = 1e-3f;

    /// <summary>½·log(2π): makes the Gaussian row loss a true negative log-density, comparable across runs.</summary>
    public const float HalfLogTwoPi = 0.918938533f;

    /// <summary>σ = softplus(raw) + <see cref="GaussianScaleFloor"/>, computed without overflow for any raw.</summary>
    public static float GaussianScale(float raw) =>
        MathF.Max(raw, 0f) + Log1p(MathF.Exp(-MathF.Abs(raw))) + GaussianScaleFloor;

    /// <summary>
    /// log(1 + x) for x ≥ 0, accurate to a few ulps where 1 + x rounds (Goldberg's trick: the rounding of 1 + x is
    /// divided back out). A plain log(1 + x) loses up to a third of σ's digits for raw ≪ 0, where σ is the floor
    /// plus a tiny softplus; z² = ((y − μ)/σ)² then carries that error into the loss.
    /// </summary>
    public static float Log1p(float x)
    {
        float u = 1f + x;
        return u == 1f ? x : MathF.Log(u) * (x / (u - 1f));
    }

    /// <summary>
    /// index: 0..R, one row (one forecast of K steps) per thread. The head gives each step a mean μ and a raw
    /// scale s; σ = softplus(s) + floor (<see cref="GaussianScale"/>). Writes the row's mean negative
    /// log-likelihood over its K steps, loss[r] = Σ_k (log σ + ½z² + ½log 2π)/K with z = (y − μ)/σ, and its
    /// gradient scaled by gradScale: dμ = (μ − y)/σ²·c, ds = (1 − z²)/σ · sigmoid(s)·c with c = gradScale/K
    /// (sigmoid is softplus' derivative). dPred may alias predictions: each step's μ and s are read before
    /// either gradient is written, and no other step reads them.
    /// </summary>
    public static void GaussianNll(
        Index1D row,
        ArrayView<float> predictions, // (R,2K): row r is [μ_0..μ_{K−1}, s_0..s_{K−1}]
        ArrayView<float> targets,     // (R,K)
        ArrayView<float> dPred,       // (R,2K) out: gradScale·∂(row loss)/∂[μ, s]
        ArrayView<float> loss,        // (R) out: mean over the row's K negative log-likelihoods
        int horizon,                  // K
        float gradScale)              // 1/R for a mean over rows
    {
        int start = row * 2 * horizon;
        int targetStart = row * horizon;
        float invK = 1f / horizon;
        float c = gradScale * invK;
        float sum = 0f;
        for (int k = 0; k < horizon; k++)
        {
            float mean = predictions[start + k];
            float raw = predictions[start + horizon + k];
            float e = MathF.Exp(-MathF.Abs(raw));
            float sigma = MathF.Max(raw, 0f) + Log1p(e) + GaussianScaleFloor;
            float sigmoid = raw >= 0f ? 1f / (1f + e) : e / (1f + e);
            float invSigma = 1f / sigma;
            float z = (targets[targetStart + k] - mean) * invSigma;
            sum += MathF.Log(sigma) + 0.5f * z * z + HalfLogTwoPi;
            dPred[start + k] = -c * z * invSigma;
            dPred[start + horizon + k] = c * (1f - z * z) * invSigma * sigmoid;
        }
        loss[row] = sum * invK;
    }

    /// <summary>
    /// index: 0..R, one row per thread. The head gives each of Q quantile levels τ_q a forecast of K steps;
    /// with u = y − p, the pinball loss of one output is max(τ·u, (τ − 1)·u). Writes the row's mean over its
    /// Q·K outputs and the gradient scaled by gradScale: ∂/∂p = (1 − τ) where p ≥ y (the subgradient picked at
    /// p = y), −τ where p &lt; y, each times gradScale/(Q·K). dPred may alias predictions.
    /// </summary>
    public static void Pinball(
        Index1D row,
        ArrayView<float> predictions, // (R,Q·K): row r is Q blocks of K, block q the forecasts of level τ_q
        ArrayView<float> targets,     // (R,K)
        ArrayView<float> quantiles,   // (Q) levels τ in (0,1)
        ArrayView<float> dPred,       // (R,Q·K) out: gradScale·∂(row loss)/∂p
        ArrayView<float> loss,        // (R) out: mean pinball loss over the row's Q·K outputs
        int horizon,                  // K
        int quantileCount,            // Q
        float gradScale)              // 1/R for a mean over rows
    {
        int outputs = quantileCount * horizon;
        int start = row * outputs;
        int targetStart = row * horizon;
        float invN = 1f / outputs;
        float c = gradScale * invN;
        float sum = 0f;
        for (int q = 0; q < quantileCount; q++)
        {
            float tau = quantiles[q];
            for (int k = 0; k < horizon; k++)
            {
                int i = start + q * horizon + k;
                float u = targets[targetStart + k] - predictions[i];
                bool over = u <= 0f; // the forecast is at or above the target
                sum += over ? (tau - 1f) * u : tau * u;
                dPred[i] = c * (over ? 1f - tau : -tau);
            }
        }
        loss[row] = sum * invN;
    }
}
