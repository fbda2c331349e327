using GpuLstm.Runtime;
using GpuLstm.Runtime.Checkpoints;
using GpuLstm.Runtime.Data;
using GpuLstm.Runtime.Models;
using Xunit;

namespace GpuLstm.Tests;

[Collection(DeviceCollection.Name)]
public sealed class CheckpointTests(TestDevices devices) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gpulstm-ckpt-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private (LanguageModel Model, Vocabulary Vocab) RandomModel(int seed, int layers = 1)
    {
        var vocab = Vocabulary.FromText("abcdefg hij\n");
        var model = new LanguageModel(devices.Cpu, new LanguageModelConfig(vocab.Count, 6, 9, Layers: layers), 2);
        model.Parameters.SetValues(TestData.Uniform(new Random(seed), model.Parameters.Count, 0.5));
        return (model, vocab);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void RoundTripRestoresTheSameModel(int layers)
    {
        var (model, vocab) = RandomModel(TestData.FreshSeed(), layers);
        using var _ = model;
        string path = Path.Combine(_dir, "m.safetensors");
        Checkpoint.Save(path, model, vocab, new Dictionary<string, string> { ["prime"] = "abc" });
        var loaded = Checkpoint.Load(path);
        Assert.Equal(model.Config, loaded.Config);
        Assert.Equal(vocab.SymbolStrings, loaded.Vocabulary.SymbolStrings);
        Assert.Equal("abc", loaded.DefaultPrime);
        using var restored = loaded.CreateModel(devices.Cpu, 1);
        Assert.Equal(model.Parameters.GetValues(), restored.Parameters.GetValues());
        var window = new[] { 1, 4, 2, 0, 7 };
        Assert.Equal(model.PredictNextLogits(window).ToArray(), restored.PredictNextLogits(window).ToArray());
    }

    /// <summary>
    /// Runs PyTorch's nn.LSTM and nn.Linear equations, in float64, on nothing but the checkpoint's tensors
    /// (weight_ih (4H,V), weight_hh (4H,H), bias_ih + bias_hh, gate order i f g o; fc.weight (V,H)), and
    /// expects the model's own logits: what PyTorch would compute after load_state_dict.
    /// </summary>
    [Fact]
    public void TensorsFollowPyTorchsLstmLayout()
    {
        var (model, vocab) = RandomModel(TestData.FreshSeed(), layers: 2);
        using var _ = model;
        string path = Path.Combine(_dir, "m.safetensors");
        Checkpoint.Save(path, model, vocab);
        var (_, tensors) = SafeTensors.Read(path);
        Assert.Equal(new[] { "fc.bias", "fc.weight", "lstm.bias_hh_l0", "lstm.bias_hh_l1", "lstm.bias_ih_l0", "lstm.bias_ih_l1",
                "lstm.weight_hh_l0", "lstm.weight_hh_l1", "lstm.weight_ih_l0", "lstm.weight_ih_l1" },
            tensors.Keys.OrderBy(k => k, StringComparer.Ordinal));
        int v = vocab.Count, h = 6;
        Assert.Equal(new[] { 4 * h, v }, tensors["lstm.weight_ih_l0"].Shape);
        Assert.Equal(new[] { 4 * h, h }, tensors["lstm.weight_ih_l1"].Shape);
        Assert.Equal(new[] { 4 * h, h }, tensors["lstm.weight_hh_l0"].Shape);
        Assert.Equal(new[] { v, h }, tensors["fc.weight"].Shape);
        var fcw = tensors["fc.weight"].Data; var fcb = tensors["fc.bias"].Data;

        // PyTorch's equations, layer by layer: gates = W_ih·x + b_ih + W_hh·h + b_hh, rows i f g o.
        var window = new[] { 3, 0, 5, 5, 1, 8, 2 };
        var inputs = window.Select(x => { var onehot = new double[v]; onehot[x] = 1; return onehot; }).ToArray();
        var hs = new double[h];
        for (int layer = 0; layer < 2; layer++)
        {
            var wih = tensors[$"lstm.weight_ih_l{layer}"].Data; var whh = tensors[$"lstm.weight_hh_l{layer}"].Data;
            var bih = tensors[$"lstm.bias_ih_l{layer}"].Data; var bhh = tensors[$"lstm.bias_hh_l{layer}"].Data;
            int x = inputs[0].Length;
            hs = new double[h];
            var cs = new double[h];
            for (int t = 0; t < inputs.Length; t++)
            {
                var gates = new double[4 * h];
                for (int n = 0; n < 4 * h; n++)
                {
                    double acc = bih[n] + bhh[n];
                    for (int k = 0; k < x; k++) acc += wih[n * x + k] * inputs[t][k];
                    for (int k = 0; k < h; k++) acc += whh[n * h + k] * hs[k];
                    gates[n] = acc;
                }
                var hNew = new double[h];
                for (int j = 0; j < h; j++)
                {
                    double i = Reference.Sigmoid(gates[j]), f = Reference.Sigmoid(gates[h + j]);
                    double g = Math.Tanh(gates[2 * h + j]), o = Reference.Sigmoid(gates[3 * h + j]);
                    cs[j] = f * cs[j] + i * g;
                    hNew[j] = o * Math.Tanh(cs[j]);
                }
                hs = hNew;
                inputs[t] = hNew; // the next layer's input at step t
            }
        }
        var expected = new double[v];
        for (int o = 0; o < v; o++)
        {
            expected[o] = fcb[o];
            for (int k = 0; k < h; k++) expected[o] += fcw[o * h + k] * hs[k];
        }
        TestData.AssertClose(expected, model.PredictNextLogits(window).ToArray(), 1e-5, 1e-5, "logits");
    }

    [Fact]
    public void TruncatedCheckpointIsAUserError()
    {
        var (model, vocab) = RandomModel(1);
        using var _ = model;
        string path = Path.Combine(_dir, "m.safetensors");
        Checkpoint.Save(path, model, vocab);
        var bytes = File.ReadAllBytes(path);
        foreach (int length in new[] { 0, 5, 100, bytes.Length - 1 })
        {
            string cut = Path.Combine(_dir, $"cut{length}.safetensors");
            File.WriteAllBytes(cut, bytes[..length]);
            var e = Assert.Throws<GpuLstmException>(() => Checkpoint.Load(cut));
            Assert.DoesNotContain('\n', e.Message);
        }
    }

    [Fact]
    public void CheckpointOfAnotherKindIsAUserError()
    {
        string path = Path.Combine(_dir, "gru.safetensors");
        SafeTensors.Write(path, new Dictionary<string, string> { ["format"] = Checkpoint.FormatTag, ["cell"] = "peephole" },
            new[] { new TensorEntry("x", new[] { 1 }, new[] { 1f }) });
        var e = Assert.Throws<GpuLstmException>(() => Checkpoint.Load(path));
        Assert.Contains("'peephole'", e.Message);
        string other = Path.Combine(_dir, "other.safetensors");
        SafeTensors.Write(other, new Dictionary<string, string>(), new[] { new TensorEntry("x", new[] { 1 }, new[] { 1f }) });
        Assert.Contains("not written by gpulstm", Assert.Throws<GpuLstmException>(() => Checkpoint.Load(other)).Message);
    }
}

/// <summary>Hostile checkpoints through the whole loader (format and metadata): only the tool's own one-line error escapes.</summary>
[Collection(DeviceCollection.Name)]
public sealed class CheckpointFuzzTests(TestDevices devices)
{
    [Fact]
    public void TenThousandMutatedCheckpointsOnlyEverGiveOneLineUserErrors()
    {
        var vocab = GpuLstm.Runtime.Data.Vocabulary.FromText("abc de\n");
        using var model = new LanguageModel(devices.Host, new LanguageModelConfig(vocab.Count, 3, 4, Layers: 2), 1);
        string path = Path.Combine(Path.GetTempPath(), $"gpulstm-fuzz-{Guid.NewGuid():N}.safetensors");
        Checkpoint.Save(path, model, vocab, new Dictionary<string, string> { ["prime"] = "abc" });
        var valid = File.ReadAllBytes(path);
        File.Delete(path);
        Checkpoint.Parse(valid, "valid"); // the unmutated file loads
        int headerEnd = 8 + (int)BitConverter.ToUInt64(valid, 0);
        var rng = new Random(12345);
        int accepted = 0;
        for (int i = 0; i < 10_000; i++)
        {
            var bytes = (byte[])valid.Clone();
            switch (rng.Next(4))
            {
                case 0: bytes = bytes[..rng.Next(bytes.Length)]; break;
                case 1: for (int f = rng.Next(1, 4); f > 0; f--) bytes[rng.Next(bytes.Length)] ^= (byte)(1 << rng.Next(8)); break;
                // Inside the JSON header, where metadata and shapes live: swap in digits, quotes and brackets.
                case 2: for (int f = rng.Next(1, 4); f > 0; f--) bytes[8 + rng.Next(headerEnd - 8)] = (byte)"0123456789\"[]{},:-"[rng.Next(18)]; break;
                default: BitConverter.GetBytes((ulong)rng.NextInt64()).CopyTo(bytes, 0); break;
            }
            try
            {
                Checkpoint.Parse(bytes, "fuzzed");
                accepted++;
            }
            catch (GpuLstmException e)
            {
                Assert.DoesNotContain('\n', e.Message);
            }
        }
        Assert.True(accepted < 10_000, "mutations were never rejected");
    }
}
