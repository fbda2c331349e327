using GpuLstm.Runtime.Checkpoints;
using Xunit;

namespace GpuLstm.Tests;

/// <summary>
/// gpulstm import: a state_dict written here exactly as PyTorch lays it out (a module with fields embed / rnn /
/// decoder, non-zero bias_hh, a vocabulary not in code-point order) becomes a checkpoint whose eval loss matches a
/// float64 forward pass written directly against PyTorch's formulas and layouts.
/// </summary>
public sealed class ImportTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gpulstm-import-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>PyTorch's row order: as the user's script built it, not sorted.</summary>
    private static readonly string[] Vocab = ["t", "h", "e", " ", "c", "a", "\n", "s", "o", "n", "m", ".", "d", "g", "l"];

    private const string Text = "the cat sat on the mat.\nthe dog sat on the log.\n";

    private sealed record Torch(Dictionary<string, float[]> T, Dictionary<string, int[]> Shapes)
    {
        public double[] D(string name) => T[name].Select(x => (double)x).ToArray();
    }

    private static Torch MakeStateDict(string cell, int layers, int hidden, int embedding, int seed, int v = 15)
    {
        var rng = new Random(seed);
        int gates = cell == "lstm" ? 4 : 3, x0 = embedding > 0 ? embedding : v;
        var t = new Dictionary<string, float[]>();
        var shapes = new Dictionary<string, int[]>();
        void Add(string name, params int[] shape)
        {
            shapes[name] = shape;
            t[name] = Enumerable.Range(0, shape.Aggregate(1, (a, b) => a * b)).Select(_ => (float)(rng.NextDouble() * 0.8 - 0.4)).ToArray();
        }
        if (embedding > 0) Add("embed.weight", v, embedding);
        for (int l = 0; l < layers; l++)
        {
            Add($"rnn.weight_ih_l{l}", gates * hidden, l == 0 ? x0 : hidden);
            Add($"rnn.weight_hh_l{l}", gates * hidden, hidden);
            Add($"rnn.bias_ih_l{l}", gates * hidden);
            Add($"rnn.bias_hh_l{l}", gates * hidden); // non-zero: a loader that dropped it would be caught
        }
        Add("decoder.weight", v, hidden);
        Add("decoder.bias", v);
        return new Torch(t, shapes);
    }

    /// <summary>W (rows, cols) · x + b, row-major as PyTorch stores weight.</summary>
    private static double[] Affine(double[] w, double[] x, double[] b, int rows, int cols)
    {
        var y = new double[rows];
        for (int r = 0; r < rows; r++)
        {
            double s = b[r];
            for (int c = 0; c < cols; c++) s += w[r * cols + c] * x[c];
            y[r] = s;
        }
        return y;
    }

    private static double Sigmoid(double x) => 1 / (1 + Math.Exp(-x));

    /// <summary>
    /// The mean next-token cross-entropy over the text read as one stream, in float64, with PyTorch's
    /// nn.LSTM (gates i, f, g, o) or nn.GRU (r, z, n; n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))).
    /// </summary>
    private static double ReferenceLoss(Torch m, string cell, int layers, int hidden, int embedding) =>
        ReferenceLoss(m, cell, layers, hidden, embedding, Text.Select(c => Array.IndexOf(Vocab, c.ToString())).ToArray(), Vocab.Length);

    private static double ReferenceLoss(Torch m, string cell, int layers, int hidden, int embedding, int[] ids, int v)
    {
        var h = new double[layers][];
        var c = new double[layers][];
        for (int l = 0; l < layers; l++) { h[l] = new double[hidden]; c[l] = new double[hidden]; }
        double total = 0;
        for (int step = 0; step + 1 < ids.Length; step++)
        {
            double[] x = embedding > 0 ? m.D("embed.weight").AsSpan(ids[step] * embedding, embedding).ToArray() : OneHot(ids[step], v);
            for (int l = 0; l < layers; l++)
            {
                int xw = x.Length, gh = (cell == "lstm" ? 4 : 3) * hidden;
                var gi = Affine(m.D($"rnn.weight_ih_l{l}"), x, m.D($"rnn.bias_ih_l{l}"), gh, xw);
                var gg = Affine(m.D($"rnn.weight_hh_l{l}"), h[l], m.D($"rnn.bias_hh_l{l}"), gh, hidden);
                var next = new double[hidden];
                for (int j = 0; j < hidden; j++)
                {
                    if (cell == "lstm")
                    {
                        double i = Sigmoid(gi[j] + gg[j]), f = Sigmoid(gi[hidden + j] + gg[hidden + j]);
                        double g = Math.Tanh(gi[2 * hidden + j] + gg[2 * hidden + j]), o = Sigmoid(gi[3 * hidden + j] + gg[3 * hidden + j]);
                        c[l][j] = f * c[l][j] + i * g;
                        next[j] = o * Math.Tanh(c[l][j]);
                    }
                    else
                    {
                        double r = Sigmoid(gi[j] + gg[j]), z = Sigmoid(gi[hidden + j] + gg[hidden + j]);
                        double n = Math.Tanh(gi[2 * hidden + j] + r * gg[2 * hidden + j]);
                        next[j] = (1 - z) * n + z * h[l][j];
                    }
                }
                h[l] = next;
                x = next;
            }
            var logits = Affine(m.D("decoder.weight"), x, m.D("decoder.bias"), v, hidden);
            double max = logits.Max();
            double logSum = max + Math.Log(logits.Sum(a => Math.Exp(a - max)));
            total += logSum - logits[ids[step + 1]];
        }
        return total / (ids.Length - 1);
    }

    private static double[] OneHot(int id, int v)
    {
        var x = new double[v];
        x[id] = 1;
        return x;
    }

    [Theory]
    [InlineData("lstm", 2, 6, 5)]
    [InlineData("gru", 1, 5, 0)]
    public void AnImportedPyTorchModelScoresAsPyTorchsFormulasDo(string cell, int layers, int hidden, int embedding)
    {
        var m = MakeStateDict(cell, layers, hidden, embedding, seed: 7);
        string stateDict = Path.Combine(_dir, "model.safetensors");
        // safetensors.torch.save_file writes {"format": "pt"} as its metadata, and nothing of GpuLstm's.
        SafeTensors.Write(stateDict, new Dictionary<string, string> { ["format"] = "pt" },
            m.T.Select(kv => new TensorEntry(kv.Key, m.Shapes[kv.Key], kv.Value)).ToArray());
        File.WriteAllText(Path.Combine(_dir, "vocab.json"), System.Text.Json.JsonSerializer.Serialize(Vocab));
        File.WriteAllText(Path.Combine(_dir, "text.txt"), Text);
        var r = CliTests.Run(_dir, "import", "--state-dict", "model.safetensors", "--vocab", "vocab.json", "--out", "imported.safetensors", "--seq-length", "8");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains($"{layers}×{cell.ToUpperInvariant()}({hidden})", r.Stdout);

        using var model = TextModel.Load(Path.Combine(_dir, "imported.safetensors"));
        Assert.Equal(Vocab.Order(StringComparer.Ordinal), model.Vocabulary); // GpuLstm keeps characters in code-point order
        double loss = model.Evaluate(Text, EvalState.Carry, batch: 1).Loss;
        double reference = ReferenceLoss(m, cell, layers, hidden, embedding);
        Assert.True(Math.Abs(loss - reference) < 1e-5, $"imported model's loss {loss:R}, PyTorch's formulas in float64 {reference:R}");
        // eval reads the same file the same way.
        var e = CliTests.Run(_dir, "eval", "--checkpoint", "imported.safetensors", "--text", "text.txt", "--batch", "1");
        Assert.Contains($"loss {reference:F4} nats/char", e.Stdout);
        // Without bias_hh the loss is another: the test would catch a loader that dropped it.
        var noHh = new Torch(m.T.ToDictionary(kv => kv.Key, kv => kv.Key.Contains("bias_hh") ? new float[kv.Value.Length] : kv.Value), m.Shapes);
        Assert.True(Math.Abs(ReferenceLoss(noHh, cell, layers, hidden, embedding) - reference) > 1e-3);
    }

    [Fact]
    public void AGpuLstmCheckpointImportedWithItsVocabularyIsTheSameModel()
    {
        // A checkpoint is a PyTorch state_dict with metadata: importing its tensors and its vocabulary gives it back.
        File.WriteAllText(Path.Combine(_dir, "tiny.txt"), Text);
        var t = CliTests.Run(_dir, "train", "--corpus", "tiny.txt", "--cell", "gru", "--layers", "2", "--embedding", "3", "--hidden", "4", "--seq-length", "8",
            "--batch", "2", "--val-fraction", "0", "--max-steps", "3", "--sample-length", "0", "--checkpoint", "trained.safetensors", "--metrics", "none", "--plot", "none", "--device", "cpu");
        Assert.True(t.ExitCode == 0, t.Stderr);
        var trained = Checkpoint.Load(Path.Combine(_dir, "trained.safetensors"));
        File.WriteAllText(Path.Combine(_dir, "vocab.json"), trained.Metadata["vocab"]);
        var r = CliTests.Run(_dir, "import", "--state-dict", "trained.safetensors", "--vocab", "vocab.json", "--out", "back.safetensors", "--seq-length", "8");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var back = Checkpoint.Load(Path.Combine(_dir, "back.safetensors"));
        Assert.Equal(trained.Config, back.Config);
        Assert.Equal(trained.Vocabulary.SymbolStrings, back.Vocabulary.SymbolStrings);
        foreach (var (name, tensor) in trained.Tensors) Assert.Equal(tensor.Data, back.Tensors[name].Data);
        Assert.Equal("trained.safetensors", back.Metadata["imported_from"]);
    }

    [Fact]
    public void AWordModelsUnkMovesToIdZeroWithItsRows()
    {
        // The user's ids: <unk> in the middle. GpuLstm needs it at 0; the rows move with it, so the scores do not change.
        string[] words = ["the", "cat", "sat", "<unk>", "on", "mat", ".", "\n", "dog", "log"];
        const string text = "the cat sat on the mat.\nthe dog sat on the log.\nthe hat sat.\n"; // "hat" is unknown
        var m = MakeStateDict("lstm", 1, 5, 4, seed: 11, v: words.Length);
        SafeTensors.Write(Path.Combine(_dir, "words.safetensors"), new Dictionary<string, string> { ["format"] = "pt" },
            m.T.Select(kv => new TensorEntry(kv.Key, m.Shapes[kv.Key], kv.Value)).ToArray());
        File.WriteAllText(Path.Combine(_dir, "words.json"), System.Text.Json.JsonSerializer.Serialize(words));
        var r = CliTests.Run(_dir, "import", "--state-dict", "words.safetensors", "--vocab", "words.json", "--out", "w.safetensors", "--tokens", "word");
        Assert.True(r.ExitCode == 0, r.Stderr);
        using var model = TextModel.Load(Path.Combine(_dir, "w.safetensors"));
        Assert.Equal(TokenKind.Words, model.Tokens);
        Assert.Equal(["<unk>", "the", "cat", "sat", "on", "mat", ".", "\n", "dog", "log"], model.Vocabulary);
        var ids = Runtime.Data.WordTokenizer.Tokenize(text).Select(t => Array.IndexOf(words, t) is var i && i >= 0 ? i : 3).ToArray();
        Assert.Contains(3, ids);
        double reference = ReferenceLoss(m, "lstm", 1, 5, 4, ids, words.Length);
        Assert.True(Math.Abs(model.Evaluate(text, EvalState.Carry, batch: 1).Loss - reference) < 1e-5);
    }

    [Fact]
    public void ATensorTheCellHasNoPlaceForIsRefusedNotDropped()
    {
        // nn.LSTM(proj_size=3) adds weight_hr_l0 and makes weight_hh_l0 (4H, 3): importing it without the projection would be another model.
        var m = MakeStateDict("lstm", 1, 6, 5, seed: 3);
        m.T["rnn.weight_hr_l0"] = new float[6 * 3];
        m.Shapes["rnn.weight_hr_l0"] = [3, 6];
        SafeTensors.Write(Path.Combine(_dir, "proj.safetensors"), new Dictionary<string, string>(),
            m.T.Select(kv => new TensorEntry(kv.Key, m.Shapes[kv.Key], kv.Value)).ToArray());
        File.WriteAllText(Path.Combine(_dir, "vocab.json"), System.Text.Json.JsonSerializer.Serialize(Vocab));
        var r = CliTests.Run(_dir, "import", "--state-dict", "proj.safetensors", "--vocab", "vocab.json", "--out", "p.safetensors");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("has recurrent tensors GpuLstm's lstm has no place for: 'rnn.weight_hr_l0'", r.Stderr);
        Assert.False(File.Exists(Path.Combine(_dir, "p.safetensors")));
    }
}
