using System.Text.RegularExpressions;

namespace GpuLstm.Runtime.Files;

/// <summary>I/O failures said in the user's words: "no space left on device", not ".NET's "No space left on device : '/x/y.tmp-…'".</summary>
internal static partial class IoErrors
{
    /// <summary>The reason without the path .NET appends (the caller names the file), starting in lower case.</summary>
    public static string Describe(Exception? e)
    {
        if (e is null) return "unknown error";
        if (e is UnauthorizedAccessException) return "permission denied";
        if (e is PathTooLongException) return "the path is too long";
        if (e is FileNotFoundException or DirectoryNotFoundException) return "not found";
        string message = PathSuffix().Replace(e.Message.ReplaceLineEndings(" "), "").Trim().TrimEnd('.');
        if (message.Length == 0) return "input/output error";
        return char.ToLowerInvariant(message[0]) + message[1..];
    }

    // .NET on Unix formats errno messages as "<strerror> : '<path>'".
    [GeneratedRegex(@"\s*:\s*'[^']*'\s*$")]
    private static partial Regex PathSuffix();
}
