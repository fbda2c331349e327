using System.Text;

namespace GpuLstm.Runtime.Data;

/// <summary>The embedded default corpus: the notebook's 5 lines of "The Road Not Taken". User files go through <see cref="EncodedCorpus.Load(string, string)"/>.</summary>
internal static class Corpus
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
}
