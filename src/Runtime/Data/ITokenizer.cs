namespace GpuLstm.Runtime.Data;

/// <summary>
/// A vocabulary and the rules that turn text into its ids and ids back into text: characters
/// (<see cref="Vocabulary"/>) or words (<see cref="WordVocabulary"/>).
/// </summary>
internal interface ITokenizer
{
    /// <summary>"char" or "word", as stored in checkpoints.</summary>
    string Kind { get; }
    int Count { get; }
    /// <summary>Symbol of each id, as stored in checkpoints.</summary>
    IReadOnlyList<string> SymbolStrings { get; }

    /// <summary>Ids of <paramref name="text"/>; <paramref name="what"/> names the text in errors.</summary>
    int[] Encode(string text, string what);

    /// <summary>The text of a whole id sequence.</summary>
    string Decode(ReadOnlySpan<int> ids);

    /// <summary>
    /// The text to append when <paramref name="next"/> follows <paramref name="previous"/> (−1 at the start),
    /// so a stream of tokens prints exactly what <see cref="Decode(ReadOnlySpan{int})"/> returns for the whole.
    /// </summary>
    string Append(int previous, int next);
}
