using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using GpuLstm.Runtime.Compute.Host;

namespace GpuLstm.Runtime.Sampling;

/// <summary>
/// One token from a row of logits, as the notebook's sample() draws it: p = softmax(logits), then weights
/// exp(log(p + 1e-8)/T), normalized, one multinomial draw. Vectorized for word vocabularies (10,000–50,000 a
/// token) without a log or exp per token where they cancel: with e = exp(logits − max) and S = Σe,
/// log(p + ε)/T − max = log((e + εS)/(1 + εS))/T, so the weights are ((e + εS)/(1 + εS))^(1/T); at T = 1 that is
/// e + εS up to a constant, with no transcendental at all. Exponentials and logs are <see cref="HostMath"/>'s
/// (float, ~2 ulp); the probabilities are float, as the notebook's model.predict returns them.
/// <list type="bullet">
/// <item>Top-k keeps the tokens whose logit is at least the k-th largest (ties all stay), found by a partial
/// selection (quickselect) rather than a sort.</item>
/// <item>Greedy is an argmax over the logits (softmax is monotone): the first of equal maxima.</item>
/// </list>
/// </summary>
internal static unsafe class TokenDraw
{
    /// <summary>The ε of log(p + ε): the notebook's 1e-8.</summary>
    public const float Epsilon = 1e-8f;

    /// <summary>The index of the largest logit, the first of equals.</summary>
    public static int ArgMax(ReadOnlySpan<float> logits)
    {
        int best = 0;
        for (int i = 1; i < logits.Length; i++) if (logits[i] > logits[best]) best = i;
        return best;
    }

    /// <summary>
    /// A draw at <paramref name="temperature"/> among the <paramref name="topK"/> most likely tokens (0: all).
    /// <paramref name="weights"/> and <paramref name="selection"/> are scratch of the logits' length.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Draw(ReadOnlySpan<float> logits, double temperature, int topK, Rng rng, float[] weights, float[] selection)
    {
        int n = logits.Length;
        Weights(logits, temperature, topK, weights, selection);
        fixed (float* w = weights, blockSums = selection)
        {
            // Blocks of 8 weights summed in vectors, the blocks' sums added in order: the walk below skips whole
            // blocks, so a draw costs n/8 dependent additions instead of n.
            int blocks = (n + 7) / 8;
            double total = 0;
            for (int j = 0; j < blocks; j++)
            {
                int i = 8 * j;
                float b = i + 8 <= n ? Vector256.Sum(Vector256.Load(w + i)) : Tail(w, i, n);
                blockSums[j] = b;
                total += b;
            }
            double u = rng.NextDouble() * total, cumulative = 0;
            for (int j = 0; j < blocks; j++)
            {
                double next = cumulative + blockSums[j];
                if (u < next)
                {
                    int end = Math.Min(n, 8 * j + 8), last = -1;
                    for (int i = 8 * j; i < end; i++)
                    {
                        cumulative += w[i];
                        if (w[i] > 0) last = i;
                        if (u < cumulative) return i;
                    }
                    // Rounding between the block's vector sum and its running sum: the block's last weighted token.
                    if (last >= 0) return last;
                }
                cumulative = next;
            }
            // u landed in the rounding gap at the top: the last token with any weight.
            for (int i = n - 1; i >= 0; i--) if (w[i] > 0) return i;
            return n - 1;
        }
    }

    private static float Tail(float* w, int from, int n)
    {
        float sum = 0f;
        for (int i = from; i < n; i++) sum += w[i];
        return sum;
    }

    /// <summary>
    /// The unnormalized weights of the draw into <paramref name="weights"/>: proportional to
    /// exp(log(p + ε)/T) with p the softmax of the logits, zero before the ε for tokens outside the top k.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Weights(ReadOnlySpan<float> logits, double temperature, int topK, float[] weights, float[] selection)
    {
        int n = logits.Length;
        fixed (float* x = logits, w = weights)
        {
            float max = HostMath.Max(x, n);
            float sum = HostMath.ExpAndSum(x, w, n, max);
            if (topK > 0 && topK < n)
            {
                float kth = KthLargest(logits, topK, selection);
                for (int i = 0; i < n; i++) if (x[i] < kth) w[i] = 0f;
            }
            Reweight(w, n, Epsilon * sum, (float)(1.0 / temperature));
        }
    }

    /// <summary>The k-th largest of <paramref name="values"/> (k ≥ 1), by quickselect on a copy: O(n) on average.</summary>
    public static float KthLargest(ReadOnlySpan<float> values, int k, float[] scratch)
    {
        var a = scratch.AsSpan(0, values.Length);
        values.CopyTo(a);
        int lo = 0, hi = a.Length - 1, target = k - 1;   // the target-th in descending order
        while (lo < hi)
        {
            // Median of three as the pivot, then a three-way partition: > pivot | == pivot | < pivot.
            float p = MedianOfThree(a[lo], a[(lo + hi) >>> 1], a[hi]);
            int lt = lo, i = lo, gt = hi;
            while (i <= gt)
            {
                if (a[i] > p)
                {
                    (a[lt], a[i]) = (a[i], a[lt]);
                    lt++; i++;
                }
                else if (a[i] < p)
                {
                    (a[i], a[gt]) = (a[gt], a[i]);
                    gt--;
                }
                else i++;
            }
            if (target < lt) hi = lt - 1;
            else if (target > gt) lo = gt + 1;
            else return p;
        }
        return a[target];
    }

    private static float MedianOfThree(float a, float b, float c) => MathF.Max(MathF.Min(a, b), MathF.Min(MathF.Max(a, b), c));

    /// <summary>w = ((w + floor)/(1 + floor))^invT, or w + floor at T = 1 (the draw ignores a common factor).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Reweight(float* w, int n, float floor, float invT)
    {
        var f = Vector256.Create(floor);
        int i = 0;
        if (invT == 1f)
        {
            for (; i + 8 <= n; i += 8) (Vector256.Load(w + i) + f).Store(w + i);
            for (; i < n; i++) w[i] += floor;
            return;
        }
        var norm = Vector256.Create(1f / (1f + floor));
        var t = Vector256.Create(invT);
        for (; i + 8 <= n; i += 8)
            HostMath.Exp(HostMath.Log((Vector256.Load(w + i) + f) * norm) * t).Store(w + i);
        for (; i < n; i++)
            w[i] = HostMath.Exp(HostMath.Log(Vector256.Create((w[i] + floor) * (1f / (1f + floor)))) * t).ToScalar();
    }
}
