using ILGPU;

namespace GpuLstm.Kernels;

/// <summary>Softmax cross-entropy with its gradient in the same pass over the logits.</summary>
public static class LossKernels
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
}
