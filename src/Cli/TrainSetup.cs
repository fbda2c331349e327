using System.Text.Json;

namespace GpuLstm.Cli;

/// <summary>
/// The settings that decide a training run's trajectory. Stored in the training state as JSON; a resumed
/// run takes them from there, so it trains exactly as the interrupted one would have. CorpusIsStream: the
/// corpus came from standard input or a pipe, so a resumed run needs it given again.
/// </summary>
internal sealed record TrainSetup(string Mode, string Cell, string Tokens, string? Corpus, string CorpusDigest, int VocabSize, int Hidden, int Layers,
    int Embedding, float Dropout, int SeqLength, int Batch, double Lr, double Clip, double LrDecay, int LrDecayAfter, ulong Seed,
    double ValFraction, string Monitor, int Patience, double MinDelta, bool RestoreBest, int EvalEvery, bool CorpusIsStream = false)
{
    public string ToJson() => JsonSerializer.Serialize(this);

    public static TrainSetup? FromJson(string json)
    {
        try { return JsonSerializer.Deserialize<TrainSetup>(json); }
        catch (JsonException) { return null; }
    }
}
