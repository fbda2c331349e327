using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace GpuLstm.Runtime.Compute.Host;

/// <summary>
/// Softmax cross-entropy over rows of logits at memory speed: per row, the logits are read from memory once and
/// the gradient gradScale·(softmax − onehot(target)) written once (see <see cref="Row"/>). Exponentials are
/// <see cref="HostMath.Exp"/> (Cephes, ~2 ulp), eight lanes at a time. Rows are split over the worker pool in fixed parts, so results do not depend on the threads.
/// Each element is read before its gradient is written, so the gradient may overwrite the logits in place.
/// </summary>
internal sealed unsafe class HostSoftmax : IParallelWork
{
    /// <summary>Below this many logits one thread is faster than waking the others.</summary>
    private const long ParallelElements = 1L << 15;

    private readonly WorkerPool _pool;
    private int _rows, _vocab;
    private float* _logits, _dLogits, _loss;
    private int* _targets;
    private float _gradScale;

    public HostSoftmax(WorkerPool pool) => _pool = pool;

    /// <param name="logits">(rows, vocab) row-major.</param>
    /// <param name="targets">(rows): each row's target id, 0 ≤ id &lt; vocab.</param>
    /// <param name="dLogits">(rows, vocab): the gradient; may be <paramref name="logits"/>.</param>
    /// <param name="loss">(rows): −log softmax(logits)[target] per row.</param>
    public void Run(int rows, int vocab, float* logits, int* targets, float* dLogits, float* loss, float gradScale)
    {
        _rows = rows; _vocab = vocab; _logits = logits; _targets = targets; _dLogits = dLogits; _loss = loss; _gradScale = gradScale;
        int parts = (long)rows * vocab < ParallelElements ? 1 : Math.Min(_pool.Threads, rows);
        _pool.Run(this, parts);
    }

    void IParallelWork.Run(int part, int parts)
    {
        int from = (int)((long)_rows * part / parts), to = (int)((long)_rows * (part + 1) / parts);
        for (int r = from; r < to; r++)
            Row(_logits + (long)r * _vocab, _dLogits + (long)r * _vocab, _vocab, _targets[r], _gradScale, out _loss[r]);
    }

    /// <summary>
    /// One row: its loss, and its gradient over <paramref name="d"/> (which may be <paramref name="x"/>). Three
    /// sweeps, of which only the first reads memory: a word vocabulary's row (40 KB at V 10,000) stays in L2
    /// after it. The maximum; then e = exp(x − max), stored into d and summed; then d = gradScale·e/sum. One
    /// exponential per logit, where an online softmax needs a second one to rescale and the gradient pass a third.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Row(float* x, float* d, int vocab, int target, float gradScale, out float loss)
    {
        float max = HostMath.Max(x, vocab);
        float xt = x[target];
        float sum = HostMath.ExpAndSum(x, d, vocab, max);
        loss = MathF.Log(sum) - (xt - max);
        float invSum = 1f / sum;
        var inv = Vector256.Create(invSum);
        var scale = Vector256.Create(gradScale);
        int v = 0;
        for (; v + 8 <= vocab; v += 8)
            (scale * (Vector256.Load(d + v) * inv)).Store(d + v);
        for (; v < vocab; v++) d[v] = gradScale * (d[v] * invSum);
        // The target's element, from the value read before the sweeps (d may be x).
        d[target] = gradScale * (HostMath.ExpOne(xt - max) * invSum - 1f);
    }
}
