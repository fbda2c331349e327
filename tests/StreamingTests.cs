using GpuLstm.Runtime.Models;
using Xunit;

namespace GpuLstm.Tests;

[Collection(DeviceCollection.Name)]
public sealed class StreamingTests(TestDevices devices)
{
    /// <summary>Feeding a window one token at a time, carrying (h, c), is the same function as one forward over the window.</summary>
    [Theory]
    [InlineData(TestDevices.IlgpuName)]
    [InlineData(TestDevices.HostName)]
    public void CarriedStateMatchesAWholeWindowForward(string set)
    {
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        using var model = new LanguageModel(devices[set], new LanguageModelConfig(11, 13, 9), 2);
        model.Parameters.SetValues(TestData.Uniform(rng, model.Parameters.Count, 0.5));
        var window = Enumerable.Range(0, 9).Select(_ => rng.Next(11)).ToArray();
        for (int len = 1; len <= window.Length; len++)
        {
            var whole = model.PredictNextLogits(window.AsSpan(0, len)).ToArray();
            model.ResetStream();
            float[] streamed = Array.Empty<float>();
            for (int i = 0; i < len; i++) streamed = model.StreamNextLogits(window[i]).ToArray();
            TestData.AssertClose(whole.Select(x => (double)x).ToArray(), streamed, 1e-5, 1e-6, $"length {len}, seed {seed}");
        }
    }
}
