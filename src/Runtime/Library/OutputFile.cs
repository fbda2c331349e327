namespace GpuLstm;

/// <summary>A file a run may write beside its checkpoint (metrics, a plot): at the default place beside it, nowhere, or at a given path.</summary>
public readonly record struct OutputFile
{
    /// <summary>The path given; null for <see cref="Default"/> or <see cref="None"/>.</summary>
    public string? Path { get; private init; }
    public bool Enabled { get; private init; }

    /// <summary>Beside the checkpoint, named after it.</summary>
    public static OutputFile Default => new() { Enabled = true };

    /// <summary>Not written.</summary>
    public static OutputFile None => new() { Enabled = false };

    public static OutputFile At(string path) => new() { Path = path ?? throw new ArgumentNullException(nameof(path)), Enabled = true };

    /// <summary>The path to write: the given one, or the checkpoint's stem + <paramref name="suffix"/>; null when not written.</summary>
    public string? Resolve(string checkpoint, string suffix) =>
        !Enabled ? null : Path ?? (checkpoint.EndsWith(".safetensors", StringComparison.Ordinal) ? checkpoint[..^".safetensors".Length] : checkpoint) + suffix;
}
