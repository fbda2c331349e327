namespace GpuLstm.Runtime.Series;

/// <summary>
/// Which series of a many-series model a window belongs to, as the model reads it: with a series embedding,
/// every step of the window carries a one-hot of <see cref="Index"/> among <see cref="Count"/> series after the
/// target and covariates. The first level's input weights over those inputs are then a learned per-series
/// vector added to every gate pre-activation, which is exactly a learned embedding of width 4H (GRU 3H, RNN H)
/// fed through the input projection (an nn.Embedding of dimension S whose product with W_ih's identity columns
/// folds into one matrix). <see cref="None"/> (Count 0) adds no inputs: a single series, or a global model that
/// tells series apart only by their (separately scaled) values.
/// </summary>
internal readonly record struct SeriesIdentity(int Index, int Count)
{
    public static SeriesIdentity None => default;

    /// <summary>Inputs the identity adds per step.</summary>
    public int Width => Count;

    /// <summary>
    /// Copies the (T, B, f) time-major <paramref name="narrow"/> inputs into (T, B, f + Count) <paramref name="wide"/>
    /// ones with this identity's one-hot after each step's f inputs; returns <paramref name="narrow"/> itself when
    /// there is no identity.
    /// </summary>
    public float[] Widen(float[] narrow, int steps, int batch, int f, float[] wide)
    {
        if (Count == 0) return narrow;
        int w = f + Count;
        if (wide.Length < steps * batch * w) throw new ArgumentException($"the wide inputs hold {wide.Length} floats; (T, B, F) = ({steps}, {batch}, {w}) needs {steps * batch * w}", nameof(wide));
        for (int r = 0; r < steps * batch; r++)
        {
            Array.Copy(narrow, r * f, wide, r * w, f);
            WriteOneHot(wide.AsSpan(r * w + f, Count));
        }
        return wide;
    }

    /// <summary>Writes this identity's one-hot into a step's <see cref="Count"/> identity inputs (nothing without an identity).</summary>
    public void WriteOneHot(Span<float> slots)
    {
        if (Count == 0) return;
        slots[..Count].Clear();
        slots[Index] = 1;
    }
}
