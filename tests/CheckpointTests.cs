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

    private (CharLstmModel Model, Vocabulary Vocab) RandomModel(int seed)
    {
        var vocab = Vocabulary.FromText("abcdefg hij\n");
        var model = new CharLstmModel(devices.Cpu, new ModelConfig(vocab.Count, 6, 9), 2);
        model.Parameters.SetValues(TestData.Uniform(new Random(seed), model.Parameters.Count, 0.5));
        return (model, vocab);
    }

    [Fact]
    public void RoundTripRestoresTheSameModel()
    {
        var (model, vocab) = RandomModel(TestData.FreshSeed());
        using var _ = model;
        string path = Path.Combine(_dir, "m.safetensors");
        Checkpoint.Save(path, model, vocab, new Dictionary<string, string> { ["prime"] = "abc" });
        var loaded = Checkpoint.Load(path);
        Assert.Equal(model.Config, loaded.Config);
        Assert.Equal(vocab.Symbols, loaded.Vocabulary.Symbols);
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
        var (model, vocab) = RandomModel(TestData.FreshSeed());
        using var _ = model;
        string path = Path.Combine(_dir, "m.safetensors");
        Checkpoint.Save(path, model, vocab);
        var (_, tensors) = SafeTensors.Read(path);
        Assert.Equal(new[] { "fc.bias", "fc.weight", "lstm.bias_hh_l0", "lstm.bias_ih_l0", "lstm.weight_hh_l0", "lstm.weight_ih_l0" },
            tensors.Keys.OrderBy(k => k, StringComparer.Ordinal));
        int v = vocab.Count, h = 6;
        Assert.Equal(new[] { 4 * h, v }, tensors["lstm.weight_ih_l0"].Shape);
        Assert.Equal(new[] { 4 * h, h }, tensors["lstm.weight_hh_l0"].Shape);
        Assert.Equal(new[] { v, h }, tensors["fc.weight"].Shape);
        var wih = tensors["lstm.weight_ih_l0"].Data; var whh = tensors["lstm.weight_hh_l0"].Data;
        var bih = tensors["lstm.bias_ih_l0"].Data; var bhh = tensors["lstm.bias_hh_l0"].Data;
        var fcw = tensors["fc.weight"].Data; var fcb = tensors["fc.bias"].Data;

        var window = new[] { 3, 0, 5, 5, 1, 8, 2 };
        var hs = new double[h]; var cs = new double[h];
        foreach (int x in window)
        {
            var gates = new double[4 * h];
            for (int n = 0; n < 4 * h; n++)
            {
                double acc = wih[n * v + x] + bih[n] + bhh[n];
                for (int k = 0; k < h; k++) acc += whh[n * h + k] * hs[k];
                gates[n] = acc;
            }
            for (int j = 0; j < h; j++)
            {
                double i = Reference.Sigmoid(gates[j]), f = Reference.Sigmoid(gates[h + j]);
                double g = Math.Tanh(gates[2 * h + j]), o = Reference.Sigmoid(gates[3 * h + j]);
                cs[j] = f * cs[j] + i * g;
                hs[j] = o * Math.Tanh(cs[j]);
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
        SafeTensors.Write(path, new Dictionary<string, string> { ["format"] = Checkpoint.FormatTag, ["cell"] = "gru" },
            new[] { new TensorEntry("x", new[] { 1 }, new[] { 1f }) });
        var e = Assert.Throws<GpuLstmException>(() => Checkpoint.Load(path));
        Assert.Contains("'gru'", e.Message);
        string other = Path.Combine(_dir, "other.safetensors");
        SafeTensors.Write(other, new Dictionary<string, string>(), new[] { new TensorEntry("x", new[] { 1 }, new[] { 1f }) });
        Assert.Contains("not written by gpulstm", Assert.Throws<GpuLstmException>(() => Checkpoint.Load(other)).Message);
    }
}
