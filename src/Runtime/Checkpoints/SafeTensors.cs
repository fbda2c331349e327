using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using GpuLstm.Runtime.Files;

namespace GpuLstm.Runtime.Checkpoints;

/// <summary>One named F32 tensor. <c>Data.Length</c> equals the product of <c>Shape</c> (1 for an empty shape).</summary>
internal sealed record TensorEntry(string Name, int[] Shape, float[] Data);

/// <summary>A checkpoint file that cannot be read; the message is one line naming the file and the problem.</summary>
internal sealed class CheckpointFormatException : Exception
{
    public CheckpointFormatException(string message) : base(message) { }
}

/// <summary>
/// Reader and writer for the safetensors format (https://github.com/huggingface/safetensors),
/// restricted to F32 tensors.
/// </summary>
internal static class SafeTensors
{
    private const string MetadataKey = "__metadata__";
    private const string F32 = "F32";

    // Same cap as the reference implementation: a header bigger than this is a corrupt length,
    // and honouring it would let a hostile file make us allocate arbitrary amounts of memory.
    private const long MaxHeaderBytes = 100_000_000;

    /// <summary>Writes a safetensors file atomically (see <see cref="AtomicFile"/>); <paramref name="what"/> names it in errors.</summary>
    public static void Write(string path, IReadOnlyDictionary<string, string> metadata, IReadOnlyList<TensorEntry> tensors, string what = "safetensors file")
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        AtomicFile.Write(path, what, Serializer(metadata, tensors));
    }

    /// <summary>
    /// Checks the tensors and builds the header now, and returns what writes the file's bytes to a stream:
    /// every check happens before the first byte hits the disk, so a bad argument can never cost the caller
    /// the file already at the path.
    /// </summary>
    public static Action<Stream> Serializer(IReadOnlyDictionary<string, string> metadata, IReadOnlyList<TensorEntry> tensors)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        ArgumentNullException.ThrowIfNull(tensors);
        ValidateForWrite(metadata, tensors);
        byte[] header = BuildHeader(metadata, tensors);
        return fs =>
        {
            Span<byte> prefix = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)header.Length);
            fs.Write(prefix);
            fs.Write(header);
            foreach (var t in tensors) WriteFloats(fs, t.Data);
        };
    }

    /// <summary>Reads a checkpoint from a file, standard input (<c>-</c>) or a pipe.</summary>
    public static (IReadOnlyDictionary<string, string> Metadata, IReadOnlyDictionary<string, TensorEntry> Tensors) Read(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        byte[] bytes;
        try
        {
            bytes = InputSource.Open(path, "checkpoint").ReadAllBytes();
        }
        catch (GpuLstmException e)
        {
            throw new CheckpointFormatException(e.Message);
        }
        return Read(bytes, path);
    }

    public static (IReadOnlyDictionary<string, string> Metadata, IReadOnlyDictionary<string, TensorEntry> Tensors) Read(byte[] bytes, string displayName)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        ArgumentNullException.ThrowIfNull(displayName);
        string file = "checkpoint " + QuoteFile(displayName);

        if (bytes.Length < 8)
            throw new CheckpointFormatException($"{file} is truncated: {bytes.Length} bytes, too short for the 8-byte header length");
        ulong headerLen = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        if (headerLen > MaxHeaderBytes)
            throw new CheckpointFormatException($"{file} declares a {headerLen}-byte header, over the {MaxHeaderBytes}-byte limit");
        if (headerLen > (ulong)(bytes.Length - 8))
            throw new CheckpointFormatException($"{file} is truncated: header length is {headerLen} bytes, file has {bytes.Length - 8} bytes after the length prefix");

        int dataStart = 8 + (int)headerLen;

        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(bytes.AsMemory(8, (int)headerLen));
        }
        catch (JsonException e)
        {
            throw new CheckpointFormatException($"{file} has a header that is not valid UTF-8 JSON: {OneLine(e.Message)}");
        }

        using (doc)
        {
            try
            {
                return Parse(file, doc.RootElement, bytes, dataStart);
            }
            catch (InvalidOperationException e)
            {
                // Raised when a name or value cannot be transcoded to UTF-16, i.e. invalid UTF-8.
                throw new CheckpointFormatException($"{file} has a header that is not valid UTF-8 JSON: {OneLine(e.Message)}");
            }
        }
    }

    private static (IReadOnlyDictionary<string, string>, IReadOnlyDictionary<string, TensorEntry>) Parse(string file, JsonElement root, byte[] bytes, int dataStart)
    {
        if (root.ValueKind != JsonValueKind.Object)
            throw new CheckpointFormatException($"{file} has a header that is a JSON {Kind(root)}, not an object");

        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var entries = new List<(string Name, int[] Shape, long Begin, long End)>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        bool sawMetadata = false;

        foreach (var prop in root.EnumerateObject())
        {
            if (prop.Name == MetadataKey)
            {
                // JsonDocument silently keeps duplicate keys, so ambiguity has to be rejected by hand.
                if (sawMetadata) throw new CheckpointFormatException($"{file} has more than one {MetadataKey} entry");
                sawMetadata = true;
                ReadMetadata(file, prop.Value, metadata);
                continue;
            }
            if (!names.Add(prop.Name))
                throw new CheckpointFormatException($"{file} has two tensors named {Quote(prop.Name)}");
            var (shape, begin, end) = ReadTensorHeader(file, prop.Name, prop.Value);
            entries.Add((prop.Name, shape, begin, end));
        }

        // Checked across all tensors first so that a cut-off file is reported as truncated rather
        // than as one arbitrary tensor pointing past the end.
        long dataLen = bytes.Length - dataStart;
        long needed = entries.Count == 0 ? 0 : entries.Max(e => e.End);
        if (needed > dataLen)
            throw new CheckpointFormatException($"{file} is truncated: header says {needed} bytes of tensor data, file has {dataLen}");
        CheckNoOverlap(file, entries);

        var tensors = new Dictionary<string, TensorEntry>(StringComparer.Ordinal);
        foreach (var (name, shape, begin, end) in entries)
            tensors.Add(name, new TensorEntry(name, shape, ReadFloats(bytes.AsSpan(dataStart + (int)begin, (int)(end - begin)))));
        return (metadata, tensors);
    }

    private static void ReadMetadata(string file, JsonElement value, Dictionary<string, string> into)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw new CheckpointFormatException($"{file} has a {MetadataKey} that is a JSON {Kind(value)}, not an object");
        foreach (var m in value.EnumerateObject())
        {
            if (m.Value.ValueKind != JsonValueKind.String)
                throw new CheckpointFormatException($"{file} has {MetadataKey} entry {Quote(m.Name)} that is a JSON {Kind(m.Value)}, not a string");
            if (!into.TryAdd(m.Name, m.Value.GetString()!))
                throw new CheckpointFormatException($"{file} has {MetadataKey} key {Quote(m.Name)} more than once");
        }
    }

    private static (int[] Shape, long Begin, long End) ReadTensorHeader(string file, string name, JsonElement entry)
    {
        string what = $"{file} tensor {Quote(name)}";
        if (entry.ValueKind != JsonValueKind.Object)
            throw new CheckpointFormatException($"{what} is a JSON {Kind(entry)}, not an object");

        string? dtype = null;
        int[]? shape = null;
        long[]? offsets = null;
        foreach (var p in entry.EnumerateObject())
        {
            switch (p.Name)
            {
                case "dtype" when dtype is null:
                    if (p.Value.ValueKind != JsonValueKind.String)
                        throw new CheckpointFormatException($"{what} has a dtype that is a JSON {Kind(p.Value)}, not a string");
                    dtype = p.Value.GetString()!;
                    break;
                case "shape" when shape is null:
                    shape = Array.ConvertAll(ReadNonNegativeIntegers(what, "shape", p.Value, int.MaxValue), d => (int)d);
                    break;
                case "data_offsets" when offsets is null:
                    offsets = ReadNonNegativeIntegers(what, "data_offsets", p.Value, long.MaxValue);
                    break;
                case "dtype" or "shape" or "data_offsets":
                    throw new CheckpointFormatException($"{what} has key {Quote(p.Name)} more than once");
                default:
                    throw new CheckpointFormatException($"{what} has unknown key {Quote(p.Name)}");
            }
        }

        if (dtype is null) throw new CheckpointFormatException($"{what} has no dtype");
        if (shape is null) throw new CheckpointFormatException($"{what} has no shape");
        if (offsets is null) throw new CheckpointFormatException($"{what} has no data_offsets");
        if (dtype != F32)
            throw new CheckpointFormatException($"{what} has dtype {Quote(dtype)}; only F32 is supported");
        if (offsets.Length != 2)
            throw new CheckpointFormatException($"{what} has {offsets.Length} data_offsets, expected [begin, end]");

        long begin = offsets[0], end = offsets[1];
        if (begin > end)
            throw new CheckpointFormatException($"{what} has data_offsets [{begin}, {end}] that end before they begin");

        long bytesNeeded;
        try
        {
            long count = 1;
            foreach (int d in shape) count = checked(count * d);
            bytesNeeded = checked(count * sizeof(float));
        }
        catch (OverflowException)
        {
            throw new CheckpointFormatException($"{what} has shape [{string.Join(", ", shape)}] whose size overflows");
        }
        if (end - begin != bytesNeeded)
            throw new CheckpointFormatException($"{what} has shape [{string.Join(", ", shape)}] needing {bytesNeeded} bytes, but data_offsets [{begin}, {end}] span {end - begin}");
        return (shape, begin, end);
    }

    private static long[] ReadNonNegativeIntegers(string what, string key, JsonElement value, long max)
    {
        if (value.ValueKind != JsonValueKind.Array)
            throw new CheckpointFormatException($"{what} has a {key} that is a JSON {Kind(value)}, not an array");
        var result = new long[value.GetArrayLength()];
        int i = 0;
        foreach (var v in value.EnumerateArray())
        {
            if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt64(out long n) || n < 0 || n > max)
                throw new CheckpointFormatException($"{what} has a {key} element {Quote(v.GetRawText())} that is not {(max == long.MaxValue ? "a non-negative integer" : $"an integer in [0, {max}]")}");
            result[i++] = n;
        }
        return result;
    }

    private static void CheckNoOverlap(string file, List<(string Name, int[] Shape, long Begin, long End)> ranges)
    {
        // Empty tensors occupy no bytes, so they cannot collide with anything wherever they point.
        var sorted = ranges.Where(r => r.End > r.Begin).OrderBy(r => r.Begin).ToList();
        for (int i = 1; i < sorted.Count; i++)
        {
            var (prev, cur) = (sorted[i - 1], sorted[i]);
            if (cur.Begin < prev.End)
                throw new CheckpointFormatException($"{file} has overlapping tensors {Quote(prev.Name)} [{prev.Begin}, {prev.End}] and {Quote(cur.Name)} [{cur.Begin}, {cur.End}]");
        }
    }

    private static float[] ReadFloats(ReadOnlySpan<byte> src)
    {
        var result = new float[src.Length / sizeof(float)];
        if (BitConverter.IsLittleEndian)
        {
            src.CopyTo(MemoryMarshal.AsBytes(result.AsSpan()));
        }
        else
        {
            for (int i = 0; i < result.Length; i++)
                result[i] = BinaryPrimitives.ReadSingleLittleEndian(src.Slice(i * sizeof(float)));
        }
        return result;
    }

    private static void WriteFloats(Stream s, float[] data)
    {
        if (BitConverter.IsLittleEndian)
        {
            s.Write(MemoryMarshal.AsBytes(data.AsSpan()));
            return;
        }
        var buf = new byte[sizeof(float) * 4096];
        for (int start = 0; start < data.Length; start += 4096)
        {
            int n = Math.Min(4096, data.Length - start);
            for (int i = 0; i < n; i++)
                BinaryPrimitives.WriteSingleLittleEndian(buf.AsSpan(i * sizeof(float)), data[start + i]);
            s.Write(buf, 0, n * sizeof(float));
        }
    }

    private static void ValidateForWrite(IReadOnlyDictionary<string, string> metadata, IReadOnlyList<TensorEntry> tensors)
    {
        foreach (var (k, v) in metadata)
            if (k is null || v is null) throw new ArgumentException("metadata keys and values must not be null", nameof(metadata));

        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var t in tensors)
        {
            if (t is null || t.Name is null || t.Shape is null || t.Data is null)
                throw new ArgumentException("tensor entries and their name, shape and data must not be null", nameof(tensors));
            if (t.Name == MetadataKey)
                throw new ArgumentException($"tensor name {Quote(t.Name)} is reserved for metadata", nameof(tensors));
            if (!names.Add(t.Name))
                throw new ArgumentException($"tensor name {Quote(t.Name)} appears more than once", nameof(tensors));
            long count = 1;
            foreach (int d in t.Shape)
            {
                if (d < 0) throw new ArgumentException($"tensor {Quote(t.Name)} has negative dimension {d}", nameof(tensors));
                count = checked(count * d);
            }
            if (count != t.Data.Length)
                throw new ArgumentException($"tensor {Quote(t.Name)} has shape [{string.Join(", ", t.Shape)}] ({count} elements) but {t.Data.Length} values", nameof(tensors));
        }
    }

    private static byte[] BuildHeader(IReadOnlyDictionary<string, string> metadata, IReadOnlyList<TensorEntry> tensors)
    {
        var buffer = new ArrayBufferWriter<byte>();
        // Relaxed escaping keeps non-ASCII names readable in the header; the output is still strict JSON.
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            if (metadata.Count > 0)
            {
                w.WriteStartObject(MetadataKey);
                foreach (var (k, v) in metadata) w.WriteString(k, v);
                w.WriteEndObject();
            }
            long offset = 0;
            foreach (var t in tensors)
            {
                long end = offset + (long)t.Data.Length * sizeof(float);
                w.WriteStartObject(t.Name);
                w.WriteString("dtype", F32);
                w.WriteStartArray("shape");
                foreach (int d in t.Shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                w.WriteNumberValue(end);
                w.WriteEndArray();
                w.WriteEndObject();
                offset = end;
            }
            w.WriteEndObject();
        }

        // The data section must start on an 8-byte boundary so readers can map tensors in place.
        int json = buffer.WrittenCount;
        int padded = (json + 7) & ~7;
        if (padded > MaxHeaderBytes)
            throw new ArgumentException($"checkpoint header would be {padded} bytes, over the {MaxHeaderBytes}-byte limit readers accept", nameof(tensors));
        var header = new byte[padded];
        buffer.WrittenSpan.CopyTo(header);
        header.AsSpan(json).Fill((byte)' ');
        return header;
    }

    private static string Kind(JsonElement e) => e.ValueKind.ToString().ToLowerInvariant();

    private static string Truncate(string s) => s.Length <= 80 ? s : s[..77] + "...";

    // Names come from untrusted headers; control characters would break the one-line message contract.
    private static string OneLine(string s)
    {
        var sb = new StringBuilder(s.Length);
        foreach (char c in s) sb.Append(char.IsControl(c) ? ' ' : c);
        return sb.ToString();
    }

    private static string Quote(string s) => "'" + OneLine(Truncate(s)) + "'";

    // File names are not truncated: the reader needs the whole path to find the bad file.
    private static string QuoteFile(string s) => "'" + OneLine(s) + "'";
}
