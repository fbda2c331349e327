using System.Text;

namespace GpuLstm.Runtime.Data;

/// <summary>A corpus as token ids, with its vocabulary: what training needs, and nothing else.</summary>
public sealed record EncodedCorpus(ITokenizer Vocabulary, int[] Tokens)
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
    public static EncodedCorpus LoadWords(string path, int maxVocabulary) => FromWords(ReadText(path), maxVocabulary, $"corpus file '{path}'");

    /// <summary>A whole UTF-8 file as a string; invalid UTF-8 is an error naming its byte offset.</summary>
    public static string ReadText(string path)
    {
        if (Directory.Exists(path)) throw new GpuLstmException($"corpus file '{path}' is a directory");
        string text;
        try
        {
            var bytes = File.ReadAllBytes(path);
            int start = bytes.Length >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF ? 3 : 0;
            try { text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes, start, bytes.Length - start); }
            catch (DecoderFallbackException e) { throw new GpuLstmException($"corpus file '{path}' is not valid UTF-8 (bad byte at offset {start + Math.Max(0, e.Index)})"); }
        }
        catch (FileNotFoundException) { throw new GpuLstmException($"corpus file '{path}' not found"); }
        catch (DirectoryNotFoundException) { throw new GpuLstmException($"corpus file '{path}' not found"); }
        catch (UnauthorizedAccessException) { throw new GpuLstmException($"corpus file '{path}' cannot be read: permission denied"); }
        catch (IOException e) { throw new GpuLstmException($"corpus file '{path}' cannot be read: {e.Message}"); }
        return text;
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
    /// of ids and 64 KB of buffers, never the file's bytes plus a UTF-16 copy plus a growing list.
    /// </summary>
    public static EncodedCorpus Load(string path)
    {
        if (Directory.Exists(path)) throw new GpuLstmException($"corpus file '{path}' is a directory");
        try
        {
            var seen = new HashSet<int>();
            long count = 0;
            Scan(path, rune => { seen.Add(rune); count++; });
            if (count == 0) throw new GpuLstmException($"corpus file '{path}' is empty");
            if (count > Array.MaxLength) throw new GpuLstmException($"corpus file '{path}' has {count:N0} characters; the limit is {Array.MaxLength:N0}");
            var vocabulary = new Vocabulary(seen.Select(v => new Rune(v)));
            var tokens = new int[count];
            int next = 0;
            Scan(path, rune =>
            {
                vocabulary.TryGetId(new Rune(rune), out int id);
                tokens[next++] = id;
            });
            return new EncodedCorpus(vocabulary, tokens);
        }
        catch (FileNotFoundException) { throw new GpuLstmException($"corpus file '{path}' not found"); }
        catch (DirectoryNotFoundException) { throw new GpuLstmException($"corpus file '{path}' not found"); }
        catch (UnauthorizedAccessException) { throw new GpuLstmException($"corpus file '{path}' cannot be read: permission denied"); }
        catch (IOException e) { throw new GpuLstmException($"corpus file '{path}' cannot be read: {e.Message}"); }
    }

    /// <summary>Calls <paramref name="onRune"/> with every Unicode scalar value of the file, in order; invalid UTF-8 is an error naming its byte offset.</summary>
    private static void Scan(string path, Action<int> onRune)
    {
        var decoder = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true).GetDecoder();
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        var bytes = new byte[1 << 16];
        var chars = new char[(1 << 16) + 2];
        long offset = 0;
        char pendingHigh = '\0';
        bool first = true;
        int read;
        do
        {
            read = stream.Read(bytes, 0, bytes.Length);
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
                throw new GpuLstmException($"corpus file '{path}' is not valid UTF-8 (bad byte at offset {offset + start + Math.Max(0, e.Index)})");
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
