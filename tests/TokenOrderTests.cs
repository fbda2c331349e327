using GpuLstm.Runtime.Data;
using Xunit;

namespace GpuLstm.Tests;

public sealed class TokenOrderTests
{
    /// <summary>The grouping written the obvious way: for each id in turn, its rows in increasing order.</summary>
    private static (int[] Order, int[] Offsets) NaiveGrouping(int[] ids, int vocab)
    {
        var order = new List<int>();
        var offsets = new int[vocab + 1];
        for (int v = 0; v < vocab; v++)
        {
            offsets[v] = order.Count;
            for (int r = 0; r < ids.Length; r++)
                if (ids[r] == v) order.Add(r);
        }
        offsets[vocab] = order.Count;
        return (order.ToArray(), offsets);
    }

    private static int[] Ids(Random rng, int rows, int vocab, string kind) => kind switch
    {
        "random" => Enumerable.Range(0, rows).Select(_ => rng.Next(vocab)).ToArray(),
        "equal-first" => Enumerable.Repeat(0, rows).ToArray(),
        "equal-last" => Enumerable.Repeat(vocab - 1, rows).ToArray(),
        "equal-middle" => Enumerable.Repeat(vocab / 2, rows).ToArray(),
        _ => throw new ArgumentException(kind),
    };

    public static TheoryData<int, int, string> Cases => new()
    {
        { 64, 10, "random" },
        { 1000, 37, "random" },
        { 1, 1, "random" },
        { 50, 1, "equal-first" },     // one id, one segment holding every row
        { 50, 9, "equal-first" },
        { 50, 9, "equal-last" },      // the last id: its count is the one the sort never stores
        { 50, 9, "equal-middle" },
        { 5, 10_000, "random" },      // V larger than R: almost every segment empty
        { 64, 10_000, "random" },
        { 0, 5, "random" },           // no rows: every segment empty
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void SortGroupsRowsByIdInRowOrder(int rows, int vocab, string kind)
    {
        int seed = TestData.FreshSeed();
        var ids = Ids(new Random(seed), rows, vocab, kind);
        // Stale contents from an earlier batch must not leak into the result.
        var order = Enumerable.Repeat(-7, rows).ToArray();
        var offsets = Enumerable.Repeat(12345, vocab + 1).ToArray();
        TokenOrder.Sort(ids, vocab, order, offsets);
        var expected = NaiveGrouping(ids, vocab);
        Assert.True(expected.Order.SequenceEqual(order), $"order, seed {seed}");
        Assert.True(expected.Offsets.SequenceEqual(offsets), $"offsets, seed {seed}");
    }

    /// <summary>
    /// Arrays sized once for the largest batch serve every batch: the sort allocates nothing, writes only the
    /// first R and V+1 elements, and a smaller batch after a larger one still comes out right.
    /// </summary>
    [Fact]
    public void SortReusesTheCallersArraysWithoutAllocating()
    {
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        const int vocab = 500, maxRows = 256;
        var order = new int[maxRows + 3];
        var offsets = new int[vocab + 1 + 3];
        order.AsSpan(maxRows).Fill(-1);
        offsets.AsSpan(vocab + 1).Fill(-1);
        var large = Ids(rng, maxRows, vocab, "random");
        var small = Ids(rng, 40, vocab, "random");
        TokenOrder.Sort(large, vocab, order, offsets); // warm up: JIT and tiered compilation allocate
        TokenOrder.Sort(small, vocab, order, offsets);

        long before = GC.GetAllocatedBytesForCurrentThread();
        TokenOrder.Sort(large, vocab, order, offsets);
        TokenOrder.Sort(small, vocab, order, offsets);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
        var expected = NaiveGrouping(small, vocab);
        Assert.True(expected.Order.SequenceEqual(order.Take(small.Length)), $"order, seed {seed}");
        Assert.True(expected.Offsets.SequenceEqual(offsets.Take(vocab + 1)), $"offsets, seed {seed}");
        Assert.All(order.Skip(maxRows), x => Assert.Equal(-1, x));
        Assert.All(offsets.Skip(vocab + 1), x => Assert.Equal(-1, x));
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(10)]
    public void SortRejectsAnIdOutsideTheVocabulary(int bad)
    {
        var ids = new[] { 3, 0, bad, 9 };
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => TokenOrder.Sort(ids, 10, new int[4], new int[11]));
        Assert.Contains("row 2", e.Message);
    }

    [Fact]
    public void SortRejectsArraysTooShortForTheBatchOrTheVocabulary()
    {
        var ids = new[] { 1, 2, 3 };
        Assert.Throws<ArgumentException>(() => TokenOrder.Sort(ids, 10, new int[2], new int[11]));
        Assert.Throws<ArgumentException>(() => TokenOrder.Sort(ids, 10, new int[3], new int[10]));
        Assert.Throws<ArgumentOutOfRangeException>(() => TokenOrder.Sort(ids, 0, new int[3], new int[1]));
    }
}
