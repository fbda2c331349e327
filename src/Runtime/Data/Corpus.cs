using System.Reflection;
using System.Text;

namespace GpuLstm.Runtime.Data;

/// <summary>Loads training text: a user's UTF-8 file, or the embedded default (the notebook's 5 lines of "The Road Not Taken").</summary>
public static class Corpus
{
    public const string DefaultName = "road-not-taken-5 (embedded)";
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static string Default()
    {
        using var stream = typeof(Corpus).Assembly.GetManifestResourceStream("GpuLstm.DefaultCorpus.txt")
            ?? throw new InvalidOperationException("the embedded default corpus is missing from the build");
        using var reader = new StreamReader(stream, StrictUtf8);
        return reader.ReadToEnd();
    }

    public static string Load(string path)
    {
        if (Directory.Exists(path)) throw new GpuLstmException($"corpus file '{path}' is a directory");
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (FileNotFoundException) { throw new GpuLstmException($"corpus file '{path}' not found"); }
        catch (DirectoryNotFoundException) { throw new GpuLstmException($"corpus file '{path}' not found"); }
        catch (UnauthorizedAccessException) { throw new GpuLstmException($"corpus file '{path}' cannot be read: permission denied"); }
        catch (IOException e) { throw new GpuLstmException($"corpus file '{path}' cannot be read: {e.Message}"); }
        return Decode(bytes, $"corpus file '{path}'");
    }

    public static string Decode(ReadOnlySpan<byte> bytes, string what)
    {
        if (bytes.StartsWith(new byte[] { 0xEF, 0xBB, 0xBF })) bytes = bytes[3..];
        try
        {
            return StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException e)
        {
            throw new GpuLstmException($"{what} is not valid UTF-8 (bad byte at offset {e.Index})");
        }
    }
}
