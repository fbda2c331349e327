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

/// <summary>
/// The device's record of a training step (a small float buffer), written by <see cref="AdamKernels.StepGuard"/>
/// and read by <see cref="AdamKernels.GuardedStep"/> and, one step later, by the host.
/// </summary>
internal static class StepStatus
{
    /// <summary>Σ of the step's row losses.</summary>
    public const int LossSum = 0;
    /// <summary>Σ of the squared gradients (the global norm squared).</summary>
    public const int NormSquared = 1;
    /// <summary>The factor Adam multiplies every gradient by: min(1, clip/norm), or 1 without clipping.</summary>
    public const int Scale = 2;
    /// <summary>1 once any step's loss or norm was not finite: sticky, so no later step touches the weights either.</summary>
    public const int Halted = 3;
    /// <summary>1 when this step's own loss or norm was not finite.</summary>
    public const int Diverged = 4;
    public const int Length = 8;
}

/// <summary>The optimizer and its helpers, over the one flat buffer that holds every parameter.</summary>
internal static class AdamKernels
{
    /// <summary>Threads in a group of <see cref="StepGuard"/>.</summary>
    public const int GuardGroupSize = 256;

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
        Update(index, parameters, grads, m, v, args, args.GradScale);
    }

    /// <summary>
    /// index: 0..P. <see cref="Step"/> with the clip scale and the halt flag that <see cref="StepGuard"/> left in
    /// status (args.GradScale is ignored): a halted step leaves parameters and moments untouched, and the host
    /// learns why from status without having waited for it.
    /// </summary>
    public static void GuardedStep(
        Index1D index,
        ArrayView<float> parameters, // (P)
        ArrayView<float> grads,      // (P)
        ArrayView<float> m,          // (P) first moment
        ArrayView<float> v,          // (P) second moment
        AdamStepArgs args,
        ArrayView<float> status)     // (StepStatus.Length)
    {
        if (status[StepStatus.Halted] != 0f) return;
        Update(index, parameters, grads, m, v, args, status[StepStatus.Scale]);
    }

    private static void Update(int index, ArrayView<float> parameters, ArrayView<float> grads, ArrayView<float> m, ArrayView<float> v,
        AdamStepArgs args, float gradScale)
    {
        float g = grads[index] * gradScale;
        float mi = args.Beta1 * m[index] + (1f - args.Beta1) * g;
        float vi = args.Beta2 * v[index] + (1f - args.Beta2) * g * g;
        m[index] = mi;
        v[index] = vi;
        parameters[index] -= args.StepSize * mi / (MathF.Sqrt(vi) + args.Epsilon);
    }

    /// <summary>
    /// index: 0..S, stage 1 of a step's two reductions, with no barriers: partials[s] = Σ grads[i]² over
    /// i ≡ s (mod S) and partials[S + s] = Σ rowLosses[r] over r ≡ s (mod S), each in increasing order. Adjacent
    /// threads read adjacent elements (coalesced); every sum has a fixed order, so the result is deterministic.
    /// </summary>
    public static void StepPartials(
        Index1D index,
        ArrayView<float> grads,     // (P)
        ArrayView<float> rowLosses, // (R)
        ArrayView<float> partials,  // (2S) out
        int strideS)                // S
    {
        float squares = 0f;
        for (long i = index; i < grads.Length; i += strideS) squares += grads[i] * grads[i];
        float losses = 0f;
        for (long r = index; r < rowLosses.Length; r += strideS) losses += rowLosses[r];
        partials[index] = squares;
        partials[strideS + index] = losses;
    }

    /// <summary>
    /// Stage 1 on a GPU: G groups of <see cref="GuardGroupSize"/> threads, so that enough threads stream the
    /// gradients to use the memory system. Thread t of group g sums squares of grads[i] and the row losses over
    /// i ≡ 256·g + t (mod 256·G), in increasing order; a shared-memory tree (fixed pairs) adds the group's 256 sums
    /// into partials[g] and partials[G + g]. Deterministic, no atomics.
    /// </summary>
    public static void StepPartialsGrouped(
        ArrayView<float> grads,     // (P)
        ArrayView<float> rowLosses, // (R)
        ArrayView<float> partials)  // (2G) out, G = the grid's groups
    {
        var squares = SharedMemory.Allocate<float>(GuardGroupSize);
        var losses = SharedMemory.Allocate<float>(GuardGroupSize);
        int t = Group.IdxX, groups = Grid.DimX;
        long stride = (long)groups * GuardGroupSize, start = (long)Grid.IdxX * GuardGroupSize + t;
        float sq = 0f, ls = 0f;
        for (long i = start; i < grads.Length; i += stride) sq += grads[i] * grads[i];
        for (long r = start; r < rowLosses.Length; r += stride) ls += rowLosses[r];
        SumOverGroup(squares, losses, t, sq, ls);
        if (t == 0)
        {
            partials[Grid.IdxX] = squares[0];
            partials[groups + Grid.IdxX] = losses[0];
        }
    }

    /// <summary>
    /// One group of <see cref="GuardGroupSize"/> threads, stage 2 and the step's decision: thread t sums partials
    /// t, t+256, … of each kind, a shared-memory tree (fixed pairs) adds the 256 sums, and thread 0 writes the
    /// loss sum, the squared norm, the clip scale min(1, clip/norm) and the halt flags into status. A loss or norm
    /// that is not finite halts this step and every later one (the flag is sticky until the host resets it).
    /// </summary>
    public static void StepGuard(
        ArrayView<float> partials, // (2S) from StepPartials
        int strideS,               // S
        float clipNorm,            // 0: no clipping
        ArrayView<float> status)   // (StepStatus.Length) in and out
    {
        var squares = SharedMemory.Allocate<float>(GuardGroupSize);
        var losses = SharedMemory.Allocate<float>(GuardGroupSize);
        int t = Group.IdxX;
        float sq = 0f, ls = 0f;
        for (int s = t; s < strideS; s += GuardGroupSize)
        {
            sq += partials[s];
            ls += partials[strideS + s];
        }
        SumOverGroup(squares, losses, t, sq, ls);
        if (t == 0) Decide(squares[0], losses[0], clipNorm, status);
    }

    /// <summary>
    /// Thread t's two values into the group's shared arrays, then a tree over fixed pairs (t and t + half, half
    /// = 128, 64, … 1) leaves the group's two sums in element 0 of each. Every thread of the group must call it.
    /// </summary>
    private static void SumOverGroup(ArrayView<float> first, ArrayView<float> second, int t, float firstValue, float secondValue)
    {
        first[t] = firstValue;
        second[t] = secondValue;
        Group.Barrier();
        for (int half = GuardGroupSize / 2; half > 0; half /= 2)
        {
            if (t < half)
            {
                first[t] += first[t + half];
                second[t] += second[t + half];
            }
            Group.Barrier();
        }
    }

    /// <summary>index: 0..1, stage 2 for ILGPU's CPU accelerator, whose barriers are OS-thread barriers: one thread adds the 2S partials in order.</summary>
    public static void StepGuardSerial(
        Index1D index,
        ArrayView<float> partials, // (2S) from StepPartials
        int strideS,               // S
        float clipNorm,            // 0: no clipping
        ArrayView<float> status)   // (StepStatus.Length) in and out
    {
        float sq = 0f, ls = 0f;
        for (int s = 0; s < strideS; s++)
        {
            sq += partials[s];
            ls += partials[strideS + s];
        }
        Decide(sq, ls, clipNorm, status);
    }

    private static void Decide(float normSquared, float lossSum, float clipNorm, ArrayView<float> status)
    {
        bool finite = !float.IsNaN(normSquared) && !float.IsInfinity(normSquared) && !float.IsNaN(lossSum) && !float.IsInfinity(lossSum);
        float norm = MathF.Sqrt(normSquared);
        status[StepStatus.LossSum] = lossSum;
        status[StepStatus.NormSquared] = normSquared;
        status[StepStatus.Scale] = clipNorm > 0f && norm > clipNorm ? clipNorm / norm : 1f;
        status[StepStatus.Diverged] = finite ? 0f : 1f;
        if (!finite) status[StepStatus.Halted] = 1f;
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
