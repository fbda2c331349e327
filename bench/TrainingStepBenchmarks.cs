using GpuLstm.Runtime.Data;
using BenchmarkDotNet.Attributes;
using GpuLstm.Runtime.Compute;
using GpuLstm.Runtime.Models;
using GpuLstm.Runtime.Training;

namespace GpuLstm.Bench;

/// <summary>
/// One training step (forward, backward, Adam) of the notebook's model: V 27, H 128, T 50, B 16.
/// FLOPs per step: ≈ 2·T·B·4H·(V + H) forward, twice that backward.
/// </summary>
[Config(typeof(ShortRunConfig))]
public class TrainingStepBenchmarks : IWorkPerCall
{
    [Params("cpu", "ilgpu-cpu")] public string Device = "cpu";

    public string WorkUnit => "GFLOP/s";
    public double WorkPerCall(string method) => new LanguageModelConfig(V, H, T).TrainingFlops(T, B);
    private const int V = 27, H = 128, T = 50, B = 16;

    private ComputeDevice _device = null!;
    private LanguageModel _model = null!;
    private AdamOptimizer _adam = null!;
    private TokenBatch _batch = null!;

    [GlobalSetup]
    public void Setup()
    {
        _device = ComputeDevice.Open(Device);
        _model = new LanguageModel(_device, new LanguageModelConfig(V, H, T), B);
        _model.InitializeKerasDefaults(42);
        _adam = new AdamOptimizer(_model, new AdamOptions());
        _batch = new TokenBatch(T, B) { Steps = T, Size = B };
        var rng = new Random(1);
        for (int i = 0; i < T * B; i++) { _batch.Inputs[i] = rng.Next(V); _batch.Targets[i] = rng.Next(V); }
    }

    [Benchmark(Description = "seed config train step (V27 H128 T50 B16)")]
    public double Step()
    {
        double loss = _model.LossAndGradients(_batch);
        _adam.Apply();
        return loss;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _adam.Dispose();
        _model.Dispose();
        _device.Dispose();
    }
}
