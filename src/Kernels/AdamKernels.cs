using ILGPU;

namespace GpuLstm.Kernels;

/// <summary>Per-step scalars of the Adam update, computed once on the host in float64.</summary>
internal readonly struct AdamStepArgs
{
    /// <summary>lr·√(1−β2ᵗ)/(1−β1ᵗ): Keras folds both bias corrections into the step size.</summary>
    public readonly float StepSize;
    public readonly float Beta1, Beta2, Epsilon;
    /// <summary>Multiplies every gradient first: 1, or the global-norm clipping factor.</summary>
    public readonly float GradScale;

    public AdamStepArgs(float stepSize, float beta1, float beta2, float epsilon, float gradScale)
    {
        StepSize = stepSize; Beta1 = beta1; Beta2 = beta2; Epsilon = epsilon; GradScale = gradScale;
    }
}

/// <summary>The optimizer and its helpers, over the one flat buffer that holds every parameter.</summary>
internal static class AdamKernels
{
    /// <summary>
    /// index: 0..P. Keras's Adam: m ← β1·m + (1−β1)·g, v ← β2·v + (1−β2)·g², p ← p − step·m/(√v + ε).
    /// One launch updates every tensor of the model because they share one buffer.
    /// </summary>
    public static void Step(
        Index1D index,
        ArrayView<float> parameters, // (P)
        ArrayView<float> grads,      // (P)
        ArrayView<float> m,          // (P) first moment
        ArrayView<float> v,          // (P) second moment
        AdamStepArgs args)
    {
        float g = grads[index] * args.GradScale;
        float mi = args.Beta1 * m[index] + (1f - args.Beta1) * g;
        float vi = args.Beta2 * v[index] + (1f - args.Beta2) * g * g;
        m[index] = mi;
        v[index] = vi;
        parameters[index] -= args.StepSize * mi / (MathF.Sqrt(vi) + args.Epsilon);
    }

    /// <summary>
    /// index: 0..S. Thread s sums x[s], x[s+S], x[s+2S], … squared. The host adds the S partials in
    /// float64, which keeps the global norm deterministic (no atomics) and needs no barriers.
    /// </summary>
    public static void SumOfSquaresPartials(
        Index1D index,
        ArrayView<float> x,        // (P)
        ArrayView<float> partials, // (S) out
        int length)                // P
    {
        int stride = (int)partials.Length;
        float acc = 0f;
        for (int i = index; i < length; i += stride) acc += x[i] * x[i];
        partials[index] = acc;
    }
}
