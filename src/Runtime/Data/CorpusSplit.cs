namespace GpuLstm.Runtime.Data;

/// <summary>
/// The corpus cut in two, never shuffled: training on the first tokens, validation on the last
/// round(fraction · N) (as the TorchSharp peer and Keras's validation_split hold out the tail).
/// </summary>
internal sealed record CorpusSplit(int TrainStart, int TrainLength, int ValStart, int ValLength)
{
    public static CorpusSplit Create(int tokens, double valFraction)
    {
        if (!(valFraction >= 0 && valFraction < 1)) throw new SettingException("ValFraction", $"the validation fraction must be in [0, 1), got {valFraction}", "the validation fraction");
        int val = (int)Math.Round(valFraction * tokens);
        return new CorpusSplit(0, tokens - val, tokens - val, val);
    }

    public bool HasValidation => ValLength > 0;
}
