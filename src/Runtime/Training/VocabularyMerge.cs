using GpuLstm.Runtime.Checkpoints;
using GpuLstm.Runtime.Data;
using GpuLstm.Runtime.Models;

namespace GpuLstm.Runtime.Training;

/// <summary>
/// A fine-tuning run's corpus in the vocabulary of the checkpoint it starts from, and the checkpoint's trained
/// rows carried into a model over that (possibly extended) vocabulary.
/// </summary>
internal static class VocabularyMerge
{
    /// <summary>How many unknown tokens a refusal names before "and N more".</summary>
    private const int NamedInRefusal = 8;

    /// <summary>
    /// The corpus re-encoded in <paramref name="trained"/>'s ids. Tokens outside it are refused with one line
    /// naming them, or with <paramref name="extend"/> added: characters in sorted order (a character
    /// vocabulary is kept sorted, as checkpoints require, so trained characters may move to new ids), words after
    /// the trained ones (whose ids stay). A word corpus's &lt;unk&gt; stays &lt;unk&gt;.
    /// </summary>
    public static EncodedCorpus Recode(EncodedCorpus corpus, ITokenizer trained, bool extend, string corpusName, string checkpointName)
    {
        var own = corpus.Vocabulary.SymbolStrings;
        var known = new HashSet<string>(trained.SymbolStrings, StringComparer.Ordinal);
        var outside = own.Where(t => !known.Contains(t)).ToList();
        bool words = trained.Kind == "word";
        if (outside.Count > 0 && !extend)
        {
            string kind = words ? "word" : "character";
            string named = string.Join(", ", outside.Take(NamedInRefusal).Select(t => words ? $"'{t}'" : Vocabulary.Describe(System.Text.Rune.GetRuneAt(t, 0))));
            string more = outside.Count > NamedInRefusal ? $" and {outside.Count - NamedInRefusal} more" : "";
            throw new SettingException("ExtendVocab",
                $"{corpusName} has {outside.Count} {kind}{(outside.Count == 1 ? "" : "s")} outside the vocabulary of {checkpointName}: {named}{more}; " +
                "extending the vocabulary adds them", "extending the vocabulary");
        }
        ITokenizer merged = outside.Count == 0 ? trained
            : words ? new WordVocabulary(trained.SymbolStrings.Concat(outside).ToArray())
            : new Vocabulary(trained.SymbolStrings.Concat(outside).Select(t => System.Text.Rune.GetRuneAt(t, 0)).OrderBy(r => r.Value));
        var ids = new Dictionary<string, int>(StringComparer.Ordinal);
        var symbols = merged.SymbolStrings;
        for (int i = 0; i < symbols.Count; i++) ids[symbols[i]] = i;
        var map = own.Select(t => ids[t]).ToArray();
        var tokens = corpus.Tokens;
        for (int i = 0; i < tokens.Length; i++) tokens[i] = map[tokens[i]];
        return new EncodedCorpus(merged, tokens);
    }

    /// <summary>
    /// Overwrites <paramref name="model"/>'s freshly initialized weights with the checkpoint's: every tensor
    /// whole, except that the tensors indexed by token (the embedding's rows, level 0's one-hot input columns,
    /// the output layer's rows and biases) take each trained token's row from its old id and keep the fresh
    /// initialization for tokens the checkpoint never had.
    /// </summary>
    public static void CopyTrainedRows(LoadedCheckpoint checkpoint, LanguageModel model, ITokenizer vocabulary)
    {
        var oldIds = new Dictionary<string, int>(StringComparer.Ordinal);
        var oldSymbols = checkpoint.Vocabulary.SymbolStrings;
        for (int i = 0; i < oldSymbols.Count; i++) oldIds[oldSymbols[i]] = i;
        // For each new id, the old id whose trained row it takes (−1: a new token, initialized fresh).
        var source = vocabulary.SymbolStrings.Select(t => oldIds.TryGetValue(t, out int id) ? id : -1).ToArray();
        bool oneHot = model.Config.Embedding == 0;
        string inputWeights = $"{model.Config.Cell.Name}.weight_ih_l0";
        var merged = new Dictionary<string, TensorEntry>(StringComparer.Ordinal);
        foreach (var fresh in Checkpoint.Tensors(model))
        {
            var trained = checkpoint.Tensors[fresh.Name];
            var data = fresh.Name switch
            {
                "embedding.weight" or "fc.weight" or "fc.bias" => Rows(trained.Data, fresh.Data, source, fresh.Shape.Length == 2 ? fresh.Shape[1] : 1),
                _ when oneHot && fresh.Name == inputWeights => Columns(trained.Data, fresh.Data, source, fresh.Shape[0], trained.Shape[1]),
                _ => trained.Data,
            };
            merged[fresh.Name] = fresh with { Data = data };
        }
        Checkpoint.CopyInto(checkpoint with { Config = model.Config, Vocabulary = vocabulary, Tensors = merged }, model);
    }

    /// <summary>(V, width) rows: row j from the trained row source[j], or the fresh row j.</summary>
    private static float[] Rows(float[] trained, float[] fresh, int[] source, int width)
    {
        var result = (float[])fresh.Clone();
        for (int j = 0; j < source.Length; j++)
            if (source[j] >= 0) Array.Copy(trained, (long)source[j] * width, result, (long)j * width, width);
        return result;
    }

    /// <summary>(rows, V) columns: column j from the trained column source[j] (of <paramref name="oldColumns"/>), or the fresh column j.</summary>
    private static float[] Columns(float[] trained, float[] fresh, int[] source, int rows, int oldColumns)
    {
        var result = (float[])fresh.Clone();
        int columns = source.Length;
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < columns; j++)
                if (source[j] >= 0) result[(long)r * columns + j] = trained[(long)r * oldColumns + source[j]];
        return result;
    }
}
