using ILGPU;

namespace GpuLstm.Kernels;

/// <summary>Up to four gate values of one element (b,j), in the cell's gate order (A is gate 0). A struct of scalars, not an array: kernels keep it in registers.</summary>
internal struct Gate4
{
    public float A, B, C, D;

    public Gate4(float a, float b = 0f, float c = 0f, float d = 0f) { A = a; B = b; C = c; D = d; }

    public readonly float Get(int gate) => gate switch { 0 => A, 1 => B, 2 => C, _ => D };

    public void Set(int gate, float value)
    {
        if (gate == 0) A = value;
        else if (gate == 1) B = value;
        else if (gate == 2) C = value;
        else D = value;
    }
}

/// <summary>
/// A cell's pointwise math for one element (b,j) of one time step, forward and backward: the one place its
/// equations are written for the ILGPU kernels. The per-cell kernels (one launch per step on top of a GEMM)
/// and the fused recurrent-step kernels (<see cref="RecurrentStepKernels"/>, GEMM and cell in one launch)
/// both call it, so they cannot drift apart. Implementations are empty structs; kernels are generic over them.
/// </summary>
internal interface ICellMath
{
    /// <summary>G ≤ 4 gate blocks per projection row.</summary>
    int Gates { get; }

    /// <summary>Carries a cell state c beside h (LSTM).</summary>
    bool HasCellState { get; }

    /// <summary>Keeps h_prev·Wh + b_hh apart from the input pre-activations (GRU: the reset gate scales one block of it).</summary>
    bool KeepsRecurrent { get; }

    /// <summary>
    /// Forward. x: input pre-activations x·Wx + b per gate; r: the recurrent ones, h_prev·Wh (+ b_hh where kept).
    /// act: what backward needs, written over the input pre-activations; h, c: the new state (c unused without a cell state).
    /// </summary>
    void Forward(in Gate4 x, in Gate4 r, float hPrev, float cPrev, out Gate4 act, out float h, out float c);

    /// <summary>
    /// Backward, with dh = dL/dh_t in total and dc = dL/dc_t from the next step. act, r: as forward saved and
    /// kept them; c: c_t. Out: dL/d(input pre-activations), dL/d(recurrent pre-activations) (the same unless
    /// kept apart), the direct part of dL/dh_prev that does not pass through Wh, and dL/dc_prev.
    /// </summary>
    void Backward(in Gate4 act, in Gate4 r, float hPrev, float cPrev, float c, float dh, float dc,
        out Gate4 dInput, out Gate4 dRecurrent, out float dhPrevDirect, out float dcPrev);
}

/// <summary>The activations every cell uses, precise on every backend.</summary>
internal static class CellMath
{
    public static float Sigmoid(float x) => 1f / (1f + MathF.Exp(-x));

    /// <summary>
    /// tanh within about 1e-7 of the true value: from exp for |x| ≥ 1/16, a Taylor polynomial below (where
    /// 1 − e^(−2|x|) would cancel). MathF.Tanh compiles to PTX's tanh.approx.f32 (relative error up to 2^−11);
    /// this keeps the GPU's cells as precise as the CPU's, at the cost of one exp and one division.
    /// </summary>
    public static float Tanh(float x)
    {
        float ax = MathF.Abs(x);
        if (ax < 0.0625f)
        {
            float x2 = x * x;
            return x * (1f - x2 * (1f / 3f - x2 * (2f / 15f)));
        }
        float e = MathF.Exp(-2f * ax);
        float t = (1f - e) / (1f + e);
        return x < 0f ? -t : t;
    }
}
