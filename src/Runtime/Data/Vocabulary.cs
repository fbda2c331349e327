using System.Text;

namespace GpuLstm.Runtime.Data;

/// <summary>
/// The sorted distinct Unicode scalar values of a text (Python's sorted(set(text)) for code points), so a
/// character outside the Basic Multilingual Plane is one symbol, not two UTF-16 halves.
/// </summary>
internal sealed class Vocabulary : ITokenizer
{
    private readonly Rune[] _symbols;
    private readonly Dictionary<Rune, int> _ids;

    public Vocabulary(IEnumerable<Rune> symbols)
    {
        _symbols = symbols.Distinct().OrderBy(r => r.Value).ToArray();
        _ids = new Dictionary<Rune, int>(_symbols.Length);
        for (int i = 0; i < _symbols.Length; i++) _ids[_symbols[i]] = i;
    }

    public static Vocabulary FromText(string text) => new(text.EnumerateRunes());

    public string Kind => "char";
    public int Count => _symbols.Length;
    public IReadOnlyList<string> SymbolStrings => _symbols.Select(r => r.ToString()).ToArray();
    public string Append(int previous, int next) => _symbols[next].ToString();
    public IReadOnlyList<Rune> Symbols => _symbols;

    public bool TryGetId(Rune symbol, out int id) => _ids.TryGetValue(symbol, out id);

    /// <summary>Token ids of <paramref name="text"/>; a symbol outside the vocabulary is a user error naming it.</summary>
    public int[] Encode(string text, string what)
    {
        var ids = new List<int>(text.Length);
        foreach (var rune in text.EnumerateRunes())
        {
            if (!_ids.TryGetValue(rune, out int id))
                throw new GpuLstmException($"{what} contains {Describe(rune)}, which is not in the model's vocabulary of {Count} characters");
            ids.Add(id);
        }
        return ids.ToArray();
    }

    public string Decode(ReadOnlySpan<int> ids)
    {
        var sb = new StringBuilder(ids.Length);
        foreach (int id in ids) sb.Append(_symbols[id].ToString());
        return sb.ToString();
    }

    public string Decode(int id) => _symbols[id].ToString();

    public static string Describe(Rune rune) =>
        Rune.IsControl(rune) || Rune.IsWhiteSpace(rune) ? $"U+{rune.Value:X4}" : $"'{rune}' (U+{rune.Value:X4})";
}
