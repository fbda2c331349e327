using System.Text;
using GpuLstm.Runtime;
using GpuLstm.Runtime.Data;
using GpuLstm.Runtime.Models;
using Xunit;

namespace GpuLstm.Tests;

public sealed class DataTests
{
    [Fact]
    public void EmbeddedDefaultIsTheNotebooksPoem()
    {
        string text = Corpus.Default();
        var shared = Path.Combine(SharedData.Directory, "road-not-taken-5.txt");
        Assert.Equal(File.ReadAllText(shared), text);
        Assert.Equal(179, text.Length);
        var vocab = Vocabulary.FromText(text);
        Assert.Equal(27, vocab.Count);
        var data = new WindowDataset(vocab.Encode(text, "text"), 50);
        Assert.Equal(129, data.Count);
    }

    [Fact]
    public void VocabularyIsSortedByCodePointAndCountsRunesNotUtf16Units()
    {
        // U+1F600 is two UTF-16 units but one symbol; 'é' sorts after 'z'.
        var vocab = Vocabulary.FromText("zé a😀a");
        Assert.Equal(new[] { " ", "a", "z", "é", "😀" }, vocab.Symbols.Select(r => r.ToString()));
        var ids = vocab.Encode("a😀é", "x");
        Assert.Equal(new[] { 1, 4, 3 }, ids);
        Assert.Equal("a😀é", vocab.Decode(ids));
    }

    [Fact]
    public void UnknownCharacterIsNamedInTheError()
    {
        var vocab = Vocabulary.FromText("abc");
        var e = Assert.Throws<GpuLstmException>(() => vocab.Encode("abq", "the prime text"));
        Assert.Contains("'q'", e.Message);
    }

    [Fact]
    public void InvalidUtf8IsAClearErrorWithItsOffset()
    {
        string path = Path.GetTempFileName();
        try
        {
            var bytes = Encoding.UTF8.GetBytes(new string('a', 100_000)).Concat(new byte[] { 0xC3, 0x28 }).ToArray();
            File.WriteAllBytes(path, bytes);
            var e = Assert.Throws<GpuLstmException>(() => EncodedCorpus.Load(path));
            Assert.Contains("is not valid UTF-8 (bad byte at offset 100000)", e.Message);
            File.WriteAllBytes(path, new byte[] { 0xEF, 0xBB, 0xBF, 0x61, 0x62, 0x61 });
            var bom = EncodedCorpus.Load(path);
            Assert.Equal("aba", bom.Prefix(10));
        }
        finally { File.Delete(path); }
    }

    /// <summary>
    /// A multi-megabyte corpus with characters of every UTF-8 length, some straddling the reader's 64 KB
    /// chunks: the streamed ids equal those of decoding the whole file, and loading allocates little more
    /// than the id array itself (4 bytes a character), not the file plus a UTF-16 copy plus a list.
    /// </summary>
    [Fact]
    public void StreamedLoadEncodesOnceAndMatchesWholeFileDecoding()
    {
        string path = Path.GetTempFileName();
        try
        {
            var rng = new Random(3);
            string[] pieces = { "a", "b", " ", "\n", "é", "ß", "€", "中", "😀", "𝄞" };
            var sb = new StringBuilder();
            while (sb.Length < 3_000_000) sb.Append(pieces[rng.Next(pieces.Length)]);
            File.WriteAllText(path, sb.ToString(), new UTF8Encoding(false));
            long fileBytes = new FileInfo(path).Length;

            long before = GC.GetAllocatedBytesForCurrentThread();
            var corpus = EncodedCorpus.Load(path);
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

            var whole = EncodedCorpus.FromText(File.ReadAllText(path));
            Assert.Equal(whole.Vocabulary.SymbolStrings, corpus.Vocabulary.SymbolStrings);
            Assert.Equal(whole.Tokens, corpus.Tokens);
            Assert.Equal(10, corpus.Vocabulary.Count);
            long ids = 4L * corpus.Tokens.Length;
            Assert.True(allocated < ids + (1 << 20), $"loading a {fileBytes:N0}-byte corpus allocated {allocated:N0} bytes; the ids alone are {ids:N0}");
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void BatchesAreTimeMajorWindowsWithTheirNextToken()
    {
        var tokens = Enumerable.Range(0, 10).ToArray();
        var data = new WindowDataset(tokens, 3);
        Assert.Equal(7, data.Count);
        var batch = new TokenBatch(3, 2);
        data.FillBatch(new[] { 4, 0 }, batch, LossPositions.Last);
        // step t of sequence b at t·B + b
        Assert.Equal(new[] { 4, 0, 5, 1, 6, 2 }, batch.Inputs);
        Assert.Equal(new[] { 7, 3 }, batch.Targets.Take(2));
        data.FillBatch(new[] { 4, 0 }, batch, LossPositions.All);
        Assert.Equal(new[] { 5, 1, 6, 2, 7, 3 }, batch.Targets);
    }

    [Fact]
    public void ShortCorpusIsRejected()
    {
        var e = Assert.Throws<GpuLstmException>(() => new WindowDataset(new int[50], 50));
        Assert.Contains("at least seq_length + 1 = 51", e.Message);
    }
}

public static class SharedData
{
    /// <summary>../shared/data beside the repository (tests may read it; the product never does).</summary>
    public static string Directory
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "shared", "data");
                if (System.IO.Directory.Exists(candidate) && File.Exists(Path.Combine(dir.FullName, "shared", "data", "road-not-taken-5.txt")))
                    return candidate;
            }
            throw new DirectoryNotFoundException("../shared/data not found above " + AppContext.BaseDirectory);
        }
    }
}
