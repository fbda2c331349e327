using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using GpuLstm.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace GpuLstm.Runtime.Compute.Host;

/// <summary>
/// The kernel set for CPUs: the same contracts as <see cref="IlgpuKernelSet"/>, computed by host code with
/// AVX2 (Vector256 + FMA, picked when hardware-accelerated, with scalar fallbacks) directly on the CPU
/// accelerator's buffers, whose memory is host memory: no copies. GEMMs run on a persistent worker pool;
/// pointwise ops are memory-bound at LSTM sizes and run on the calling thread.
/// </summary>
public sealed unsafe class HostKernelSet : IKernelSet
{
    private readonly WorkerPool _pool;
    private readonly HostGemm _gemm;
    private long _calls;

    public HostKernelSet(Accelerator accelerator, int threads = 0)
    {
        if (accelerator.AcceleratorType != AcceleratorType.CPU)
            throw new ArgumentException("the host kernel set works on the CPU accelerator's host-memory buffers");
        _pool = new WorkerPool(threads > 0 ? threads : Environment.ProcessorCount);
        _gemm = new HostGemm(_pool);
    }

    public string Name => $"host-simd ({(Vector256.IsHardwareAccelerated ? "AVX2" : "scalar")}, {_pool.Threads} threads)";
    public long LaunchCount => _calls;

    private static float* P(ArrayView<float> v) => v.Length == 0 ? null : (float*)v.LoadEffectiveAddressAsPtr();
    private static int* P(ArrayView<int> v) => v.Length == 0 ? null : (int*)v.LoadEffectiveAddressAsPtr();

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Gemm(in GemmShape shape, ArrayView<float> a, ArrayView<float> b, ArrayView<float> bias, ArrayView<float> c)
    {
        _calls++;
        _gemm.Run(shape, P(a), P(b), P(bias), P(c));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void GatherRows(ArrayView<int> ids, ArrayView<float> table, ArrayView<float> bias, ArrayView<float> output, int rows, int columns)
    {
        _calls++;
        int* id = P(ids);
        float* t = P(table), b = P(bias), o = P(output);
        for (int r = 0; r < rows; r++)
            HostMath.Add(o + (long)r * columns, t + (long)id[r] * columns, b, columns);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void ScatterAddRows(ArrayView<int> ids, ArrayView<float> grads, ArrayView<float> tableGrad, int rows, int vocab, int columns)
    {
        _calls++;
        int* id = P(ids);
        float* g = P(grads), t = P(tableGrad);
        new Span<float>(t, checked(vocab * columns)).Clear();
        // Rows in order, as the GPU kernel sums them: the same result, deterministically.
        for (int r = 0; r < rows; r++)
            HostMath.AddInPlace(t + (long)id[r] * columns, g + (long)r * columns, columns);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void LstmCellForward(int batch, int hidden, ArrayView<float> gates, ArrayView<float> cPrev, ArrayView<float> c, ArrayView<float> h)
    {
        _calls++;
        float* g = P(gates), cp = P(cPrev), cn = P(c), hn = P(h);
        for (int b = 0; b < batch; b++)
        {
            float* gi = g + (long)b * 4 * hidden, gf = gi + hidden, gg = gf + hidden, go = gg + hidden;
            float* cpb = cp + (long)b * hidden, cb = cn + (long)b * hidden, hb = hn + (long)b * hidden;
            int j = 0;
            if (Vector256.IsHardwareAccelerated)
                for (; j + 8 <= hidden; j += 8)
                {
                    var i = HostMath.Sigmoid(Vector256.Load(gi + j));
                    var f = HostMath.Sigmoid(Vector256.Load(gf + j));
                    var gt = HostMath.Tanh(Vector256.Load(gg + j));
                    var o = HostMath.Sigmoid(Vector256.Load(go + j));
                    var cNew = f * Vector256.Load(cpb + j) + i * gt;
                    i.Store(gi + j); f.Store(gf + j); gt.Store(gg + j); o.Store(go + j);
                    cNew.Store(cb + j);
                    (o * HostMath.Tanh(cNew)).Store(hb + j);
                }
            for (; j < hidden; j++)
            {
                float i = LstmCellKernels.Sigmoid(gi[j]), f = LstmCellKernels.Sigmoid(gf[j]);
                float gt = MathF.Tanh(gg[j]), o = LstmCellKernels.Sigmoid(go[j]);
                float cNew = f * cpb[j] + i * gt;
                gi[j] = i; gf[j] = f; gg[j] = gt; go[j] = o;
                cb[j] = cNew;
                hb[j] = o * MathF.Tanh(cNew);
            }
        }
    }

    /// <summary>The register-blocked GEMM, then the vectorized cell: unfused, because the four gates of a column sit in four different 16-column panels.</summary>
    public void LstmStepForward(int batch, int hidden, ArrayView<float> hPrev, ArrayView<float> weights, ArrayView<float> gates,
        ArrayView<float> cPrev, ArrayView<float> c, ArrayView<float> h)
    {
        _gemm.Run(GemmShape.NN(batch, 4 * hidden, hidden, accumulate: true), P(hPrev), P(weights), null, P(gates));
        LstmCellForward(batch, hidden, gates, cPrev, c, h); // counts this call once
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void LstmCellBackward(int batch, int hidden, ArrayView<float> gates, ArrayView<float> cPrev, ArrayView<float> c,
        ArrayView<float> dhOut, bool hasDhOut, ArrayView<float> dhRec, ArrayView<float> dc, ArrayView<float> dGates)
    {
        _calls++;
        float* g = P(gates), cp = P(cPrev), cn = P(c), dho = hasDhOut ? P(dhOut) : null, dhr = P(dhRec), dcp = P(dc), dg = P(dGates);
        var one = Vector256<float>.One;
        for (int b = 0; b < batch; b++)
        {
            long rowOffset = (long)b * 4 * hidden, e0 = (long)b * hidden;
            float* gi = g + rowOffset, gf = gi + hidden, gg = gf + hidden, go = gg + hidden;
            float* di = dg + rowOffset, df = di + hidden, dgg = df + hidden, dgo = dgg + hidden;
            int j = 0;
            if (Vector256.IsHardwareAccelerated)
                for (; j + 8 <= hidden; j += 8)
                {
                    long e = e0 + j;
                    var i = Vector256.Load(gi + j); var f = Vector256.Load(gf + j);
                    var gt = Vector256.Load(gg + j); var o = Vector256.Load(go + j);
                    var tanhC = HostMath.Tanh(Vector256.Load(cn + e));
                    var dh = Vector256.Load(dhr + e);
                    if (dho != null) dh += Vector256.Load(dho + e);
                    var dcTotal = Vector256.Load(dcp + e) + dh * o * (one - tanhC * tanhC);
                    (dcTotal * gt * i * (one - i)).Store(di + j);
                    (dcTotal * Vector256.Load(cp + e) * f * (one - f)).Store(df + j);
                    (dcTotal * i * (one - gt * gt)).Store(dgg + j);
                    (dh * tanhC * o * (one - o)).Store(dgo + j);
                    (dcTotal * f).Store(dcp + e);
                }
            for (; j < hidden; j++)
            {
                long e = e0 + j;
                float i = gi[j], f = gf[j], gt = gg[j], o = go[j];
                float tanhC = MathF.Tanh(cn[e]);
                float dh = dhr[e] + (dho != null ? dho[e] : 0f);
                float dcTotal = dcp[e] + dh * o * (1f - tanhC * tanhC);
                di[j] = dcTotal * gt * i * (1f - i);
                df[j] = dcTotal * cp[e] * f * (1f - f);
                dgg[j] = dcTotal * i * (1f - gt * gt);
                dgo[j] = dh * tanhC * o * (1f - o);
                dcp[e] = dcTotal * f;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void GruCellForward(int batch, int hidden, ArrayView<float> xproj, ArrayView<float> hproj, ArrayView<float> hPrev, ArrayView<float> h)
    {
        _calls++;
        float* x = P(xproj), hp = P(hproj), hpr = P(hPrev), hn = P(h);
        var one = Vector256<float>.One;
        for (int b = 0; b < batch; b++)
        {
            long rowOffset = (long)b * 3 * hidden, e0 = (long)b * hidden;
            float* xr = x + rowOffset, xz = xr + hidden, xn = xz + hidden;     // (3H) row: x-side [r z n], activated in place
            float* hr = hp + rowOffset, hz = hr + hidden, hnn = hz + hidden;   // (3H) row: h-side [r z n]
            float* prev = hpr + e0, next = hn + e0;                            // (H) h_{t-1}, h_t
            int j = 0;
            if (Vector256.IsHardwareAccelerated)
                for (; j + 8 <= hidden; j += 8)
                {
                    var r = HostMath.Sigmoid(Vector256.Load(xr + j) + Vector256.Load(hr + j));
                    var z = HostMath.Sigmoid(Vector256.Load(xz + j) + Vector256.Load(hz + j));
                    var n = HostMath.Tanh(Vector256.Load(xn + j) + r * Vector256.Load(hnn + j));
                    r.Store(xr + j); z.Store(xz + j); n.Store(xn + j);
                    ((one - z) * n + z * Vector256.Load(prev + j)).Store(next + j);
                }
            for (; j < hidden; j++)
            {
                float r = GruCellKernels.Sigmoid(xr[j] + hr[j]);
                float z = GruCellKernels.Sigmoid(xz[j] + hz[j]);
                float n = MathF.Tanh(xn[j] + r * hnn[j]);
                xr[j] = r; xz[j] = z; xn[j] = n;
                next[j] = (1f - z) * n + z * prev[j];
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void GruCellBackward(int batch, int hidden, ArrayView<float> gates, ArrayView<float> hproj, ArrayView<float> hPrev,
        ArrayView<float> dhOut, bool hasDhOut, ArrayView<float> dhRec, ArrayView<float> dGatesInput, ArrayView<float> dGatesHidden)
    {
        _calls++;
        float* g = P(gates), hp = P(hproj), hpr = P(hPrev), dho = hasDhOut ? P(dhOut) : null, dhr = P(dhRec);
        float* dgi = P(dGatesInput), dgh = P(dGatesHidden);
        var one = Vector256<float>.One;
        for (int b = 0; b < batch; b++)
        {
            long rowOffset = (long)b * 3 * hidden, e0 = (long)b * hidden;
            float* gr = g + rowOffset, gz = gr + hidden, gn = gz + hidden;          // (3H) row: activations [r z n]
            float* hn = hp + rowOffset + 2 * hidden;                              // (H) n block of hproj
            float* ir = dgi + rowOffset, iz = ir + hidden, inn = iz + hidden;     // (3H) row of dGatesInput
            float* hr = dgh + rowOffset, hz = hr + hidden, hnn = hz + hidden;     // (3H) row of dGatesHidden
            float* prev = hpr + e0, rec = dhr + e0, outg = dho == null ? null : dho + e0; // (H) rows
            int j = 0;
            if (Vector256.IsHardwareAccelerated)
                for (; j + 8 <= hidden; j += 8)
                {
                    var r = Vector256.Load(gr + j); var z = Vector256.Load(gz + j); var n = Vector256.Load(gn + j);
                    var dh = Vector256.Load(rec + j);
                    if (outg != null) dh += Vector256.Load(outg + j);
                    var dn = dh * (one - z) * (one - n * n);
                    var dz = dh * (Vector256.Load(prev + j) - n) * z * (one - z);
                    var dr = dn * Vector256.Load(hn + j) * r * (one - r);
                    dr.Store(ir + j); dz.Store(iz + j); dn.Store(inn + j);
                    dr.Store(hr + j); dz.Store(hz + j); (dn * r).Store(hnn + j);
                    (dh * z).Store(rec + j);
                }
            for (; j < hidden; j++)
            {
                float r = gr[j], z = gz[j], n = gn[j];
                float dh = rec[j] + (outg != null ? outg[j] : 0f);
                float dn = dh * (1f - z) * (1f - n * n);
                float dz = dh * (prev[j] - n) * z * (1f - z);
                float dr = dn * hn[j] * r * (1f - r);
                ir[j] = dr; iz[j] = dz; inn[j] = dn;
                hr[j] = dr; hz[j] = dz; hnn[j] = dn * r;
                rec[j] = dh * z;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void SoftmaxCrossEntropy(int rows, int vocab, ArrayView<float> logits, ArrayView<int> targets,
        ArrayView<float> dLogits, ArrayView<float> loss, float gradScale)
    {
        _calls++;
        float* x = P(logits), d = P(dLogits), l = P(loss);
        int* t = P(targets);
        for (int r = 0; r < rows; r++)
        {
            float* row = x + (long)r * vocab, drow = d + (long)r * vocab;
            float max = row[0];
            for (int v = 1; v < vocab; v++) max = MathF.Max(max, row[v]);
            float sum = 0f;
            for (int v = 0; v < vocab; v++) sum += MathF.Exp(row[v] - max);
            int target = t[r];
            l[r] = MathF.Log(sum) - (row[target] - max);
            float invSum = 1f / sum;
            for (int v = 0; v < vocab; v++)
            {
                float p = MathF.Exp(row[v] - max) * invSum;
                drow[v] = gradScale * (v == target ? p - 1f : p);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void MeanSquaredError(int rows, int columns, ArrayView<float> predictions, ArrayView<float> targets,
        ArrayView<float> dPred, ArrayView<float> loss, float gradScale)
    {
        _calls++;
        float* p = P(predictions), y = P(targets), d = P(dPred), l = P(loss);
        // The kernel's arithmetic in the kernel's order, so both sets give the same bits; element by element,
        // reading each prediction before writing its gradient, which makes dPred aliasing predictions safe.
        float invK = 1f / columns;
        float scale = 2f * gradScale * invK;
        for (int r = 0; r < rows; r++)
        {
            long start = (long)r * columns;
            float sum = 0f;
            for (int k = 0; k < columns; k++)
            {
                float diff = p[start + k] - y[start + k];
                sum += diff * diff;
                d[start + k] = scale * diff;
            }
            l[r] = sum * invK;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void ColumnSum(int rows, int columns, ArrayView<float> x, ArrayView<float> sum, bool accumulate)
    {
        _calls++;
        float* src = P(x), dst = P(sum);
        var acc = new Span<float>(dst, columns);
        if (!accumulate) acc.Clear();
        // Row by row, the same order for every column, as the GPU kernel sums: deterministic and vectorizable.
        for (int r = 0; r < rows; r++)
            HostMath.AddInPlace(dst, src + (long)r * columns, columns);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void AdamStep(ArrayView<float> parameters, ArrayView<float> grads, ArrayView<float> m, ArrayView<float> v, in AdamStepArgs args)
    {
        _calls++;
        float* p = P(parameters), g = P(grads), mp = P(m), vp = P(v);
        long n = parameters.Length, i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var b1 = Vector256.Create(args.Beta1); var b1c = Vector256.Create(1f - args.Beta1);
            var b2 = Vector256.Create(args.Beta2); var b2c = Vector256.Create(1f - args.Beta2);
            var step = Vector256.Create(args.StepSize); var eps = Vector256.Create(args.Epsilon); var scale = Vector256.Create(args.GradScale);
            for (; i + 8 <= n; i += 8)
            {
                var gi = Vector256.Load(g + i) * scale;
                var mi = b1 * Vector256.Load(mp + i) + b1c * gi;
                var vi = b2 * Vector256.Load(vp + i) + b2c * gi * gi;
                mi.Store(mp + i);
                vi.Store(vp + i);
                (Vector256.Load(p + i) - step * mi / (Vector256.Sqrt(vi) + eps)).Store(p + i);
            }
        }
        for (; i < n; i++)
        {
            float gi = g[i] * args.GradScale;
            float mi = args.Beta1 * mp[i] + (1f - args.Beta1) * gi;
            float vi = args.Beta2 * vp[i] + (1f - args.Beta2) * gi * gi;
            mp[i] = mi; vp[i] = vi;
            p[i] -= args.StepSize * mi / (MathF.Sqrt(vi) + args.Epsilon);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void SumOfSquaresPartials(ArrayView<float> x, ArrayView<float> partials)
    {
        _calls++;
        float* src = P(x), dst = P(partials);
        int stride = (int)partials.Length;
        long n = x.Length;
        // Same strided partials as the GPU kernel, so the host reduces the same numbers either way.
        for (int s = 0; s < stride; s++)
        {
            float acc = 0f;
            for (long i = s; i < n; i += stride) acc += src[i] * src[i];
            dst[s] = acc;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Transpose(ArrayView<float> input, ArrayView<float> output, int rows, int columns)
    {
        _calls++;
        HostMath.Transpose(P(input), P(output), rows, columns);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void DropoutForward(ArrayView<float> x, ArrayView<float> mask, ArrayView<float> y, float rate, uint key)
    {
        _calls++;
        var (threshold, scale) = Dropout.Parameters(rate);
        float* xs = P(x), m = P(mask), ys = P(y);
        int n = checked((int)x.Length);
        for (int i = 0; i < n; i++)
        {
            float keep = DropoutKernels.Keeps(key, i, threshold) ? scale : 0f;
            m[i] = keep;
            ys[i] = xs[i] * keep;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void DropoutBackward(ArrayView<float> dy, ArrayView<float> mask, ArrayView<float> dx)
    {
        _calls++;
        float* d = P(dy), m = P(mask), o = P(dx);
        int n = checked((int)dy.Length);
        for (int i = 0; i < n; i++) o[i] = d[i] * m[i];
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void CopyColumns(int rows, int columns, ArrayView<float> source, int sourceStride, int sourceOffset,
        ArrayView<float> destination, int destinationStride, int destinationOffset)
    {
        _calls++;
        float* src = P(source) + sourceOffset, dst = P(destination) + destinationOffset;
        long bytes = (long)columns * sizeof(float);
        for (int r = 0; r < rows; r++)
            Buffer.MemoryCopy(src + (long)r * sourceStride, dst + (long)r * destinationStride, bytes, bytes);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Accumulate(ArrayView<float> source, ArrayView<float> destination)
    {
        _calls++;
        if (source.Length != destination.Length) throw new ArgumentException("accumulate between views of different lengths");
        HostMath.AddInPlace(P(destination), P(source), checked((int)destination.Length));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Zero(ArrayView<float> x)
    {
        _calls++;
        new Span<float>(P(x), checked((int)x.Length)).Clear();
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Copy(ArrayView<float> source, ArrayView<float> destination)
    {
        _calls++;
        if (source.Length != destination.Length) throw new ArgumentException("copy between views of different lengths");
        new ReadOnlySpan<float>(P(source), checked((int)source.Length)).CopyTo(new Span<float>(P(destination), (int)destination.Length));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Synchronize() { }

    public void Dispose()
    {
        _gemm.Dispose();
        _pool.Dispose();
    }
}
