using System.Globalization;
using System.Text;
using System.Text.Json;
using GpuLstm.Runtime.Compute;
using GpuLstm.Runtime.Data;
using GpuLstm.Runtime.Models.Cells;
using GpuLstm.Runtime.Files;
using GpuLstm.Runtime.Models;

namespace GpuLstm.Runtime.Checkpoints;

/// <summary>A checkpoint read from disk and validated, ready to become a model on any device.</summary>
internal sealed record LoadedCheckpoint(LanguageModelConfig Config, ITokenizer Vocabulary, IReadOnlyDictionary<string, string> Metadata,
    IReadOnlyDictionary<string, TensorEntry> Tensors, string Path)
{
    /// <summary>The text the training run sampled from (its corpus's first SeqLength characters), if it recorded one.</summary>
    public string? DefaultPrime => Metadata.TryGetValue("prime", out var p) && p.Length > 0 ? p : null;

    /// <summary>Copies the weights into a model of the same shape.</summary>
    public void CopyInto(LanguageModel model) => Checkpoint.CopyInto(this, model);

    public LanguageModel CreateModel(ComputeDevice device, int maxBatch)
    {
        var model = new LanguageModel(device, Config, maxBatch);
        try
        {
            Checkpoint.CopyInto(this, model);
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }
}

/// <summary>
/// Model checkpoints in safetensors, named and laid out as PyTorch's nn.LSTM or nn.GRU (num_layers = L, fields
/// <c>lstm</c> or <c>gru</c>, GRU gates r, z, n with two biases) and nn.Linear
/// inside a module with fields <c>lstm</c> and <c>fc</c>: lstm.weight_ih_l{k} (4H,X_k) with X_0 = V and X_k = H
/// above, lstm.weight_hh_l{k} (4H,H), lstm.bias_ih_l{k} (4H), lstm.bias_hh_l{k} (4H), fc.weight (V,H),
/// fc.bias (V); gate order i, f, g, o; with an embedding, embedding.weight (V,D) as nn.Embedding's. Our kernels keep the
/// transposed (Keras) layout, so weights are transposed on the way in and out. The vocabulary and the
/// hyper-parameters are string metadata.
/// </summary>
internal static class Checkpoint
{
    public const string FormatTag = "gpulstm-char-lstm/1";

    /// <summary>
    /// The tokenizer, named and versioned so that a reimplementation (README: "The word tokenizer's rules") can
    /// check it reads the same version: a change to the rules gets a new version, never the same name.
    /// </summary>
    public const string CharTokenizerSpec = "gpulstm-char/1: one token per Unicode scalar value; ids in code-point order";
    public const string WordTokenizerSpec = "gpulstm-word/1: words of letters, digits and marks (Unicode) with inner apostrophes (U+0027, U+2019) or hyphens; " +
        "newlines (LF, CRLF or CR) as one token; any other non-space character alone; other whitespace separates; ids: <unk>, then by frequency, ties in ordinal order";

    public static void Save(string path, LanguageModel model, ITokenizer vocabulary, IReadOnlyDictionary<string, string>? extraMetadata = null) =>
        AtomicFile.Write(path, "checkpoint", Serializer(model, vocabulary, extraMetadata));

    /// <summary>The checkpoint's bytes, taken from the model now and written to a stream later (see <see cref="FileTransaction"/>).</summary>
    public static Action<Stream> Serializer(LanguageModel model, ITokenizer vocabulary, IReadOnlyDictionary<string, string>? extraMetadata = null)
    {
        int v = model.Config.VocabSize, h = model.Config.Hidden;
        var tensors = Tensors(model);
        var metadata = new Dictionary<string, string>
        {
            ["format"] = FormatTag,
            ["cell"] = model.Config.Cell.Name,
            ["layers"] = model.Config.Layers.ToString(CultureInfo.InvariantCulture),
            ["tokens"] = vocabulary.Kind,
            ["input"] = model.Embedding is null ? "onehot" : "embedding",
            ["embedding_size"] = model.Config.Embedding.ToString(CultureInfo.InvariantCulture),
            ["dropout"] = model.Config.Dropout.ToString("R", CultureInfo.InvariantCulture),
            ["vocab_size"] = v.ToString(CultureInfo.InvariantCulture),
            ["hidden"] = h.ToString(CultureInfo.InvariantCulture),
            ["seq_length"] = model.Config.SeqLength.ToString(CultureInfo.InvariantCulture),
            ["loss_positions"] = model.Config.Loss == LossPositions.All ? "all" : "last",
            ["vocab"] = JsonSerializer.Serialize(vocabulary.SymbolStrings),
            ["tokenizer"] = vocabulary.Kind == "word" ? WordTokenizerSpec : CharTokenizerSpec,
        };
        if (extraMetadata is not null)
            foreach (var (key, value) in extraMetadata) metadata.TryAdd(key, value);
        return SafeTensors.Serializer(metadata, tensors);
    }

    /// <summary>The model's weights as PyTorch's state dict holds them (names, shapes, layouts).</summary>
    public static List<TensorEntry> Tensors(LanguageModel model)
    {
        var p = model.Parameters;
        var dense = model.Dense;
        int v = model.Config.VocabSize, h = model.Config.Hidden;
        var tensors = new List<TensorEntry>();
        if (model.Embedding is not null)
            tensors.Add(new("embedding.weight", new[] { v, model.Config.Embedding }, p.GetValue(model.Embedding)));
        StackTensors.Add(tensors, p, model.Stack);
        tensors.Add(new("fc.weight", new[] { v, h }, Transpose(p.GetValue(dense.Weights), h, v)));
        tensors.Add(new("fc.bias", new[] { v }, p.GetValue(dense.Bias)));
        return tensors;
    }

    /// <summary>Reads and validates a checkpoint; every problem is a one-line <see cref="GpuLstmException"/>.</summary>
    public static LoadedCheckpoint Load(string path) => Validate(path, () => SafeTensors.Read(path));

    /// <summary>The same checks on bytes already in memory (<paramref name="path"/> only names them in messages).</summary>
    public static LoadedCheckpoint Parse(byte[] bytes, string path) => Validate(path, () => SafeTensors.Read(bytes, path));

    private static LoadedCheckpoint Validate(string path,
        Func<(IReadOnlyDictionary<string, string>, IReadOnlyDictionary<string, TensorEntry>)> read)
    {
        var reader = new CheckpointReader(path, "gpulstm", read);
        var meta = reader.Metadata;
        var tensors = reader.Tensors;
        string Bad(string what) => reader.Bad(what);
        string Get(string key) => reader.Get(key);
        int GetInt(string key, int min, int max) => reader.GetInt(key, min, max);

        if (Get("format") != FormatTag) throw new GpuLstmException(Bad($"has format '{Truncate(Get("format"))}'; this build reads '{FormatTag}'"));
        var cell = StackTensors.Cell(reader, "model");
        string kind = Get("tokens");
        if (kind is not ("char" or "word")) throw new GpuLstmException(Bad($"has tokens '{Truncate(kind)}'; this build reads 'char' and 'word'"));
        string input = Get("input");
        if (input is not ("onehot" or "embedding")) throw new GpuLstmException(Bad($"has input '{Truncate(input)}'; this build reads 'onehot' and 'embedding'"));
        int v = GetInt("vocab_size", 2, 1 << 20);
        int h = GetInt("hidden", 1, 1 << 16);
        int t = GetInt("seq_length", 1, 1 << 20);
        int layers = GetInt("layers", 1, 64);
        int embedding = input == "embedding" ? GetInt("embedding_size", 1, 1 << 16) : 0;
        float dropout = 0;
        if (meta.TryGetValue("dropout", out var dropText)
            && (!float.TryParse(dropText, NumberStyles.Float, CultureInfo.InvariantCulture, out dropout) || !(dropout >= 0 && dropout < 1)))
            throw new GpuLstmException(Bad($"has an invalid 'dropout': '{Truncate(dropText)}'"));
        var loss = Get("loss_positions") switch
        {
            "last" => LossPositions.Last,
            "all" => LossPositions.All,
            var other => throw new GpuLstmException(Bad($"has an invalid 'loss_positions': '{Truncate(other)}'")),
        };
        string[]? symbols;
        try { symbols = JsonSerializer.Deserialize<string[]>(Get("vocab")); }
        catch (JsonException) { symbols = null; }
        ITokenizer vocabulary;
        if (kind == "char")
        {
            if (symbols is null || symbols.Length != v || symbols.Any(s => s is null || !IsOneRune(s)))
                throw new GpuLstmException(Bad($"has a vocabulary that is not {v} single characters"));
            var runes = symbols.Select(s => s.EnumerateRunes().First()).ToArray();
            if (runes.Distinct().Count() != v || !runes.SequenceEqual(runes.OrderBy(r => r.Value)))
                throw new GpuLstmException(Bad("has a vocabulary that is not sorted and distinct"));
            vocabulary = new Vocabulary(runes);
        }
        else
        {
            if (symbols is null || symbols.Length != v || symbols.Any(string.IsNullOrEmpty) || symbols[0] != WordVocabulary.Unknown
                || symbols.Distinct(StringComparer.Ordinal).Count() != v)
                throw new GpuLstmException(Bad($"has a word vocabulary that is not {v} distinct words starting with {WordVocabulary.Unknown}"));
            vocabulary = new WordVocabulary(symbols);
        }

        var config = new LanguageModelConfig(v, h, t, loss, layers, embedding, dropout) { Cell = cell };
        var expected = new List<(string Name, int[] Shape)>();
        if (embedding > 0) expected.Add(("embedding.weight", new[] { v, embedding }));
        expected.AddRange(StackTensors.Expected(config.Stack, config.InputWidth));
        expected.Add(("fc.weight", new[] { v, h }));
        expected.Add(("fc.bias", new[] { v }));
        reader.RequireTensors(expected, $"for V={v}, H={h}");
        return new LoadedCheckpoint(config, vocabulary, meta, tensors, path);
    }

    internal static void CopyInto(LoadedCheckpoint checkpoint, LanguageModel model)
    {
        var c = checkpoint.Config;
        // Where the loss sits and how long a window the buffers hold do not change the weights.
        if (model.Config with { Loss = c.Loss, SeqLength = c.SeqLength } != c) throw new ArgumentException("model shape differs from the checkpoint's");
        int v = c.VocabSize, h = c.Hidden;
        var p = model.Parameters;
        var t = checkpoint.Tensors;
        if (model.Embedding is not null) p.SetValue(model.Embedding, t["embedding.weight"].Data);
        StackTensors.CopyInto(t, p, model.Stack);
        p.SetValue(model.Dense.Weights, Transpose(t["fc.weight"].Data, v, h));
        p.SetValue(model.Dense.Bias, t["fc.bias"].Data);
        model.Kernels.Synchronize();
    }

    /// <summary>(rows, cols) row-major → (cols, rows) row-major.</summary>
    public static float[] Transpose(float[] a, int rows, int cols)
    {
        var result = new float[a.Length];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                result[c * rows + r] = a[r * cols + c];
        return result;
    }

    private static bool IsOneRune(string s) =>
        Rune.DecodeFromUtf16(s, out _, out int used) == System.Buffers.OperationStatus.Done && used == s.Length;

    private static string Truncate(string s) => CheckpointReader.Truncate(s);
}
