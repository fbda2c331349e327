using ILGPU;

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
}
