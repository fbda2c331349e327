using System.Globalization;
using System.Text;

namespace GpuLstm.Runtime.Checkpoints;

/// <summary>
/// The validation both checkpoint kinds share: read the file (any format problem becomes a one-line
/// <see cref="GpuLstmException"/>), typed metadata lookups whose errors name the file and key, and the check
/// that every expected tensor is there, with its shape and finite values.
/// </summary>
internal sealed class CheckpointReader
{
    private readonly string _path;
    private readonly string _writer;

    public IReadOnlyDictionary<string, string> Metadata { get; }
    public IReadOnlyDictionary<string, TensorEntry> Tensors { get; }

    /// <param name="writer">The command that writes this kind, named when a key is missing.</param>
    public CheckpointReader(string path, string writer,
        Func<(IReadOnlyDictionary<string, string>, IReadOnlyDictionary<string, TensorEntry>)> read)
    {
        _path = path;
        _writer = writer;
        try { (Metadata, Tensors) = read(); }
        catch (CheckpointFormatException e) { throw new GpuLstmException(e.Message, e); }
    }

    public string Bad(string what) => $"checkpoint '{_path}' {what}";

    public string Get(string key) =>
        Metadata.TryGetValue(key, out var value) ? value : throw new GpuLstmException(Bad($"has no '{key}' metadata; it was not written by {_writer}"));

    public int GetInt(string key, int min, int max)
    {
        string s = Get(key);
        if (!int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out int n) || n < min || n > max)
            throw new GpuLstmException(Bad($"has an invalid '{key}': '{Truncate(s)}'"));
        return n;
    }

    public bool GetBool(string key) => Get(key) switch
    {
        "true" => true,
        "false" => false,
        var other => throw new GpuLstmException(Bad($"has an invalid '{key}': '{Truncate(other)}' (expected true or false)")),
    };

    /// <summary>Every expected tensor exists with exactly its shape and only finite values; <paramref name="shapeContext"/> ends the shape error ("for V=3, H=4").</summary>
    public void RequireTensors(IEnumerable<(string Name, int[] Shape)> expected, string shapeContext)
    {
        foreach (var (name, shape) in expected)
        {
            if (!Tensors.TryGetValue(name, out var tensor))
                throw new GpuLstmException(Bad($"has no tensor '{name}'"));
            if (!tensor.Shape.SequenceEqual(shape))
                throw new GpuLstmException(Bad($"tensor '{name}' has shape [{string.Join(",", tensor.Shape)}], expected [{string.Join(",", shape)}] {shapeContext}"));
            if (tensor.Data.Any(x => !float.IsFinite(x)))
                throw new GpuLstmException(Bad($"tensor '{name}' contains NaN or infinite values"));
        }
    }

    /// <summary>A metadata value as it may appear in a one-line message: at most 40 chars, control chars as '?'.</summary>
    public static string Truncate(string s)
    {
        var oneLine = new StringBuilder();
        foreach (char ch in s.Length > 40 ? s[..40] : s) oneLine.Append(char.IsControl(ch) ? '?' : ch);
        return s.Length > 40 ? oneLine + "…" : oneLine.ToString();
    }
}
