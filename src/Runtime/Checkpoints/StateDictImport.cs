using System.Text;
using System.Text.Json;
using GpuLstm.Runtime.Data;
using GpuLstm.Runtime.Models;
using GpuLstm.Runtime.Models.Cells;

namespace GpuLstm.Runtime.Checkpoints;

/// <summary>
/// A PyTorch language model's state_dict (saved as safetensors) as a GpuLstm checkpoint: an nn.LSTM, nn.GRU or
/// nn.RNN (tanh) under any field name, an nn.Linear head, and an optional nn.Embedding in front. The shapes are
/// inferred (H from weight_hh_l0, the cell from its G·H rows, L from the layers present, V from the head) and
/// checked against each other and the vocabulary; every problem is one line naming the file.
/// </summary>
internal static class StateDictImport
{
    /// <summary>The model's config and its tensors renamed to GpuLstm's names, rows in the vocabulary's order.</summary>
    public sealed record Imported(LanguageModelConfig Config, ITokenizer Vocabulary, IReadOnlyDictionary<string, TensorEntry> Tensors, string Description);

    public static Imported Convert(IReadOnlyDictionary<string, TensorEntry> tensors, IReadOnlyList<string> symbols, bool words, int seqLength,
        LossPositions loss, string file)
    {
        string Bad(string what) => $"state dict '{file}' {what}";
        static string Shape(TensorEntry t) => "[" + string.Join(",", t.Shape) + "]";

        // The recurrent module: the prefix of its weight_ih_l0 (empty for a bare nn.LSTM's own state_dict).
        var prefixes = tensors.Keys.Where(k => k == "weight_ih_l0" || k.EndsWith(".weight_ih_l0", StringComparison.Ordinal))
            .Select(k => k[..^"weight_ih_l0".Length]).ToList();
        if (prefixes.Count == 0) throw new GpuLstmException(Bad("has no recurrent layer: no '*.weight_ih_l0' tensor of an nn.LSTM, nn.GRU or nn.RNN"));
        if (prefixes.Count > 1) throw new GpuLstmException(Bad($"has {prefixes.Count} recurrent modules ({string.Join(", ", prefixes.Select(p => $"'{p.TrimEnd('.')}'"))}); give a model with one"));
        string rnn = prefixes[0];
        if (tensors.Keys.Any(k => k.StartsWith(rnn, StringComparison.Ordinal) && k.EndsWith("_reverse", StringComparison.Ordinal)))
            throw new GpuLstmException(Bad("holds a bidirectional recurrent module; a language model reads left to right"));
        TensorEntry Need(string name) => tensors.TryGetValue(name, out var t) ? t
            : throw new GpuLstmException(Bad(name.Contains("bias", StringComparison.Ordinal)
                ? $"has no tensor '{name}'; GpuLstm's layers have both biases (a module made with bias=False can be saved with zero biases)"
                : $"has no tensor '{name}'"));
        var hh0 = Need(rnn + "weight_hh_l0");
        var ih0 = Need(rnn + "weight_ih_l0");
        if (hh0.Shape.Length != 2 || ih0.Shape.Length != 2 || hh0.Shape[1] < 1 || hh0.Shape[0] != ih0.Shape[0] || hh0.Shape[0] % hh0.Shape[1] != 0)
            throw new GpuLstmException(Bad($"has weight_ih_l0 {Shape(ih0)} and weight_hh_l0 {Shape(hh0)}, not (G·H, X) and (G·H, H)"));
        int h = hh0.Shape[1], gates = hh0.Shape[0] / h, x0 = ih0.Shape[1];
        var cell = RecurrentCell.All.FirstOrDefault(c => c.Gates == gates)
            ?? throw new GpuLstmException(Bad($"has {gates} gate blocks of H={h} in weight_hh_l0 {Shape(hh0)}; an LSTM has 4, a GRU 3, an RNN 1"));
        int layers = 0;
        while (tensors.ContainsKey($"{rnn}weight_ih_l{layers}")) layers++;

        // The head: the one module with a weight (V, H) and a bias (V); the embedding: a weight (V, X0) with no bias.
        // Everything outside the recurrent module (a bare module's keys are weight_ih_l0 and the like, with no dot).
        var others = tensors.Keys.Where(k => rnn.Length == 0 ? k.Contains('.', StringComparison.Ordinal) : !k.StartsWith(rnn, StringComparison.Ordinal)).ToList();
        var heads = others.Where(k => k.EndsWith(".weight", StringComparison.Ordinal) && tensors.ContainsKey(k[..^".weight".Length] + ".bias")
            && tensors[k].Shape.Length == 2 && tensors[k].Shape[1] == h).ToList();
        if (heads.Count != 1)
            throw new GpuLstmException(Bad(heads.Count == 0 ? $"has no nn.Linear head: no '*.weight' of shape [V,{h}] with its '*.bias'" : $"has {heads.Count} candidate nn.Linear heads ({string.Join(", ", heads)})"));
        string head = heads[0][..^".weight".Length];
        int v = tensors[heads[0]].Shape[0];
        if (v != symbols.Count)
            throw new GpuLstmException(Bad($"has a head of {v} outputs ('{head}.weight' {Shape(tensors[heads[0]])}), but the vocabulary has {symbols.Count} symbols"));
        var embeddings = others.Where(k => k != heads[0] && k != head + ".bias").ToList();
        string? embedding = null;
        if (embeddings.Count == 1 && embeddings[0].EndsWith(".weight", StringComparison.Ordinal) && tensors[embeddings[0]].Shape is [var rows, var width] && rows == v && width == x0)
            embedding = embeddings[0];
        else if (embeddings.Count > 0)
            throw new GpuLstmException(Bad($"has tensors that are not an nn.Embedding ({v}, {x0}) in front of the recurrent module: {string.Join(", ", embeddings.Take(4).Select(k => $"'{k}' {Shape(tensors[k])}"))}"));
        else if (x0 != v)
            throw new GpuLstmException(Bad($"has no nn.Embedding, so level 0 reads one-hot rows of V={v}, but weight_ih_l0 is {Shape(ih0)}"));

        // GpuLstm's vocabulary order: characters by code point, words with <unk> first; rows follow their tokens.
        var vocabulary = Vocabulary(symbols, words, file);
        var ids = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < symbols.Count; i++) ids[symbols[i]] = i;
        var source = vocabulary.SymbolStrings.Select(s => ids[s]).ToArray();

        var config = new LanguageModelConfig(v, h, seqLength, loss, layers, embedding is null ? 0 : x0) { Cell = cell };
        config.Validate();
        var renamed = new Dictionary<string, TensorEntry>(StringComparer.Ordinal);
        var expected = StackTensors.Expected(config.Stack, config.InputWidth).ToList();
        // A tensor of the recurrent module that GpuLstm's cells lack (an LSTM's proj_size weight_hr_l0) would be dropped silently: refuse it.
        var theirNames = expected.Select(e => rnn + e.Name[(cell.Name.Length + 1)..]).ToHashSet(StringComparer.Ordinal);
        var extra = tensors.Keys.Where(k => !others.Contains(k) && !theirNames.Contains(k)).ToList();
        if (extra.Count > 0)
            throw new GpuLstmException(Bad($"has recurrent tensors GpuLstm's {cell.Name} has no place for: {string.Join(", ", extra.Take(4).Select(k => $"'{k}'"))} (an LSTM with proj_size, or a missing layer?)"));
        foreach (var (name, shape) in expected)
        {
            string theirs = rnn + name[(cell.Name.Length + 1)..];
            var t = Need(theirs);
            if (!t.Shape.SequenceEqual(shape))
                throw new GpuLstmException(Bad($"tensor '{theirs}' has shape {Shape(t)}, expected [{string.Join(",", shape)}] for a {cell.Name} of H={h}"));
            var data = embedding is null && name == $"{cell.Name}.weight_ih_l0" ? PermuteColumns(t.Data, source, shape[0]) : t.Data;
            renamed[name] = new TensorEntry(name, shape, data);
        }
        if (embedding is not null) renamed["embedding.weight"] = new("embedding.weight", new[] { v, x0 }, PermuteRows(tensors[embedding].Data, source, x0));
        renamed["fc.weight"] = new("fc.weight", new[] { v, h }, PermuteRows(tensors[head + ".weight"].Data, source, h));
        if (tensors[head + ".bias"].Shape is not [var b] || b != v) throw new GpuLstmException(Bad($"tensor '{head}.bias' has shape {Shape(tensors[head + ".bias"])}, expected [{v}]"));
        renamed["fc.bias"] = new("fc.bias", new[] { v }, PermuteRows(tensors[head + ".bias"].Data, source, 1));
        foreach (var t in renamed.Values)
            if (t.Data.Any(x => !float.IsFinite(x))) throw new GpuLstmException(Bad($"tensor '{t.Name}' contains NaN or infinite values"));
        string input = embedding is null ? $"one-hot({v})" : $"{embedding.Replace(".weight", "", StringComparison.Ordinal)}: Embedding({v}, {x0})";
        string description = $"{input} -> {rnn.TrimEnd('.')}: {layers}×{cell.Name.ToUpperInvariant()}({h}) -> {head}: Linear({h}, {v})";
        return new Imported(config, vocabulary, renamed, description);
    }

    /// <summary>The vocabulary file: a JSON array of the tokens in id order (PyTorch's row order).</summary>
    public static string[] ReadVocabularyFile(string path)
    {
        string text = EncodedCorpus.ReadText(path, "vocabulary file");
        string[]? symbols;
        try { symbols = JsonSerializer.Deserialize<string[]>(text); }
        catch (JsonException) { symbols = null; }
        if (symbols is null || symbols.Any(s => s is null))
            throw new GpuLstmException($"vocabulary file '{path}' is not a JSON array of strings (the tokens in id order, as json.dump(vocab, f) writes them)");
        return symbols;
    }

    private static ITokenizer Vocabulary(IReadOnlyList<string> symbols, bool words, string file)
    {
        if (symbols.Distinct(StringComparer.Ordinal).Count() != symbols.Count)
            throw new GpuLstmException($"the vocabulary for '{file}' lists a token twice: '{symbols.GroupBy(s => s, StringComparer.Ordinal).First(g => g.Count() > 1).Key}'");
        if (!words)
        {
            var bad = symbols.FirstOrDefault(s => Rune.DecodeFromUtf16(s, out _, out int used) != System.Buffers.OperationStatus.Done || used != s.Length);
            if (bad is not null) throw new GpuLstmException($"the vocabulary for '{file}' has '{bad}', which is not one character (give --tokens word for a word model)");
            return new Data.Vocabulary(symbols.Select(s => Rune.GetRuneAt(s, 0)).OrderBy(r => r.Value));
        }
        if (!symbols.Contains(WordVocabulary.Unknown))
            throw new GpuLstmException($"the word vocabulary for '{file}' has no '{WordVocabulary.Unknown}', which GpuLstm gives every word outside it; add it (its rows may be any)");
        if (symbols.Any(s => s.Length == 0)) throw new GpuLstmException($"the word vocabulary for '{file}' has an empty word");
        return new WordVocabulary(new[] { WordVocabulary.Unknown }.Concat(symbols.Where(s => s != WordVocabulary.Unknown)).ToArray());
    }

    /// <summary>(V, width) rows in the new order: row j is the given row source[j].</summary>
    private static float[] PermuteRows(float[] data, int[] source, int width)
    {
        var result = new float[data.Length];
        for (int j = 0; j < source.Length; j++) Array.Copy(data, (long)source[j] * width, result, (long)j * width, width);
        return result;
    }

    /// <summary>(rows, V) columns in the new order: column j is the given column source[j].</summary>
    private static float[] PermuteColumns(float[] data, int[] source, int rows)
    {
        int v = source.Length;
        var result = new float[data.Length];
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < v; j++) result[(long)r * v + j] = data[(long)r * v + source[j]];
        return result;
    }
}
