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
    public void InvalidUtf8IsAClearError()
    {
        var e = Assert.Throws<GpuLstmException>(() => Corpus.Decode(new byte[] { 0x61, 0xC3, 0x28 }, "corpus 'x'"));
        Assert.Contains("not valid UTF-8", e.Message);
        Assert.Equal("ab", Corpus.Decode(new byte[] { 0xEF, 0xBB, 0xBF, 0x61, 0x62 }, "bom"));
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
