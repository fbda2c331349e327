using System.Security.Cryptography;

namespace GpuLstm.Tests;

/// <summary>Every file below a directory with the SHA-256 of its bytes (links and FIFOs by their kind, never read): equal snapshots mean nothing was created, removed or changed.</summary>
public static class DirectorySnapshot
{
    public static string Of(string dir) => string.Join("\n",
        Directory.GetFileSystemEntries(dir, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal)
            .Select(p => Path.GetRelativePath(dir, p) + Describe(p)));

    private static string Describe(string path)
    {
        var info = new FileInfo(path);
        if (info.LinkTarget is { } target) return " -> " + target;
        if (Directory.Exists(path)) return "/";
        var kind = GpuLstm.Runtime.Files.FileStatus.Of(path).Kind;
        if (kind != GpuLstm.Runtime.Files.FileKind.Regular) return " " + kind;
        return " " + Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path)));
    }
}
