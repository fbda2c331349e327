using System.Text;
using GpuLstm.Runtime.Files;

namespace GpuLstm.Runtime.Data;

/// <summary>A corpus as token ids, with its vocabulary: what training needs, and nothing else.</summary>
internal sealed record EncodedCorpus(ITokenizer Vocabulary, int[] Tokens)
{
    /// <summary>The first <paramref name="count"/> characters, decoded back (the notebook's sampling prime).</summary>
    public string Prefix(int count) => Vocabulary.Decode(Tokens.AsSpan(0, Math.Min(count, Tokens.Length)));

    public static EncodedCorpus FromText(string text)
    {
        var vocabulary = Data.Vocabulary.FromText(text);
        return new EncodedCorpus(vocabulary, vocabulary.Encode(text, "the corpus"));
    }

    /// <summary>
    /// Word tokens of a UTF-8 file (<see cref="WordTokenizer"/>), with a vocabulary of at most
    /// <paramref name="maxVocabulary"/> entries including &lt;unk&gt; (0: every word). The text is read whole:
    /// word corpora are megabytes, and the token list is larger than the text anyway.
    /// </summary>
    public static EncodedCorpus LoadWords(string path, int maxVocabulary) => LoadWords(InputSource.Open(path, "corpus file"), maxVocabulary);

    public static EncodedCorpus LoadWords(InputSource source, int maxVocabulary) => FromWords(ReadText(source), maxVocabulary, source.Describe());

    /// <summary>A whole UTF-8 file as a string; invalid UTF-8 is an error naming its byte offset.</summary>
    public static string ReadText(string path, string what = "corpus file") => ReadText(InputSource.Open(path, what));

    /// <summary>A whole UTF-8 input as a string; invalid UTF-8 is an error naming its byte offset.</summary>
    public static string ReadText(InputSource source)
    {
        var bytes = source.ReadAllBytes();
        int start = bytes.Length >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF ? 3 : 0;
        try { return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes, start, bytes.Length - start); }
        catch (DecoderFallbackException e) { throw new GpuLstmException($"{source.Describe()} is not valid UTF-8 (bad byte at offset {start + Math.Max(0, e.Index)})"); }
    }

    public static EncodedCorpus FromWords(string text, int maxVocabulary, string what = "the corpus")
    {
        var tokens = WordTokenizer.Tokenize(text);
        if (tokens.Count == 0) throw new GpuLstmException($"{what} has no words");
        var vocabulary = WordVocabulary.Build(tokens, maxVocabulary);
        return new EncodedCorpus(vocabulary, vocabulary.Encode(tokens));
    }

    /// <summary>
    /// Reads a UTF-8 file as a stream, twice: once to find the vocabulary and count the characters, once to
    /// write each character's id straight into an array of exactly that size. A 100 MB corpus costs 400 MB
    /// of ids and 64 KB of buffers, never the file's bytes plus a UTF-16 copy plus a growing list. Standard
    /// input and pipes are read once, into memory, and both passes read those bytes (see <see cref="InputSource"/>).
    /// </summary>
    public static EncodedCorpus Load(string path, string what = "corpus file") => Load(InputSource.Open(path, what));

    public static EncodedCorpus Load(InputSource source)
    {
        var seen = new HashSet<int>();
        long count = 0;
        Scan(source, rune => { seen.Add(rune); count++; });
        if (count == 0) throw new GpuLstmException($"{source.Describe()} is empty");
        if (count > Array.MaxLength) throw new GpuLstmException($"{source.Describe()} has {count:N0} characters; the limit is {Array.MaxLength:N0}");
        var vocabulary = new Vocabulary(seen.Select(v => new Rune(v)));
        var tokens = new int[count];
        long next = 0;
        bool changed = false;
        Scan(source, rune =>
        {
            // A file that grows or changes between the passes must not index past the array.
            if (next < tokens.Length && vocabulary.TryGetId(new Rune(rune), out int id)) tokens[next] = id;
            else changed = true;
            next++;
        });
        if (changed || next != count) throw new GpuLstmException($"{source.Describe()} changed while it was read; read it again");
        return new EncodedCorpus(vocabulary, tokens);
    }

    /// <summary>Calls <paramref name="onRune"/> with every Unicode scalar value of the file, in order; invalid UTF-8 is an error naming its byte offset.</summary>
    private static void Scan(InputSource source, Action<int> onRune)
    {
        var decoder = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true).GetDecoder();
        using var stream = source.OpenRead();
        var bytes = new byte[1 << 16];
        var chars = new char[(1 << 16) + 2];
        long offset = 0;
        char pendingHigh = '\0';
        bool first = true;
        int read;
        do
        {
            try { read = stream.Read(bytes, 0, bytes.Length); }
            catch (IOException e) { throw new GpuLstmException($"{source.Describe()} cannot be read: {IoErrors.Describe(e)}"); }
            int start = 0;
            if (first && read >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF) start = 3;
            first = false;
            int n;
            try
            {
                n = decoder.GetChars(bytes, start, read - start, chars, 0, flush: read == 0);
            }
            catch (DecoderFallbackException e)
            {
                throw new GpuLstmException($"{source.Describe()} is not valid UTF-8 (bad byte at offset {offset + start + Math.Max(0, e.Index)})");
            }
            for (int i = 0; i < n; i++)
            {
                char c = chars[i];
                if (pendingHigh != '\0')
                {
                    onRune(char.ConvertToUtf32(pendingHigh, c));
                    pendingHigh = '\0';
                }
                else if (char.IsHighSurrogate(c)) pendingHigh = c;
                else onRune(c);
            }
            offset += read;
        }
        while (read > 0);
    }
}
