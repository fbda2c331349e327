using GpuLstm.Runtime;
using GpuLstm.Runtime.Checkpoints;
using GpuLstm.Runtime.Data;
using GpuLstm.Runtime.Export;
using GpuLstm.Runtime.Models;
using GpuLstm.Runtime.Models.Cells;
using GpuLstm.Runtime.Sampling;
using GpuLstm.Runtime.Series;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Xunit;

namespace GpuLstm.Tests;

/// <summary>
/// The exported graphs run in ONNX Runtime and give GpuLstm's own results (its host kernel set, device "cpu"):
/// logits of a whole window and of 50 single-token steps carrying the state within 1e-5, the same greedy
/// samples, and the same forecasts. Weights and biases (bias_hh too) are random, so a gate block in the wrong
/// place or the reset gate on the wrong side of the recurrent product shows.
/// </summary>
[Collection(DeviceCollection.Name)]
public sealed class OnnxExportTests(TestDevices devices) : IDisposable
{
    private const float Tolerance = 1e-5f;
    private readonly string _dir = Directory.CreateTempSubdirectory("gpulstm-onnx-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private const string Corpus = "the cat sat on the mat. the dog sat on the log.";

    /// <summary>A text model of random weights saved as a checkpoint, reloaded, exported and opened in ONNX Runtime.</summary>
    private (LanguageModel Model, ITokenizer Vocab, InferenceSession Session, string OnnxPath) Exported(string cell, int layers, int embedding, string tokens, int seed, double weightScale = 0.5)
    {
        ITokenizer vocab = tokens == "word"
            ? WordVocabulary.Build(WordTokenizer.Tokenize(Corpus), 0)
            : Vocabulary.FromText(Corpus);
        var config = new LanguageModelConfig(vocab.Count, 5, 8, Layers: layers, Embedding: embedding) { Cell = RecurrentCell.Parse(cell) };
        var model = new LanguageModel(devices.Host, config, 1);
        model.Parameters.SetValues(TestData.Uniform(new Random(seed), model.Parameters.Count, weightScale));
        string checkpoint = Path.Combine(_dir, "model.safetensors"), onnx = Path.Combine(_dir, "model.onnx");
        Checkpoint.Save(checkpoint, model, vocab);
        OnnxExport.Write(onnx, OnnxExport.FromCheckpointFile(checkpoint));
        return (model, vocab, new InferenceSession(onnx), onnx);
    }

    /// <summary>ONNX state inputs of zeros for a batch of 1: h0_l{k} (and c0_l{k} for an LSTM).</summary>
    private static Dictionary<string, DenseTensor<float>> ZeroState(LanguageModelConfig c)
    {
        var state = new Dictionary<string, DenseTensor<float>>();
        for (int l = 0; l < c.Layers; l++)
        {
            state[$"h0_l{l}"] = new DenseTensor<float>(new float[c.Hidden], [1, 1, c.Hidden]);
            if (c.Cell == RecurrentCell.Lstm) state[$"c0_l{l}"] = new DenseTensor<float>(new float[c.Hidden], [1, 1, c.Hidden]);
        }
        return state;
    }

    /// <summary>Runs tokens (T,1) from <paramref name="state"/>; returns logits (T,V) and replaces the state with hn/cn.</summary>
    private static float[] Run(InferenceSession session, int[] tokens, Dictionary<string, DenseTensor<float>> state)
    {
        var inputs = new List<NamedOnnxValue>
        {
            NamedOnnxValue.CreateFromTensor("tokens", new DenseTensor<long>(tokens.Select(t => (long)t).ToArray(), [tokens.Length, 1])),
        };
        inputs.AddRange(state.Select(s => NamedOnnxValue.CreateFromTensor(s.Key, s.Value)));
        using var results = session.Run(inputs);
        foreach (var key in state.Keys.ToList())
        {
            string output = key.Replace("0_l", "n_l", StringComparison.Ordinal);
            var value = results.First(r => r.Name == output).AsTensor<float>();
            state[key] = new DenseTensor<float>(value.ToArray(), value.Dimensions.ToArray());
        }
        return results.First(r => r.Name == "logits").AsTensor<float>().ToArray();
    }

    private static void AssertClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= Tolerance, $"{what}[{i}]: GpuLstm {expected[i]}, ONNX Runtime {actual[i]}");
    }

    [Theory]
    [InlineData("lstm", 1, 0, "char")]
    [InlineData("gru", 1, 0, "char")]
    [InlineData("rnn", 1, 0, "char")]
    [InlineData("lstm", 3, 0, "char")]
    [InlineData("gru", 2, 4, "char")]
    [InlineData("lstm", 1, 4, "char")]
    [InlineData("lstm", 2, 6, "word")]
    [InlineData("gru", 1, 6, "word")]
    public void TextLogitsMatchForAWindowAndForFiftySteps(string cell, int layers, int embedding, string tokens)
    {
        int seed = TestData.FreshSeed();
        var (model, vocab, session, _) = Exported(cell, layers, embedding, tokens, seed);
        using var _m = model;
        using var _s = session;
        var rng = new Random(seed);
        int v = vocab.Count;

        // A whole window from a zero state: position t's logits are GpuLstm's prediction after the window's first t + 1 tokens.
        var window = Enumerable.Range(0, model.Config.SeqLength).Select(_ => rng.Next(v)).ToArray();
        var all = Run(session, window, ZeroState(model.Config));
        for (int t = 0; t < window.Length; t++)
            AssertClose(model.PredictNextLogits(window.AsSpan(0, t + 1)), all.AsSpan(t * v, v), $"seed {seed}, window position {t}");

        // 50 single-token steps, the state carried by GpuLstm's stream and fed back as ONNX's h0/c0.
        var state = ZeroState(model.Config);
        model.ResetStream();
        for (int step = 0; step < 50; step++)
        {
            int token = rng.Next(v);
            AssertClose(model.StreamNextLogits(token), Run(session, [token], state), $"seed {seed}, step {step}");
        }
    }

    [Theory]
    [InlineData("lstm", 2, 0, "char", 11)]
    [InlineData("gru", 1, 4, "word", 12)]
    public void GreedySamplesAreIdentical(string cell, int layers, int embedding, string tokens, int seed)
    {
        // Fixed seeds: a greedy walk can fall into a loop of one or two tokens, which would test little (asserted below).
        // Larger weights than the logits test's, so that the recurrence rather than the output bias picks the tokens.
        var (model, vocab, session, _) = Exported(cell, layers, embedding, tokens, seed, weightScale: 1.5);
        using var _m = model;
        using var _s = session;
        string prime = tokens == "word" ? "the cat" : "the c";
        var primeIds = vocab.Encode(prime, "the prime");
        const int length = 40;
        var sampler = new Sampler(model, vocab, greedy: true);

        // char-rnn's loop: the prime in one call, then one token a call, the state carried.
        var state = ZeroState(model.Config);
        var logits = Run(session, primeIds, state);
        var ids = new List<int> { primeIds[^1] };
        var carried = new System.Text.StringBuilder();
        for (int i = 0; i < length; i++)
        {
            int next = TokenDraw.ArgMax(logits.AsSpan(logits.Length - vocab.Count));
            carried.Append(vocab.Append(ids[^1], next));
            ids.Add(next);
            logits = Run(session, [next], state);
        }
        Assert.Equal(sampler.GenerateCarryingState(prime, length, 1.0, new Rng(1)), carried.ToString());
        Assert.True(ids.Distinct().Count() >= 3, $"seed {seed}: a greedy sample of {ids.Distinct().Count()} distinct tokens tests little");

        // The notebook's loop: the last seq_length tokens from a zero state for every token.
        var history = primeIds.ToList();
        var windowed = new System.Text.StringBuilder();
        for (int i = 0; i < length; i++)
        {
            var window = history.Skip(Math.Max(0, history.Count - model.Config.SeqLength)).ToArray();
            var windowLogits = Run(session, window, ZeroState(model.Config));
            int next = TokenDraw.ArgMax(windowLogits.AsSpan(windowLogits.Length - vocab.Count));
            windowed.Append(vocab.Append(history[^1], next));
            history.Add(next);
        }
        Assert.Equal(sampler.Generate(prime, length, 1.0, new Rng(1)), windowed.ToString());
    }

    [Theory]
    [InlineData("lstm", 2, true, "point")]
    [InlineData("gru", 1, true, "point")]
    [InlineData("rnn", 2, false, "point")]
    [InlineData("lstm", 1, false, "gaussian")]
    [InlineData("gru", 1, true, "quantile")]
    public void SeriesForecastsMatch(string cell, int layers, bool bidirectional, string likelihood)
    {
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        // A probabilistic head's y is its K·M outputs (the checkpoint's head_output says what they are).
        var head = SeriesHead.For(SeriesHead.ParseName(likelihood), likelihood == "quantile" ? [0.1, 0.5, 0.9] : null);
        var config = new SeriesModelConfig(Hidden: 5, Window: 6, Horizon: 3, Layers: layers, Bidirectional: bidirectional) { Cell = RecurrentCell.Parse(cell), Head = head };
        const int batch = 4;
        using var model = new SeriesModel(devices.Host, config, batch);
        model.Parameters.SetValues(TestData.Uniform(rng, model.Parameters.Count, 0.5));
        var info = new SeriesModelInfo(new SeriesScaler(SeriesScalerKind.MinMax, 0.5, 2.0), false, "value", null, 0,
            Enumerable.Range(0, 10).Select(i => (double)i).ToArray(), Enumerable.Range(0, 10).Select(i => $"{i}").ToArray(), null);
        string checkpoint = Path.Combine(_dir, "series.safetensors"), onnx = Path.Combine(_dir, "series.onnx");
        SeriesCheckpoint.Save(checkpoint, model, info);
        OnnxExport.Write(onnx, OnnxExport.FromCheckpointFile(checkpoint));

        var x = TestData.Uniform(rng, config.Window * batch, 1.5); // (T,B,1)
        var expected = new float[batch * config.HeadOutputs];
        model.PredictHead(x, batch, expected);
        using var session = new InferenceSession(onnx);
        using var results = session.Run([NamedOnnxValue.CreateFromTensor("x", new DenseTensor<float>(x, [config.Window, batch, 1]))]);
        var y = results.First(r => r.Name == "y").AsTensor<float>();
        Assert.Equal(new[] { batch, config.HeadOutputs }, y.Dimensions.ToArray());
        AssertClose(expected, y.ToArray(), $"seed {seed}, forecast");
    }

    [Fact]
    public void TheFileDeclaresOpset17AndCarriesTheMetadata()
    {
        var (model, vocab, session, path) = Exported("lstm", 2, 4, "word", 7);
        using var _m = model;
        using var _s = session;
        var proto = Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
        var opset = Assert.Single(proto.OpsetImport);
        Assert.Equal("", opset.Domain);
        Assert.Equal(17, opset.Version);
        var metadata = session.ModelMetadata.CustomMetadataMap;
        Assert.Equal("word", metadata["tokens"]);
        Assert.Equal("text", metadata[OnnxExport.GraphKey]);
        Assert.Equal("17", metadata[OnnxExport.OpsetKey]);
        Assert.Equal(vocab.SymbolStrings, System.Text.Json.JsonSerializer.Deserialize<string[]>(metadata["vocab"]));
        Assert.Equal(new[] { "tokens", "h0_l0", "c0_l0", "h0_l1", "c0_l1" }, session.InputMetadata.Keys.ToArray());
        Assert.Equal(new[] { "logits", "probabilities", "hn_l0", "cn_l0", "hn_l1", "cn_l1" }, session.OutputMetadata.Keys.ToArray());
        Assert.Equal(new[] { -1, -1, vocab.Count }, session.OutputMetadata["logits"].Dimensions);
    }

    [Fact]
    public void StreamsOfABatchAreIndependent()
    {
        // The README says B is free: two streams in one call give what each gives alone.
        var (model, vocab, session, _) = Exported("lstm", 2, 3, "char", 9);
        using var _m = model;
        using var _s = session;
        int v = vocab.Count, h = model.Config.Hidden;
        int[] first = [1, 5, 2, 7], second = [3, 0, 4, 4];
        var inputs = new List<NamedOnnxValue>
        {
            // (T,B): step t holds the two streams' tokens side by side.
            NamedOnnxValue.CreateFromTensor("tokens", new DenseTensor<long>(first.Zip(second, (a, b) => new long[] { a, b }).SelectMany(p => p).ToArray(), [4, 2])),
        };
        foreach (string name in new[] { "h0_l0", "c0_l0", "h0_l1", "c0_l1" })
            inputs.Add(NamedOnnxValue.CreateFromTensor(name, new DenseTensor<float>(new float[2 * h], [1, 2, h])));
        using var results = session.Run(inputs);
        var both = results.First(r => r.Name == "logits").AsTensor<float>().ToArray(); // (T,2,V)
        var alone = new[] { Run(session, first, ZeroState(model.Config)), Run(session, second, ZeroState(model.Config)) };
        for (int t = 0; t < 4; t++)
            for (int b = 0; b < 2; b++)
                AssertClose(alone[b].AsSpan(t * v, v), both.AsSpan((t * 2 + b) * v, v), $"step {t}, stream {b}");
    }

    [Fact]
    public void ProbabilitiesAreTheSoftmaxOfTheLogits()
    {
        var (model, vocab, session, _) = Exported("gru", 1, 0, "char", 3);
        using var _m = model;
        using var _s = session;
        var inputs = new List<NamedOnnxValue> { NamedOnnxValue.CreateFromTensor("tokens", new DenseTensor<long>(new long[] { 1, 2, 3 }, [3, 1])) };
        inputs.AddRange(ZeroState(model.Config).Select(s => NamedOnnxValue.CreateFromTensor(s.Key, s.Value)));
        using var results = session.Run(inputs);
        var logits = results.First(r => r.Name == "logits").AsTensor<float>().ToArray();
        var probabilities = results.First(r => r.Name == "probabilities").AsTensor<float>().ToArray();
        int v = vocab.Count;
        for (int t = 0; t < 3; t++)
        {
            var row = logits.AsSpan(t * v, v).ToArray();
            double max = row.Max(), sum = row.Sum(l => Math.Exp(l - max));
            for (int i = 0; i < v; i++) Assert.Equal(Math.Exp(row[i] - max) / sum, probabilities[t * v + i], 5);
        }
    }

    [Fact]
    public void SeriesMetadataCarriesTheScalerAndWindow()
    {
        var config = new SeriesModelConfig(Hidden: 3, Window: 4, Horizon: 2);
        using var model = new SeriesModel(devices.Host, config, 1);
        var info = new SeriesModelInfo(new SeriesScaler(SeriesScalerKind.MinMax, 0.5, 2.0), true, "value", null, 0,
            Enumerable.Range(0, 10).Select(i => (double)i).ToArray(), Enumerable.Range(0, 10).Select(i => $"{i}").ToArray(), null);
        string checkpoint = Path.Combine(_dir, "s.safetensors"), onnx = Path.Combine(_dir, "s.onnx");
        SeriesCheckpoint.Save(checkpoint, model, info);
        OnnxExport.Write(onnx, OnnxExport.FromCheckpointFile(checkpoint));
        using var session = new InferenceSession(onnx);
        var metadata = session.ModelMetadata.CustomMetadataMap;
        Assert.Equal("series", metadata[OnnxExport.GraphKey]);
        Assert.Equal("4", metadata["window"]);
        Assert.Equal("true", metadata["difference"]);
        foreach (var (key, value) in info.Scaler.ToDictionary("scaler.")) Assert.Equal(value, metadata[key]);
        Assert.Equal(new[] { "x" }, session.InputMetadata.Keys.ToArray());
        Assert.Equal(new[] { -1, 2 }, session.OutputMetadata["y"].Dimensions);
    }

    [Theory]
    [InlineData("lstm", new[] { 0, 3, 1, 2 })]
    [InlineData("gru", new[] { 1, 0, 2 })]
    [InlineData("rnn", new[] { 0 })]
    public void GateBlocksMoveToOnnxOrder(string cell, int[] order)
    {
        // Blocks of 2 rows × 3 columns, each filled with its PyTorch block number.
        var pytorch = Enumerable.Range(0, order.Length * 6).Select(i => (float)(i / 6)).ToArray();
        var onnx = OnnxExport.ReorderGateBlocks(pytorch, 2, 3, OnnxExport.OnnxGateOrder(RecurrentCell.Parse(cell)));
        Assert.Equal(order.SelectMany(b => Enumerable.Repeat((float)b, 6)), onnx);
    }
}
