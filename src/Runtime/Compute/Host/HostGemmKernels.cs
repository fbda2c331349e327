using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace GpuLstm.Runtime.Compute.Host;

/// <summary>
/// The packed path's micro-kernels: a rows × width tile of C += a packed A micro-panel (kc × rows, k-major) times a
/// packed B micro-panel (kc × width, k-major). C is read into registers once, the k loop broadcasts one element of
/// A per row against the row's vectors of B, and C is written once. Rows and width are type parameters, so the JIT
/// emits one fully unrolled body per shape with every accumulator in a register (the main shapes: 6×16 in
/// Vector256, 12×32 in Vector512; the smaller ones cover the edges of C).
/// <para>Each element of C is one FMA chain in k order from its start value (the tile of C when <c>loadC</c>, else
/// zero, plus <c>bias</c>, width floats, when not null), so every kernel, and the scalar path, gives the same bits:
/// the result depends on neither the ISA nor the blocking.</para>
/// </summary>
internal static unsafe class HostGemmKernels
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Start256(float* c, float* bias, bool loadC)
    {
        var acc = loadC ? Vector256.Load(c) : Vector256<float>.Zero;
        return bias != null ? acc + Vector256.Load(bias) : acc;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Start512(float* c, float* bias, bool loadC)
    {
        var acc = loadC ? Vector512.Load(c) : Vector512<float>.Zero;
        return bias != null ? acc + Vector512.Load(bias) : acc;
    }

    /// <summary>
    /// Vector256 + FMA: up to 14 rows × 1 or 2 vectors of 8 (16 accumulators fit AVX2's 16 registers at 6×16; more
    /// rows are for AVX-512 hardware, whose 32 registers the JIT also uses for Vector256).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tile256<TRows, TCols>(int kc, float* a, float* b, float* c, long ldc, float* bias, bool loadC)
        where TRows : struct, IConstant where TCols : struct, IConstant
    {
        int rows = TRows.Value, cols = TCols.Value, width = cols * 8;
        float* bias1 = bias == null ? null : bias + 8;
        Vector256<float> x00 = default, x01 = default, x10 = default, x11 = default, x20 = default, x21 = default, x30 = default, x31 = default;
        Vector256<float> x40 = default, x41 = default, x50 = default, x51 = default, x60 = default, x61 = default, x70 = default, x71 = default;
        Vector256<float> x80 = default, x81 = default, x90 = default, x91 = default, xA0 = default, xA1 = default, xB0 = default, xB1 = default;
        Vector256<float> xC0 = default, xC1 = default, xD0 = default, xD1 = default;
        float* cr = c;
        { x00 = Start256(cr, bias, loadC); if (cols > 1) x01 = Start256(cr + 8, bias1, loadC); cr += ldc; }
        if (rows > 1) { x10 = Start256(cr, bias, loadC); if (cols > 1) x11 = Start256(cr + 8, bias1, loadC); cr += ldc; }
        if (rows > 2) { x20 = Start256(cr, bias, loadC); if (cols > 1) x21 = Start256(cr + 8, bias1, loadC); cr += ldc; }
        if (rows > 3) { x30 = Start256(cr, bias, loadC); if (cols > 1) x31 = Start256(cr + 8, bias1, loadC); cr += ldc; }
        if (rows > 4) { x40 = Start256(cr, bias, loadC); if (cols > 1) x41 = Start256(cr + 8, bias1, loadC); cr += ldc; }
        if (rows > 5) { x50 = Start256(cr, bias, loadC); if (cols > 1) x51 = Start256(cr + 8, bias1, loadC); cr += ldc; }
        if (rows > 6) { x60 = Start256(cr, bias, loadC); if (cols > 1) x61 = Start256(cr + 8, bias1, loadC); cr += ldc; }
        if (rows > 7) { x70 = Start256(cr, bias, loadC); if (cols > 1) x71 = Start256(cr + 8, bias1, loadC); cr += ldc; }
        if (rows > 8) { x80 = Start256(cr, bias, loadC); if (cols > 1) x81 = Start256(cr + 8, bias1, loadC); cr += ldc; }
        if (rows > 9) { x90 = Start256(cr, bias, loadC); if (cols > 1) x91 = Start256(cr + 8, bias1, loadC); cr += ldc; }
        if (rows > 10) { xA0 = Start256(cr, bias, loadC); if (cols > 1) xA1 = Start256(cr + 8, bias1, loadC); cr += ldc; }
        if (rows > 11) { xB0 = Start256(cr, bias, loadC); if (cols > 1) xB1 = Start256(cr + 8, bias1, loadC); cr += ldc; }
        if (rows > 12) { xC0 = Start256(cr, bias, loadC); if (cols > 1) xC1 = Start256(cr + 8, bias1, loadC); cr += ldc; }
        if (rows > 13) { xD0 = Start256(cr, bias, loadC); if (cols > 1) xD1 = Start256(cr + 8, bias1, loadC); cr += ldc; }
        for (int k = 0; k < kc; k++)
        {
            var b0 = Vector256.Load(b);
            var b1 = cols > 1 ? Vector256.Load(b + 8) : default;
            { var y = Vector256.Create(a[0]); x00 = Vector256.FusedMultiplyAdd(y, b0, x00); if (cols > 1) x01 = Vector256.FusedMultiplyAdd(y, b1, x01); }
            if (rows > 1) { var y = Vector256.Create(a[1]); x10 = Vector256.FusedMultiplyAdd(y, b0, x10); if (cols > 1) x11 = Vector256.FusedMultiplyAdd(y, b1, x11); }
            if (rows > 2) { var y = Vector256.Create(a[2]); x20 = Vector256.FusedMultiplyAdd(y, b0, x20); if (cols > 1) x21 = Vector256.FusedMultiplyAdd(y, b1, x21); }
            if (rows > 3) { var y = Vector256.Create(a[3]); x30 = Vector256.FusedMultiplyAdd(y, b0, x30); if (cols > 1) x31 = Vector256.FusedMultiplyAdd(y, b1, x31); }
            if (rows > 4) { var y = Vector256.Create(a[4]); x40 = Vector256.FusedMultiplyAdd(y, b0, x40); if (cols > 1) x41 = Vector256.FusedMultiplyAdd(y, b1, x41); }
            if (rows > 5) { var y = Vector256.Create(a[5]); x50 = Vector256.FusedMultiplyAdd(y, b0, x50); if (cols > 1) x51 = Vector256.FusedMultiplyAdd(y, b1, x51); }
            if (rows > 6) { var y = Vector256.Create(a[6]); x60 = Vector256.FusedMultiplyAdd(y, b0, x60); if (cols > 1) x61 = Vector256.FusedMultiplyAdd(y, b1, x61); }
            if (rows > 7) { var y = Vector256.Create(a[7]); x70 = Vector256.FusedMultiplyAdd(y, b0, x70); if (cols > 1) x71 = Vector256.FusedMultiplyAdd(y, b1, x71); }
            if (rows > 8) { var y = Vector256.Create(a[8]); x80 = Vector256.FusedMultiplyAdd(y, b0, x80); if (cols > 1) x81 = Vector256.FusedMultiplyAdd(y, b1, x81); }
            if (rows > 9) { var y = Vector256.Create(a[9]); x90 = Vector256.FusedMultiplyAdd(y, b0, x90); if (cols > 1) x91 = Vector256.FusedMultiplyAdd(y, b1, x91); }
            if (rows > 10) { var y = Vector256.Create(a[10]); xA0 = Vector256.FusedMultiplyAdd(y, b0, xA0); if (cols > 1) xA1 = Vector256.FusedMultiplyAdd(y, b1, xA1); }
            if (rows > 11) { var y = Vector256.Create(a[11]); xB0 = Vector256.FusedMultiplyAdd(y, b0, xB0); if (cols > 1) xB1 = Vector256.FusedMultiplyAdd(y, b1, xB1); }
            if (rows > 12) { var y = Vector256.Create(a[12]); xC0 = Vector256.FusedMultiplyAdd(y, b0, xC0); if (cols > 1) xC1 = Vector256.FusedMultiplyAdd(y, b1, xC1); }
            if (rows > 13) { var y = Vector256.Create(a[13]); xD0 = Vector256.FusedMultiplyAdd(y, b0, xD0); if (cols > 1) xD1 = Vector256.FusedMultiplyAdd(y, b1, xD1); }
            a += rows;
            b += width;
        }
        { x00.Store(c); if (cols > 1) x01.Store(c + 8); c += ldc; }
        if (rows > 1) { x10.Store(c); if (cols > 1) x11.Store(c + 8); c += ldc; }
        if (rows > 2) { x20.Store(c); if (cols > 1) x21.Store(c + 8); c += ldc; }
        if (rows > 3) { x30.Store(c); if (cols > 1) x31.Store(c + 8); c += ldc; }
        if (rows > 4) { x40.Store(c); if (cols > 1) x41.Store(c + 8); c += ldc; }
        if (rows > 5) { x50.Store(c); if (cols > 1) x51.Store(c + 8); c += ldc; }
        if (rows > 6) { x60.Store(c); if (cols > 1) x61.Store(c + 8); c += ldc; }
        if (rows > 7) { x70.Store(c); if (cols > 1) x71.Store(c + 8); c += ldc; }
        if (rows > 8) { x80.Store(c); if (cols > 1) x81.Store(c + 8); c += ldc; }
        if (rows > 9) { x90.Store(c); if (cols > 1) x91.Store(c + 8); c += ldc; }
        if (rows > 10) { xA0.Store(c); if (cols > 1) xA1.Store(c + 8); c += ldc; }
        if (rows > 11) { xB0.Store(c); if (cols > 1) xB1.Store(c + 8); c += ldc; }
        if (rows > 12) { xC0.Store(c); if (cols > 1) xC1.Store(c + 8); c += ldc; }
        if (rows > 13) { xD0.Store(c); if (cols > 1) xD1.Store(c + 8); c += ldc; }
    }

    /// <summary>
    /// Vector512: up to 14 rows × 1 or 2 vectors of 16 (12×32: 24 accumulators, 2 vectors of B and a broadcast).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tile512<TRows, TCols>(int kc, float* a, float* b, float* c, long ldc, float* bias, bool loadC)
        where TRows : struct, IConstant where TCols : struct, IConstant
    {
        int rows = TRows.Value, cols = TCols.Value, width = cols * 16;
        float* bias1 = bias == null ? null : bias + 16;
        Vector512<float> x00 = default, x01 = default, x10 = default, x11 = default, x20 = default, x21 = default, x30 = default, x31 = default;
        Vector512<float> x40 = default, x41 = default, x50 = default, x51 = default, x60 = default, x61 = default, x70 = default, x71 = default;
        Vector512<float> x80 = default, x81 = default, x90 = default, x91 = default, xA0 = default, xA1 = default, xB0 = default, xB1 = default;
        Vector512<float> xC0 = default, xC1 = default, xD0 = default, xD1 = default;
        float* cr = c;
        { x00 = Start512(cr, bias, loadC); if (cols > 1) x01 = Start512(cr + 16, bias1, loadC); cr += ldc; }
        if (rows > 1) { x10 = Start512(cr, bias, loadC); if (cols > 1) x11 = Start512(cr + 16, bias1, loadC); cr += ldc; }
        if (rows > 2) { x20 = Start512(cr, bias, loadC); if (cols > 1) x21 = Start512(cr + 16, bias1, loadC); cr += ldc; }
        if (rows > 3) { x30 = Start512(cr, bias, loadC); if (cols > 1) x31 = Start512(cr + 16, bias1, loadC); cr += ldc; }
        if (rows > 4) { x40 = Start512(cr, bias, loadC); if (cols > 1) x41 = Start512(cr + 16, bias1, loadC); cr += ldc; }
        if (rows > 5) { x50 = Start512(cr, bias, loadC); if (cols > 1) x51 = Start512(cr + 16, bias1, loadC); cr += ldc; }
        if (rows > 6) { x60 = Start512(cr, bias, loadC); if (cols > 1) x61 = Start512(cr + 16, bias1, loadC); cr += ldc; }
        if (rows > 7) { x70 = Start512(cr, bias, loadC); if (cols > 1) x71 = Start512(cr + 16, bias1, loadC); cr += ldc; }
        if (rows > 8) { x80 = Start512(cr, bias, loadC); if (cols > 1) x81 = Start512(cr + 16, bias1, loadC); cr += ldc; }
        if (rows > 9) { x90 = Start512(cr, bias, loadC); if (cols > 1) x91 = Start512(cr + 16, bias1, loadC); cr += ldc; }
        if (rows > 10) { xA0 = Start512(cr, bias, loadC); if (cols > 1) xA1 = Start512(cr + 16, bias1, loadC); cr += ldc; }
        if (rows > 11) { xB0 = Start512(cr, bias, loadC); if (cols > 1) xB1 = Start512(cr + 16, bias1, loadC); cr += ldc; }
        if (rows > 12) { xC0 = Start512(cr, bias, loadC); if (cols > 1) xC1 = Start512(cr + 16, bias1, loadC); cr += ldc; }
        if (rows > 13) { xD0 = Start512(cr, bias, loadC); if (cols > 1) xD1 = Start512(cr + 16, bias1, loadC); cr += ldc; }
        for (int k = 0; k < kc; k++)
        {
            var b0 = Vector512.Load(b);
            var b1 = cols > 1 ? Vector512.Load(b + 16) : default;
            { var y = Vector512.Create(a[0]); x00 = Vector512.FusedMultiplyAdd(y, b0, x00); if (cols > 1) x01 = Vector512.FusedMultiplyAdd(y, b1, x01); }
            if (rows > 1) { var y = Vector512.Create(a[1]); x10 = Vector512.FusedMultiplyAdd(y, b0, x10); if (cols > 1) x11 = Vector512.FusedMultiplyAdd(y, b1, x11); }
            if (rows > 2) { var y = Vector512.Create(a[2]); x20 = Vector512.FusedMultiplyAdd(y, b0, x20); if (cols > 1) x21 = Vector512.FusedMultiplyAdd(y, b1, x21); }
            if (rows > 3) { var y = Vector512.Create(a[3]); x30 = Vector512.FusedMultiplyAdd(y, b0, x30); if (cols > 1) x31 = Vector512.FusedMultiplyAdd(y, b1, x31); }
            if (rows > 4) { var y = Vector512.Create(a[4]); x40 = Vector512.FusedMultiplyAdd(y, b0, x40); if (cols > 1) x41 = Vector512.FusedMultiplyAdd(y, b1, x41); }
            if (rows > 5) { var y = Vector512.Create(a[5]); x50 = Vector512.FusedMultiplyAdd(y, b0, x50); if (cols > 1) x51 = Vector512.FusedMultiplyAdd(y, b1, x51); }
            if (rows > 6) { var y = Vector512.Create(a[6]); x60 = Vector512.FusedMultiplyAdd(y, b0, x60); if (cols > 1) x61 = Vector512.FusedMultiplyAdd(y, b1, x61); }
            if (rows > 7) { var y = Vector512.Create(a[7]); x70 = Vector512.FusedMultiplyAdd(y, b0, x70); if (cols > 1) x71 = Vector512.FusedMultiplyAdd(y, b1, x71); }
            if (rows > 8) { var y = Vector512.Create(a[8]); x80 = Vector512.FusedMultiplyAdd(y, b0, x80); if (cols > 1) x81 = Vector512.FusedMultiplyAdd(y, b1, x81); }
            if (rows > 9) { var y = Vector512.Create(a[9]); x90 = Vector512.FusedMultiplyAdd(y, b0, x90); if (cols > 1) x91 = Vector512.FusedMultiplyAdd(y, b1, x91); }
            if (rows > 10) { var y = Vector512.Create(a[10]); xA0 = Vector512.FusedMultiplyAdd(y, b0, xA0); if (cols > 1) xA1 = Vector512.FusedMultiplyAdd(y, b1, xA1); }
            if (rows > 11) { var y = Vector512.Create(a[11]); xB0 = Vector512.FusedMultiplyAdd(y, b0, xB0); if (cols > 1) xB1 = Vector512.FusedMultiplyAdd(y, b1, xB1); }
            if (rows > 12) { var y = Vector512.Create(a[12]); xC0 = Vector512.FusedMultiplyAdd(y, b0, xC0); if (cols > 1) xC1 = Vector512.FusedMultiplyAdd(y, b1, xC1); }
            if (rows > 13) { var y = Vector512.Create(a[13]); xD0 = Vector512.FusedMultiplyAdd(y, b0, xD0); if (cols > 1) xD1 = Vector512.FusedMultiplyAdd(y, b1, xD1); }
            a += rows;
            b += width;
        }
        { x00.Store(c); if (cols > 1) x01.Store(c + 16); c += ldc; }
        if (rows > 1) { x10.Store(c); if (cols > 1) x11.Store(c + 16); c += ldc; }
        if (rows > 2) { x20.Store(c); if (cols > 1) x21.Store(c + 16); c += ldc; }
        if (rows > 3) { x30.Store(c); if (cols > 1) x31.Store(c + 16); c += ldc; }
        if (rows > 4) { x40.Store(c); if (cols > 1) x41.Store(c + 16); c += ldc; }
        if (rows > 5) { x50.Store(c); if (cols > 1) x51.Store(c + 16); c += ldc; }
        if (rows > 6) { x60.Store(c); if (cols > 1) x61.Store(c + 16); c += ldc; }
        if (rows > 7) { x70.Store(c); if (cols > 1) x71.Store(c + 16); c += ldc; }
        if (rows > 8) { x80.Store(c); if (cols > 1) x81.Store(c + 16); c += ldc; }
        if (rows > 9) { x90.Store(c); if (cols > 1) x91.Store(c + 16); c += ldc; }
        if (rows > 10) { xA0.Store(c); if (cols > 1) xA1.Store(c + 16); c += ldc; }
        if (rows > 11) { xB0.Store(c); if (cols > 1) xB1.Store(c + 16); c += ldc; }
        if (rows > 12) { xC0.Store(c); if (cols > 1) xC1.Store(c + 16); c += ldc; }
        if (rows > 13) { xD0.Store(c); if (cols > 1) xD1.Store(c + 16); c += ldc; }
    }
}
