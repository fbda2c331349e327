using System.Text;

namespace GpuLstm.Runtime.Data;

/// <summary>
/// Word-level tokens. A token is a word (letters, digits and marks, with inner apostrophes or hyphens:
/// "don't", "o'er", "well-known"), a newline, or any other single non-space character (punctuation).
/// Other whitespace only separates tokens. Joining puts one space between tokens, except around newlines,
/// before closing punctuation and after opening brackets, so tokenizing joined text gives the same tokens back.
/// </summary>
internal static class WordTokenizer
{
    public const string Newline = "\n";

    public static List<string> Tokenize(string text)
    {
        var tokens = new List<string>();
        var word = new StringBuilder();
        var runes = text.EnumerateRunes().ToArray();
        void Flush() { if (word.Length > 0) { tokens.Add(word.ToString()); word.Clear(); } }
        for (int i = 0; i < runes.Length; i++)
        {
            var r = runes[i];
            if (IsWordRune(r)) { word.Append(r.ToString()); continue; }
            if (IsJoiner(r) && word.Length > 0 && i + 1 < runes.Length && IsWordRune(runes[i + 1])) { word.Append(r.ToString()); continue; }
            Flush();
            if (r.Value == '\n') tokens.Add(Newline);
            else if (r.Value == '\r') { if (i + 1 >= runes.Length || runes[i + 1].Value != '\n') tokens.Add(Newline); }
            else if (!Rune.IsWhiteSpace(r)) tokens.Add(r.ToString());
        }
        Flush();
        return tokens;
    }

    private static bool IsWordRune(Rune r) => Rune.IsLetterOrDigit(r) || Rune.GetUnicodeCategory(r) is
        System.Globalization.UnicodeCategory.NonSpacingMark or System.Globalization.UnicodeCategory.SpacingCombiningMark;

    private static bool IsJoiner(Rune r) => r.Value is '\'' or '\u2019' or '-';

    private static bool NoSpaceBefore(string token) => token is Newline or "." or "," or ";" or ":" or "!" or "?" or ")" or "]" or "}";
    private static bool NoSpaceAfter(string token) => token is Newline or "(" or "[" or "{";

    /// <summary>The separator between two adjacent tokens ("" or " ").</summary>
    public static string Separator(string? previous, string next) =>
        previous is null || NoSpaceAfter(previous) || NoSpaceBefore(next) ? "" : " ";

    public static string Join(IEnumerable<string> tokens)
    {
        var sb = new StringBuilder();
        string? previous = null;
        foreach (var token in tokens) { sb.Append(Separator(previous, token)).Append(token); previous = token; }
        return sb.ToString();
    }
}

/// <summary>
/// A word vocabulary: id 0 is <see cref="Unknown"/>, then the most frequent tokens of the training text
/// (ties in ordinal order, so the ids are a function of the text), capped at a maximum size.
/// </summary>
internal sealed class WordVocabulary : ITokenizer
{
    public const string Unknown = "<unk>";
    private readonly string[] _symbols;
    private readonly Dictionary<string, int> _ids;

    public WordVocabulary(IReadOnlyList<string> symbols)
    {
        if (symbols.Count < 2 || symbols[0] != Unknown) throw new ArgumentException($"a word vocabulary starts with {Unknown} and has another symbol");
        _symbols = symbols.ToArray();
        _ids = new Dictionary<string, int>(_symbols.Length, StringComparer.Ordinal);
        for (int i = 0; i < _symbols.Length; i++)
            if (!_ids.TryAdd(_symbols[i], i)) throw new ArgumentException($"duplicate word '{_symbols[i]}'");
    }

    /// <summary>Counts the tokens and keeps the <paramref name="maxSize"/> − 1 most frequent (0: all).</summary>
    public static WordVocabulary Build(IEnumerable<string> tokens, int maxSize)
    {
        if (maxSize < 0 || maxSize == 1) throw new GpuLstmException($"the word vocabulary size must be 0 (no cap) or at least 2, got {maxSize}");
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var t in tokens) counts[t] = counts.GetValueOrDefault(t) + 1;
        var ranked = counts.Where(kv => kv.Key != Unknown).OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => kv.Key);
        if (maxSize > 0) ranked = ranked.Take(maxSize - 1);
        return new WordVocabulary(new[] { Unknown }.Concat(ranked).ToArray());
    }

    public string Kind => "word";
    public int Count => _symbols.Length;
    public IReadOnlyList<string> SymbolStrings => _symbols;
    public int UnknownId => 0;

    public int Id(string token) => _ids.TryGetValue(token, out int id) ? id : 0;

    /// <summary>Words outside the vocabulary become <see cref="Unknown"/>; <paramref name="what"/> is unused (no word is an error).</summary>
    public int[] Encode(string text, string what) => Encode(WordTokenizer.Tokenize(text));

    public int[] Encode(IReadOnlyList<string> tokens)
    {
        var ids = new int[tokens.Count];
        for (int i = 0; i < ids.Length; i++) ids[i] = Id(tokens[i]);
        return ids;
    }

    public string Decode(ReadOnlySpan<int> ids)
    {
        var sb = new StringBuilder();
        int previous = -1;
        foreach (int id in ids) { sb.Append(Append(previous, id)); previous = id; }
        return sb.ToString();
    }

    public string Append(int previous, int next) => WordTokenizer.Separator(previous < 0 ? null : _symbols[previous], _symbols[next]) + _symbols[next];
}
