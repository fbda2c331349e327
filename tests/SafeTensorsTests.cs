using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using GpuLstm.Runtime.Checkpoints;
using Xunit;

namespace GpuLstm.Tests;

public sealed class SafeTensorsTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "safetensors-tests-" + Guid.NewGuid().ToString("N"));

    public SafeTensorsTests() => Directory.CreateDirectory(_dir);

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    private static readonly Dictionary<string, string> NoMetadata = new();

    private static TensorEntry RandomTensor(Random rng, string name, params int[] shape)
    {
        int count = shape.Aggregate(1, (a, b) => a * b);
        var bytes = new byte[count * 4];
        // Random bit patterns rather than random numbers, so NaN payloads, denormals and -0 all have
        // to survive the round trip.
        rng.NextBytes(bytes);
        var data = new float[count];
        for (int i = 0; i < count; i++) data[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(i * 4));
        return new TensorEntry(name, shape, data);
    }

    private byte[] ValidFile()
    {
        var rng = new Random(7);
        string path = Path.Combine(_dir, "valid.safetensors");
        SafeTensors.Write(path, new Dictionary<string, string> { ["step"] = "42" },
            [RandomTensor(rng, "a", 3), RandomTensor(rng, "b", 2, 5), RandomTensor(rng, "c", 1, 3, 2)]);
        return File.ReadAllBytes(path);
    }

    /// <summary>Assembles a file around a hand-written header, padded the way the writer pads.</summary>
    private static byte[] Build(string headerJson, int dataBytes)
    {
        var json = Encoding.UTF8.GetBytes(headerJson);
        int padded = (json.Length + 7) & ~7;
        var file = new byte[8 + padded + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)padded);
        json.CopyTo(file, 8);
        file.AsSpan(8 + json.Length, padded - json.Length).Fill((byte)' ');
        return file;
    }

    private static CheckpointFormatException AssertRejected(byte[] bytes, params string[] fragments)
    {
        var e = Assert.Throws<CheckpointFormatException>(() => SafeTensors.Read(bytes, "bad.safetensors"));
        Assert.StartsWith("checkpoint 'bad.safetensors'", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        foreach (var f in fragments) Assert.Contains(f, e.Message);
        return e;
    }

    [Fact]
    public void RoundTripIsBitExact()
    {
        var rng = new Random(1234);
        var metadata = new Dictionary<string, string> { ["format"] = "pt", ["step"] = "1200", ["note"] = "ünïcode ✓ \"quoted\"" };
        TensorEntry[] tensors = [RandomTensor(rng, "embed.weight", 7), RandomTensor(rng, "lstm.w_ih", 3, 11), RandomTensor(rng, "lstm/b+x", 5, 1, 3)];
        string path = Path.Combine(_dir, "nested", "dir", "model.safetensors");
        // Like torch.save, a write does not create directories: it names the missing one.
        var missing = Assert.Throws<GpuLstmException>(() => SafeTensors.Write(path, metadata, tensors));
        Assert.Contains("does not exist", missing.Message);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);

        SafeTensors.Write(path, metadata, tensors);
        var (readMeta, readTensors) = SafeTensors.Read(path);

        Assert.Equal(metadata.OrderBy(kv => kv.Key), readMeta.OrderBy(kv => kv.Key));
        Assert.Equal(tensors.Length, readTensors.Count);
        foreach (var t in tensors)
        {
            var r = readTensors[t.Name];
            Assert.Equal(t.Name, r.Name);
            Assert.Equal(t.Shape, r.Shape);
            Assert.Equal(t.Data.Select(BitConverter.SingleToInt32Bits), r.Data.Select(BitConverter.SingleToInt32Bits));
        }
        Assert.Single(Directory.GetFiles(Path.GetDirectoryName(path)!));
    }

    [Fact]
    public void EmptyShapesAndEmptyMetadataRoundTrip()
    {
        string path = Path.Combine(_dir, "edge.safetensors");
        SafeTensors.Write(path, NoMetadata, [new TensorEntry("scalar", [], [3.5f]), new TensorEntry("empty", [4, 0], []), new TensorEntry("v", [2], [1f, 2f])]);
        var (meta, tensors) = SafeTensors.Read(path);
        Assert.Empty(meta);
        Assert.Equal([3.5f], tensors["scalar"].Data);
        Assert.Empty(tensors["scalar"].Shape);
        Assert.Empty(tensors["empty"].Data);
        Assert.Equal([1f, 2f], tensors["v"].Data);
        Assert.DoesNotContain("__metadata__", Encoding.UTF8.GetString(File.ReadAllBytes(path)));
    }

    [Fact]
    public void ByteLayoutMatchesTheFormat()
    {
        string path = Path.Combine(_dir, "tiny.safetensors");
        SafeTensors.Write(path, new Dictionary<string, string> { ["k"] = "v" },
            [new TensorEntry("w", [2], [1f, -2f]), new TensorEntry("b", [3, 1], [0.5f, 0f, 7f])]);
        var bytes = File.ReadAllBytes(path);

        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        Assert.Equal(0ul, (8 + n) % 8);
        Assert.Equal(8 + (long)n + 5 * 4, bytes.Length);

        var header = Encoding.UTF8.GetString(bytes, 8, (int)n);
        Assert.StartsWith("{", header);
        Assert.EndsWith("}", header.TrimEnd(' '));

        using var doc = JsonDocument.Parse(header);
        var root = doc.RootElement;
        Assert.Equal(["__metadata__", "w", "b"], root.EnumerateObject().Select(p => p.Name));
        Assert.Equal("v", root.GetProperty("__metadata__").GetProperty("k").GetString());
        Assert.Equal("F32", root.GetProperty("w").GetProperty("dtype").GetString());
        Assert.Equal([2], root.GetProperty("w").GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal([0L, 8L], root.GetProperty("w").GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()));
        Assert.Equal([3, 1], root.GetProperty("b").GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal([8L, 20L], root.GetProperty("b").GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()));

        var data = bytes.AsSpan(8 + (int)n);
        float[] expected = [1f, -2f, 0.5f, 0f, 7f];
        for (int i = 0; i < expected.Length; i++)
            Assert.Equal(expected[i], BinaryPrimitives.ReadSingleLittleEndian(data.Slice(i * 4)));
    }

    [Fact]
    public void FailedWriteKeepsTheOldFile()
    {
        string path = Path.Combine(_dir, "keep.safetensors");
        SafeTensors.Write(path, NoMetadata, [new TensorEntry("w", [2], [1f, 2f])]);
        var before = File.ReadAllBytes(path);

        Assert.ThrowsAny<ArgumentException>(() =>
            SafeTensors.Write(path, NoMetadata, [new TensorEntry("w", [2], [9f, 9f]), new TensorEntry("bad", [2, 3], [1f])]));

        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Equal([path], Directory.GetFiles(_dir));
    }

    [Fact]
    public void WriteReplacesAnExistingFile()
    {
        string path = Path.Combine(_dir, "replace.safetensors");
        SafeTensors.Write(path, NoMetadata, [new TensorEntry("w", [2], [1f, 2f])]);
        SafeTensors.Write(path, NoMetadata, [new TensorEntry("w", [1], [3f])]);
        Assert.Equal([3f], SafeTensors.Read(path).Tensors["w"].Data);
        Assert.Equal([path], Directory.GetFiles(_dir));
    }

    [Fact]
    public void MissingFileIsReported()
    {
        string path = Path.Combine(_dir, "nope.safetensors");
        var e = Assert.Throws<CheckpointFormatException>(() => SafeTensors.Read(path));
        Assert.Equal($"checkpoint '{path}' not found", e.Message);
    }

    [Fact]
    public void TruncatedFileIsRejected()
    {
        var valid = ValidFile();
        string path = Path.Combine(_dir, "cut.safetensors");
        File.WriteAllBytes(path, valid[..^4]);
        var e = Assert.Throws<CheckpointFormatException>(() => SafeTensors.Read(path));
        Assert.Contains("cut.safetensors", e.Message);
        Assert.Contains("truncated", e.Message);

        AssertRejected(valid[..5], "truncated");
    }

    [Fact]
    public void HeaderLengthLargerThanFileIsRejected()
    {
        var bytes = ValidFile();
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)bytes.Length);
        AssertRejected(bytes, "truncated");

        BinaryPrimitives.WriteUInt64LittleEndian(bytes, ulong.MaxValue);
        AssertRejected(bytes, "limit");
    }

    [Fact]
    public void BadJsonIsRejected()
    {
        AssertRejected(Build("{\"w\": {\"dtype\": \"F32\",", 0), "JSON");
        AssertRejected(Build("[1, 2]", 0), "not an object");
        var badUtf8 = Build("{\"w\": 1}", 0);
        badUtf8[10] = 0xFF;
        AssertRejected(badUtf8);
    }

    [Fact]
    public void UnknownDtypeIsRejected()
    {
        AssertRejected(Build("""{"w":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}""", 4), "'F16'");
    }

    [Fact]
    public void OffsetsOutOfRangeAreRejected()
    {
        AssertRejected(Build("""{"w":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}""", 8));
        AssertRejected(Build("""{"w":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}""", 8));
        AssertRejected(Build("""{"w":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}}""", 8));
        AssertRejected(Build("""{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8,16]}}""", 16));
    }

    [Fact]
    public void OverlappingTensorsAreRejected()
    {
        AssertRejected(Build("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""", 12), "overlapping");
    }

    [Fact]
    public void ShapeLengthMismatchIsRejected()
    {
        AssertRejected(Build("""{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}""", 8), "shape");
        AssertRejected(Build("""{"w":{"dtype":"F32","shape":[65536,65536,65536,65536],"data_offsets":[0,8]}}""", 8), "overflows");
        AssertRejected(Build("""{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,8]}}""", 8), "not an integer");
    }

    [Fact]
    public void MalformedEntriesAreRejected()
    {
        AssertRejected(Build("""{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"extra":1}}""", 8), "unknown key 'extra'");
        AssertRejected(Build("""{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", 8), "two tensors");
        AssertRejected(Build("""{"__metadata__":{"k":3}}""", 0), "not a string");
        AssertRejected(Build("""{"w":{"dtype":"F32","shape":[2]}}""", 8), "data_offsets");
    }

    [Fact]
    public void FuzzedFilesOnlyEverThrowCheckpointFormatException()
    {
        var valid = ValidFile();
        int headerLen = (int)BinaryPrimitives.ReadUInt64LittleEndian(valid);
        var rng = new Random(20240607);
        for (int i = 0; i < 10_000; i++)
        {
            byte[] bytes;
            switch (rng.Next(4))
            {
                case 0:
                    bytes = valid[..rng.Next(valid.Length)];
                    break;
                case 1:
                    bytes = (byte[])valid.Clone();
                    for (int flips = rng.Next(1, 9); flips > 0; flips--)
                    {
                        // Bias flips toward the header, where the parser's decisions are made.
                        int at = rng.Next(2) == 0 ? rng.Next(8 + headerLen) : rng.Next(bytes.Length);
                        bytes[at] ^= (byte)(1 << rng.Next(8));
                    }
                    break;
                case 2:
                    bytes = (byte[])valid.Clone();
                    ulong huge = rng.Next(3) switch
                    {
                        0 => ulong.MaxValue - (ulong)rng.Next(1000),
                        1 => (ulong)rng.NextInt64(long.MaxValue),
                        _ => (ulong)rng.Next(valid.Length * 2),
                    };
                    BinaryPrimitives.WriteUInt64LittleEndian(bytes, huge);
                    break;
                default:
                    // Replace one header byte with a JSON-significant character to reach deeper parse paths.
                    bytes = (byte[])valid.Clone();
                    const string jsonChars = "{}[]\",:0-9e. ";
                    bytes[8 + rng.Next(headerLen)] = (byte)jsonChars[rng.Next(jsonChars.Length)];
                    break;
            }

            try
            {
                SafeTensors.Read(bytes, "fuzz.safetensors");
            }
            catch (CheckpointFormatException e)
            {
                Assert.DoesNotContain('\n', e.Message);
            }
        }
    }
}
