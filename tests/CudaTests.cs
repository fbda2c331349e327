using System.Runtime.InteropServices;
using GpuLstm.Kernels;
using GpuLstm.Runtime.Compute;
using GpuLstm.Runtime.Data;
using GpuLstm.Runtime.Models;
using GpuLstm.Runtime.Models.Cells;
using GpuLstm.Runtime.Training;
using ILGPU.Runtime.Cuda;
using Xunit;

namespace GpuLstm.Tests;

/// <summary>Whether this machine can run the CUDA tests, found once per test run.</summary>
internal static class CudaHere
{
    public const string NoCuda = "no CUDA device here";
    public const string NoCuBlas = "no libcublas here (the CUDA toolkit's libcublas.so.12, .11 or .10)";

    private static readonly Lazy<bool> HasDeviceLazy = new(() =>
    {
        using var context = Context.Create(builder => builder.Cuda());
        return context.Devices.Any(d => d is CudaDevice);
    });

    /// <summary>
    /// Whether a libcublas that ILGPU.Algorithms would try loads here. Only a first check, to skip rather than
    /// fail where the toolkit is absent; whether it works is <see cref="CuBlasGemm.TryCreate"/>'s to say.
    /// </summary>
    private static readonly Lazy<bool> HasCuBlasLazy = new(() =>
    {
        string[] names = OperatingSystem.IsWindows()
            ? ["cublas64_12.dll", "cublas64_11.dll", "cublas64_10.dll"]
            : OperatingSystem.IsMacOS() ? ["libcublas.11.dylib", "libcublas.10.dylib"] : ["libcublas.so.12", "libcublas.so.11", "libcublas.so.10"];
        foreach (var name in names)
            if (NativeLibrary.TryLoad(name, out var handle))
            {
                NativeLibrary.Free(handle);
                return true;
            }
        return false;
    });

    public static bool HasDevice => HasDeviceLazy.Value;

    /// <summary>Why a cuBLAS test skips, or null when it runs.</summary>
    public static string? CuBlasSkip => !HasDevice ? NoCuda : !HasCuBlasLazy.Value ? NoCuBlas : null;
}

/// <summary>A fact that runs only where ILGPU finds a CUDA device (xunit 2 reads Skip when it discovers the test).</summary>
public sealed class CudaFactAttribute : FactAttribute
{
    public CudaFactAttribute()
    {
        if (!CudaHere.HasDevice) Skip = CudaHere.NoCuda;
    }
}

/// <summary>A theory that runs only where ILGPU finds a CUDA device.</summary>
public sealed class CudaTheoryAttribute : TheoryAttribute
{
    public CudaTheoryAttribute()
    {
        if (!CudaHere.HasDevice) Skip = CudaHere.NoCuda;
    }
}

/// <summary>A fact that runs only where there is a CUDA device and a libcublas to load.</summary>
public sealed class CuBlasFactAttribute : FactAttribute
{
    public CuBlasFactAttribute()
    {
        if (CudaHere.CuBlasSkip is { } reason) Skip = reason;
    }
}

/// <summary>A theory that runs only where there is a CUDA device and a libcublas to load.</summary>
public sealed class CuBlasTheoryAttribute : TheoryAttribute
{
    public CuBlasTheoryAttribute()
    {
        if (CudaHere.CuBlasSkip is { } reason) Skip = reason;
    }
}

/// <summary>The CUDA device, the host kernel set to hold it to, and cuBLAS on the CUDA device's stream; each opened on first use, so skipped tests open nothing.</summary>
public sealed class CudaDevices : IDisposable
{
    private readonly Lazy<ComputeDevice> _cuda = new(() => ComputeDevice.Open("cuda"));
    private readonly Lazy<ComputeDevice> _host = new(() => ComputeDevice.Open("cpu"));
    private readonly Lazy<(CuBlasGemm? Gemm, string Description)> _cuBlas;

    public CudaDevices()
    {
        _cuBlas = new(() =>
        {
            var gemm = CuBlasGemm.TryCreate(Cuda.Accelerator, Cuda.Accelerator.DefaultStream, out string description);
            return (gemm, description);
        });
    }

    internal ComputeDevice Cuda => _cuda.Value;
    internal ComputeDevice Host => _host.Value;

    /// <summary>cuBLAS on the stream of the CUDA device's kernel set (its accelerator's default stream).</summary>
    internal CuBlasGemm CuBlas => _cuBlas.Value.Gemm ?? throw new Xunit.Sdk.XunitException($"CuBlasGemm.TryCreate declined: {_cuBlas.Value.Description}");

    internal string CuBlasDescription => _cuBlas.Value.Description;

    public void Dispose()
    {
        if (_cuBlas.IsValueCreated) _cuBlas.Value.Gemm?.Dispose();
        if (_cuda.IsValueCreated) _cuda.Value.Dispose();
        if (_host.IsValueCreated) _host.Value.Dispose();
    }
}

/// <summary>
/// The tests that need an NVIDIA GPU: cuBLAS against the float64 reference at the model's real shapes, every
/// <see cref="IKernelSet"/> op of the CUDA kernel set against the host set, and training on CUDA against the
/// host. They skip (never fail) on a machine without a CUDA device, and the cuBLAS ones also without libcublas.
/// </summary>
public sealed class CudaTests(CudaDevices devices) : IClassFixture<CudaDevices>
{
    // ---- cuBLAS ----------------------------------------------------------------------------------------

    [CuBlasFact]
    public void CuBlasLoadsWithFp32Math()
    {
        var gemm = devices.CuBlas;
        Assert.StartsWith("cuBLAS ", devices.CuBlasDescription);
        Assert.Equal(CuBlasMathMode.DefaultMath, gemm.MathMode);
    }

    /// <summary>
    /// 1 + 2⁻¹³ has 13 mantissa bits; TF32 keeps 10, so a TF32 product would read it as 1 and every element of
    /// C would come out 512 instead of 512·(1 + 2⁻¹³) = 512.0625, which FP32 holds (as every partial sum) exactly.
    /// </summary>
    [CuBlasFact]
    public void SgemmIsFp32NotTf32()
    {
        const int n = 512;
        var a = Enumerable.Repeat(1f + MathF.Pow(2, -13), n * n).ToArray();
        var b = Enumerable.Repeat(1f, n * n).ToArray();
        var c = RunCuBlas(GemmShape.NN(n, n, n), a, b, [], null);
        Assert.All(c, x => Assert.Equal(512.0625f, x));
    }

    public static TheoryData<string, int, int, int, int, int, int, int, bool, bool> ModelShapes() => new()
    {
        // what, M, N, K, ARowStride, AColStride, BRowStride, BColStride, accumulate, bias: batch 64, 100 steps, H 512, 4H 2048, V 65
        { "LSTM recurrent step h·Wh onto the gates (NN, 64×2048×512)", 64, 2048, 512, 512, 1, 2048, 1, true, false },
        { "GRU recurrent projection h·Wh + b_hh (NN, 64×2048×512)", 64, 2048, 512, 512, 1, 2048, 1, false, true },
        { "input projection of level 2, x·Wx + b (NN, 6400×2048×512)", 6400, 2048, 512, 512, 1, 2048, 1, false, true },
        { "backward dh_prev = dgates·Whᵀ (NN, 64×512×2048)", 64, 512, 2048, 2048, 1, 512, 1, false, false },
        { "backward dh_prev += dgates·Whᵀ (GRU, NN, 64×512×2048)", 64, 512, 2048, 2048, 1, 512, 1, true, false },
        { "weight gradient hᵀ·dgates (TN, 512×2048×6400)", 512, 2048, 6400, 1, 512, 2048, 1, false, false },
        { "input gradient dgates·Wxᵀ (NT, 6400×512×2048)", 6400, 512, 2048, 2048, 1, 1, 2048, false, false },
        { "logits h·Wy + b (NN, 6400×65×512)", 6400, 65, 512, 512, 1, 65, 1, false, true },
        { "output weight gradient hᵀ·dlogits (TN, 512×65×6400)", 512, 65, 6400, 1, 512, 65, 1, false, false },
        { "output input gradient dlogits·Wyᵀ (NT, 6400×512×65)", 6400, 512, 65, 65, 1, 1, 65, false, false },
        { "padded sub-matrices, bias and accumulate (37×29×53, lda 60, B transposed with ld 57)", 37, 29, 53, 60, 1, 1, 57, true, true },
    };

    /// <summary>
    /// cuBLAS through <see cref="CuBlasGemm"/> against <see cref="Reference.Gemm"/> on 48 rows of C spread over
    /// all of it (the whole float64 product would take minutes at these shapes), every operand a view that starts
    /// 3 floats into its buffer. The tolerance is the FP32 one of the other GEMM tests; TF32 would miss it ~30-fold.
    /// </summary>
    [CuBlasTheory]
    [MemberData(nameof(ModelShapes))]
    public void CuBlasMatchesTheReferenceAtModelShapes(string what, int m, int n, int k, int aRowStride, int aColStride,
        int bRowStride, int bColStride, bool accumulate, bool bias)
    {
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        var shape = new GemmShape(m, n, k, aRowStride, aColStride, bRowStride, bColStride, accumulate, bias);
        var need = CuBlasMapping.RequiredLengths(shape);
        var a = TestData.Uniform(rng, (int)need.A);
        var b = TestData.Uniform(rng, (int)need.B);
        var biasData = TestData.Uniform(rng, n);
        var cStart = TestData.Uniform(rng, m * n);
        var c = RunCuBlas(shape, a, b, bias ? biasData : [], accumulate ? cStart : null);

        var rows = Enumerable.Range(0, 48).Select(i => (int)((long)i * (m - 1) / 47)).Distinct().ToArray();
        // op(A) of the chosen rows and op(B), dense, read through the shape's strides as GemmShape defines them.
        var aRows = new float[rows.Length * k];
        for (int r = 0; r < rows.Length; r++)
            for (int p = 0; p < k; p++) aRows[r * k + p] = a[rows[r] * aRowStride + p * aColStride];
        var bDense = new float[k * n];
        for (int p = 0; p < k; p++)
            for (int j = 0; j < n; j++) bDense[p * n + j] = b[p * bRowStride + j * bColStride];
        var cRows = rows.SelectMany(r => cStart.AsSpan(r * n, n).ToArray()).ToArray();
        var expected = Reference.Gemm(aRows, bDense, bias ? biasData : null, accumulate ? cRows : null, rows.Length, n, k, transA: false, transB: false);
        var actual = rows.SelectMany(r => c.AsSpan(r * n, n).ToArray()).ToArray();
        TestData.AssertClose(expected, actual, 1e-5, 1e-5 * Math.Sqrt(k), $"{what} seed {seed}");
    }

    /// <summary>
    /// An ILGPU kernel, cuBLAS, and an ILGPU kernel again on the one stream, with no synchronization between:
    /// each must see the one before it finished (Transpose writes the GEMM's A, ColumnSum reads its C).
    /// </summary>
    [CuBlasFact]
    public void CuBlasRunsInStreamOrderWithTheKernelSet()
    {
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        const int m = 300, n = 257, k = 129;
        var acc = devices.Cuda.Accelerator;
        var kernels = devices.Cuda.Kernels;
        var aT = TestData.Uniform(rng, k * m); // stored (K,M); transposed on the GPU into A (M,K)
        var b = TestData.Uniform(rng, k * n);
        using var aTBuf = TestData.Upload(acc, aT);
        using var aBuf = TestData.Poisoned(acc, m * k);
        using var bBuf = TestData.Upload(acc, b);
        using var cBuf = TestData.Poisoned(acc, m * n);
        using var sums = TestData.Poisoned(acc, n);
        kernels.Transpose(aTBuf.View, aBuf.View, k, m);
        devices.CuBlas.Gemm(GemmShape.NN(m, n, k), aBuf.View, bBuf.View, default, cBuf.View);
        kernels.ColumnSum(m, n, cBuf.View, sums.View, accumulate: false);
        kernels.Synchronize();
        var expected = Reference.Gemm(aT, b, null, null, m, n, k, transA: true, transB: false);
        TestData.AssertClose(expected, cBuf.GetAsArray1D(), 1e-5, 1e-5 * Math.Sqrt(k), $"C seed {seed}");
        var expectedSums = Enumerable.Range(0, n).Select(j => Enumerable.Range(0, m).Sum(i => expected[i * n + j])).ToArray();
        TestData.AssertClose(expectedSums, sums.GetAsArray1D(), 1e-4, 1e-4 * Math.Sqrt(m * k), $"column sums seed {seed}");
    }

    [CuBlasFact]
    public void CuBlasRejectsAViewShorterThanTheShape()
    {
        var acc = devices.Cuda.Accelerator;
        using var a = acc.Allocate1D<float>(6 * 4 - 1);
        using var b = acc.Allocate1D<float>(4 * 5);
        using var c = acc.Allocate1D<float>(6 * 5);
        var e = Assert.Throws<ArgumentException>(() => devices.CuBlas.Gemm(GemmShape.NN(6, 5, 4), a.View, b.View, default, c.View));
        Assert.Contains("needs views of at least a 24", e.Message);
    }

    /// <summary>Uploads each operand 3 floats into its buffer, runs cuBLAS on the views, and reads C back (NaN-poisoned unless cStart).</summary>
    private float[] RunCuBlas(in GemmShape shape, float[] a, float[] b, float[] bias, float[]? cStart)
    {
        const int offset = 3;
        var acc = devices.Cuda.Accelerator;
        int cLength = shape.M * shape.N;
        using var aBuf = TestData.Upload(acc, [.. new float[offset], .. a]);
        using var bBuf = TestData.Upload(acc, [.. new float[offset], .. b]);
        using var biasBuf = TestData.Upload(acc, [.. new float[offset], .. bias]);
        var cData = new float[offset + cLength];
        if (cStart is null) Array.Fill(cData, float.NaN);
        else cStart.CopyTo(cData, offset);
        using var cBuf = TestData.Upload(acc, cData);
        devices.CuBlas.Gemm(shape, aBuf.View.SubView(offset, a.Length), bBuf.View.SubView(offset, b.Length),
            bias.Length == 0 ? default : biasBuf.View.SubView(offset, bias.Length), cBuf.View.SubView(offset, cLength));
        devices.Cuda.Kernels.Synchronize();
        return cBuf.GetAsArray1D().AsSpan(offset).ToArray();
    }

    // ---- every kernel set op: CUDA against the host set --------------------------------------------------

    /// <summary>Named device buffers holding the same data on whichever device they are made for.</summary>
    private sealed class Buffers : IDisposable
    {
        private readonly Dictionary<string, MemoryBuffer1D<float, Stride1D.Dense>> _floats = new();
        private readonly Dictionary<string, MemoryBuffer1D<int, Stride1D.Dense>> _ints = new();

        public Buffers(Accelerator acc, IReadOnlyDictionary<string, float[]> floats, IReadOnlyDictionary<string, int[]> ints)
        {
            foreach (var (name, data) in floats) _floats[name] = TestData.Upload(acc, data);
            foreach (var (name, data) in ints) _ints[name] = TestData.Upload(acc, data);
        }

        public ArrayView<float> this[string name] => _floats[name].View;
        public ArrayView<int> Ints(string name) => _ints[name].View;
        public IEnumerable<(string Name, float[] Data)> Read() => _floats.Select(kv => (kv.Key, kv.Value.GetAsArray1D()));

        public void Dispose()
        {
            foreach (var b in _floats.Values) b.Dispose();
            foreach (var b in _ints.Values) b.Dispose();
        }
    }

    /// <summary>One op with its inputs: every float buffer (inputs, outputs, in-place ones) is compared after it runs.</summary>
    private sealed record OpCase(Dictionary<string, float[]> Floats, Dictionary<string, int[]> Ints, Action<IKernelSet, Buffers> Run, double Atol);

    public static TheoryData<string> Ops()
    {
        var data = new TheoryData<string>();
        foreach (var op in new[]
                 {
                     "gemm_nn_bias", "gemm_nn_accumulate", "gemm_nn_bias_accumulate", "gemm_nt", "gemm_tn", "gather_rows", "scatter_add_rows",
                     "softmax_cross_entropy", "mean_squared_error", "gaussian_nll", "pinball", "column_sum", "column_sum_accumulate", "adam_step", "sum_of_squares_partials",
                     "transpose", "dropout_forward", "dropout_backward", "copy_columns", "accumulate", "zero", "copy",
                 })
            data.Add(op);
        foreach (var cell in CellReference.CellNames)
            foreach (var op in new[] { "cell_forward", "cell_step_forward", "cell_backward", "cell_backward_without_dh_out" })
                data.Add($"{op}:{cell}");
        return data;
    }

    /// <summary>Each op of <see cref="IKernelSet"/> on the CUDA kernel set and the host set, on the same random inputs at odd shapes.</summary>
    [CudaTheory]
    [MemberData(nameof(Ops))]
    public void OpAgreesWithTheHostSet(string op)
    {
        int seed = TestData.FreshSeed();
        var c = Case(op, new Random(seed));
        float[][] Run(ComputeDevice device, out string[] names)
        {
            using var buffers = new Buffers(device.Accelerator, c.Floats, c.Ints);
            c.Run(device.Kernels, buffers);
            device.Kernels.Synchronize();
            var read = buffers.Read().ToArray();
            names = read.Select(r => r.Name).ToArray();
            return read.Select(r => r.Data).ToArray();
        }
        var host = Run(devices.Host, out var names);
        var cuda = Run(devices.Cuda, out _);
        for (int i = 0; i < names.Length; i++)
            TestData.AssertClose(host[i].Select(x => (double)x).ToArray(), cuda[i], 1e-5, c.Atol, $"{op}: {names[i]} seed {seed}");
    }

    private static OpCase Case(string op, Random rng)
    {
        float[] U(int n, double scale = 1) => TestData.Uniform(rng, n, scale);
        int[] Ids(int n, int below) => Enumerable.Range(0, n).Select(_ => rng.Next(below)).ToArray();
        Dictionary<string, int[]> noInts = new();
        const double pointwise = 2e-6;
        const int m = 37, n = 45, k = 203;
        double gemmAtol = 2e-5 * Math.Sqrt(k);
        OpCase Gemm(GemmShape s) => new(new() { ["a"] = U(m * k), ["b"] = U(k * n), ["bias"] = U(n), ["c"] = U(m * n) }, noInts,
            (set, b) => set.Gemm(s, b["a"], b["b"], b["bias"], b["c"]), gemmAtol);

        if (op.Contains(':'))
        {
            var parts = op.Split(':');
            return CellCase(parts[0], RecurrentCell.Parse(parts[1]), rng);
        }
        return op switch
        {
            "gemm_nn_bias" => Gemm(GemmShape.NN(m, n, k, addBias: true)),
            "gemm_nn_accumulate" => Gemm(GemmShape.NN(m, n, k, accumulate: true)),
            "gemm_nn_bias_accumulate" => Gemm(GemmShape.NN(m, n, k, accumulate: true, addBias: true)),
            "gemm_nt" => Gemm(GemmShape.NT(m, n, k)),
            "gemm_tn" => Gemm(GemmShape.TN(m, n, k, accumulate: true)),
            "gather_rows" => new(new() { ["table"] = U(29 * n), ["bias"] = U(n), ["out"] = U(m * n) }, new() { ["ids"] = Ids(m, 29) },
                (set, b) => set.GatherRows(b.Ints("ids"), b["table"], b["bias"], b["out"], m, n), pointwise),
            "scatter_add_rows" => new(new() { ["grads"] = U(m * n), ["tableGrad"] = U(29 * n) }, new() { ["ids"] = Ids(m, 29) },
                (set, b) => set.ScatterAddRows(b.Ints("ids"), b["grads"], b["tableGrad"], m, 29, n), 1e-5),
            "softmax_cross_entropy" => new(new() { ["logits"] = U(m * 67, 4), ["dLogits"] = U(m * 67), ["loss"] = U(m) }, new() { ["targets"] = Ids(m, 67) },
                (set, b) => set.SoftmaxCrossEntropy(m, 67, b["logits"], b.Ints("targets"), b["dLogits"], b["loss"], 1f / m), 1e-5),
            "mean_squared_error" => new(new() { ["p"] = U(m * 3), ["y"] = U(m * 3), ["dPred"] = U(m * 3), ["loss"] = U(m) }, noInts,
                (set, b) => set.MeanSquaredError(m, 3, b["p"], b["y"], b["dPred"], b["loss"], 0.5f), pointwise),
            "gaussian_nll" => new(new() { ["p"] = U(m * 6, 3), ["y"] = U(m * 3), ["dPred"] = U(m * 6), ["loss"] = U(m) }, noInts,
                (set, b) => set.GaussianNll(m, 3, b["p"], b["y"], b["dPred"], b["loss"], 0.5f), 1e-5),
            "pinball" => new(new() { ["p"] = U(m * 15), ["y"] = U(m * 3), ["tau"] = [0.1f, 0.25f, 0.5f, 0.75f, 0.9f], ["dPred"] = U(m * 15), ["loss"] = U(m) }, noInts,
                (set, b) => set.Pinball(m, 3, 5, b["p"], b["y"], b["tau"], b["dPred"], b["loss"], 0.5f), pointwise),
            "column_sum" or "column_sum_accumulate" => new(new() { ["x"] = U(k * n), ["sum"] = U(n) }, noInts,
                (set, b) => set.ColumnSum(k, n, b["x"], b["sum"], op == "column_sum_accumulate"), 1e-5),
            "adam_step" => new(new() { ["p"] = U(1001), ["g"] = U(1001), ["m"] = U(1001, 0.1), ["v"] = U(1001, 0.01).Select(MathF.Abs).ToArray() }, noInts,
                (set, b) => set.AdamStep(b["p"], b["g"], b["m"], b["v"], new AdamStepArgs(0.01f, 0.9f, 0.999f, 1e-7f, 0.8f)), 1e-6),
            "sum_of_squares_partials" => new(new() { ["x"] = U(10007), ["partials"] = U(64) }, noInts,
                (set, b) => set.SumOfSquaresPartials(b["x"], b["partials"]), 1e-5),
            "transpose" => new(new() { ["in"] = U(m * n), ["out"] = U(m * n) }, noInts,
                (set, b) => set.Transpose(b["in"], b["out"], m, n), 0),
            "dropout_forward" => new(new() { ["x"] = U(1001), ["mask"] = U(1001), ["y"] = U(1001) }, noInts,
                (set, b) => set.DropoutForward(b["x"], b["mask"], b["y"], 0.3f, 12345u), pointwise),
            "dropout_backward" => new(new() { ["dy"] = U(1001), ["mask"] = U(1001), ["dx"] = U(1001) }, noInts,
                (set, b) => set.DropoutBackward(b["dy"], b["mask"], b["dx"]), pointwise),
            "copy_columns" => new(new() { ["source"] = U(m * 20), ["destination"] = U(m * 31) }, noInts,
                (set, b) => set.CopyColumns(m, 9, b["source"], 20, 4, b["destination"], 31, 17), 0),
            "accumulate" => new(new() { ["source"] = U(1001), ["destination"] = U(1001) }, noInts,
                (set, b) => set.Accumulate(b["source"], b["destination"]), pointwise),
            "zero" => new(new() { ["x"] = U(1001) }, noInts, (set, b) => set.Zero(b["x"]), 0),
            "copy" => new(new() { ["source"] = U(1001), ["destination"] = U(1001) }, noInts,
                (set, b) => set.Copy(b["source"], b["destination"]), 0),
            _ => throw new ArgumentException($"no case for op '{op}'"),
        };
    }

    /// <summary>A cell's forward, whole step (recurrent GEMM and cell), or forward then backward, at batch 5 and hidden 37.</summary>
    private static OpCase CellCase(string op, RecurrentCell cell, Random rng)
    {
        const int batch = 5, hidden = 37;
        int n = batch * hidden, gh = cell.Gates * hidden;
        bool kept = cell.KeepsRecurrentProjection, hasC = cell.HasCellState;
        var floats = new Dictionary<string, float[]>
        {
            ["gates"] = TestData.Uniform(rng, batch * gh, 3), ["recurrent"] = TestData.Uniform(rng, batch * gh, 2),
            ["hPrev"] = TestData.Uniform(rng, n), ["cPrev"] = TestData.Uniform(rng, n, 2), ["h"] = TestData.Uniform(rng, n), ["c"] = TestData.Uniform(rng, n),
            ["wh"] = TestData.Uniform(rng, hidden * gh, 0.3), ["bhh"] = TestData.Uniform(rng, gh, 0.3),
            ["dhOut"] = TestData.Uniform(rng, n), ["dhRec"] = TestData.Uniform(rng, n), ["dc"] = TestData.Uniform(rng, n),
            ["dGates"] = TestData.Uniform(rng, batch * gh), ["dRecurrent"] = TestData.Uniform(rng, batch * gh),
        };
        CellStep Step(Buffers b, bool hasDhOut) => new()
        {
            Batch = batch, Hidden = hidden, Gates = b["gates"], Recurrent = kept ? b["recurrent"] : default,
            PrevH = b["hPrev"], PrevC = hasC ? b["cPrev"] : default, H = b["h"], C = hasC ? b["c"] : default,
            DhOut = hasDhOut ? b["dhOut"] : default, HasDhOut = hasDhOut, DhRec = b["dhRec"], Dc = hasC ? b["dc"] : default,
            DGates = b["dGates"], DRecurrent = kept ? b["dRecurrent"] : default,
        };
        Action<IKernelSet, Buffers> run = op switch
        {
            "cell_forward" => (set, b) => set.CellForward(cell, Step(b, false)),
            "cell_step_forward" => (set, b) => set.CellStepForward(cell, Step(b, false), b["wh"], kept ? b["bhh"] : default),
            "cell_backward" => (set, b) => { var s = Step(b, true); set.CellForward(cell, s); set.CellBackward(cell, s); },
            "cell_backward_without_dh_out" => (set, b) => { var s = Step(b, false); set.CellForward(cell, s); set.CellBackward(cell, s); },
            _ => throw new ArgumentException($"no case for op '{op}'"),
        };
        return new OpCase(floats, new(), run, op == "cell_step_forward" ? 2e-5 : 1e-5);
    }

    // ---- training ------------------------------------------------------------------------------------------

    /// <summary>
    /// 20 Adam steps of a two-level language model with an embedding (so dense-input GEMMs, dropout off) on
    /// CUDA and on the host set, from the same initialization and batches: the losses stay within 1e-3.
    /// </summary>
    [CudaTheory]
    [InlineData("lstm")]
    [InlineData("gru")]
    [InlineData("rnn")]
    public void TwentyTrainingStepsGiveTheSameLossesOnCudaAndHost(string cellName)
    {
        const string text = "Two roads diverged in a yellow wood, and sorry I could not travel both and be one traveler, long I stood";
        var vocab = Vocabulary.FromText(text);
        var data = new WindowDataset(vocab.Encode(text, "text"), 20);
        var config = new LanguageModelConfig(vocab.Count, 48, 20, LossPositions.All, Layers: 2, Embedding: 16) { Cell = RecurrentCell.Parse(cellName) };
        double[] Losses(ComputeDevice d)
        {
            using var model = new LanguageModel(d, config, 8);
            model.InitializeKerasDefaults(11);
            using var adam = new AdamOptimizer(model, new AdamOptions(LearningRate: 0.01));
            var batch = new TokenBatch(20, 8);
            var rng = new GpuLstm.Runtime.Rng(5);
            var starts = new int[8];
            var losses = new double[20];
            for (int step = 0; step < 20; step++)
            {
                for (int b = 0; b < 8; b++) starts[b] = rng.NextInt(data.Count);
                data.FillBatch(starts, batch, LossPositions.All);
                losses[step] = model.LossAndGradients(batch);
                adam.Apply();
            }
            return losses;
        }
        var host = Losses(devices.Host);
        var cuda = Losses(devices.Cuda);
        for (int i = 0; i < host.Length; i++)
            Assert.True(Math.Abs(host[i] - cuda[i]) <= 1e-3, $"{cellName} step {i + 1}: host {host[i]:G9}, cuda {cuda[i]:G9}");
        Assert.True(host[^1] < host[0], "training makes progress");
    }
}
