using GpuLstm.Kernels;
using GpuLstm.Runtime.Compute;
using GpuLstm.Runtime.Compute.Host;
using GpuLstm.Runtime.Data;
using GpuLstm.Runtime.Models;
using GpuLstm.Runtime.Training;
using Xunit;

namespace GpuLstm.Tests;

/// <summary>The host SIMD set and the ILGPU kernels compute the same thing on the same inputs.</summary>
[Collection(DeviceCollection.Name)]
public sealed class KernelSetAgreementTests(TestDevices devices)
{
    private static float[] RunGemm(ComputeDevice d, GemmShape s, float[] a, float[] b, float[] bias, float[] c)
    {
        var acc = d.Accelerator;
        using var ab = TestData.Upload(acc, a); using var bb = TestData.Upload(acc, b);
        using var biasb = TestData.Upload(acc, bias); using var cb = TestData.Upload(acc, c);
        d.Kernels.Gemm(s, ab.View, bb.View, biasb.View, cb.View);
        d.Kernels.Synchronize();
        return cb.GetAsArray1D();
    }

    [Fact]
    public void GemmsAgreeWithinOneInHundredThousand()
    {
        int seed = TestData.FreshSeed();
        var rng = new Random(seed);
        foreach (var s in new[] { GemmShape.NN(16, 512, 128, accumulate: true), GemmShape.NT(16, 128, 512), GemmShape.TN(128, 512, 203), GemmShape.NN(9, 27, 128, addBias: true) })
        {
            var a = TestData.Uniform(rng, s.M * s.K); var b = TestData.Uniform(rng, s.K * s.N);
            var bias = TestData.Uniform(rng, s.N); var c = TestData.Uniform(rng, s.M * s.N);
            var host = RunGemm(devices.Host, s, a, b, bias, c);
            var ilgpu = RunGemm(devices.Cpu, s, a, b, bias, c);
            // Relative to the scale of the sum (√K·|a||b|), where two summation orders legitimately differ.
            TestData.AssertClose(ilgpu.Select(x => (double)x).ToArray(), host, 1e-5, 1e-5 * Math.Sqrt(s.K), $"M{s.M} N{s.N} K{s.K} seed {seed}");
        }
    }

    [Fact]
    public void TwentyTrainingStepsGiveTheSameLosses()
    {
        var host = TwentyStepLosses(devices.Host);
        var ilgpu = TwentyStepLosses(devices.Cpu);
        for (int i = 0; i < host.Length; i++)
            Assert.True(Math.Abs(host[i] - ilgpu[i]) <= 1e-4, $"step {i + 1}: host {host[i]:G9}, ilgpu {ilgpu[i]:G9}");
        Assert.True(host[^1] < host[0], "training makes progress");
    }

    /// <summary>
    /// The host set forced to each ISA on this machine (Vector512 code runs in software where the CPU lacks it):
    /// AVX2 and AVX-512 train to the same bits (every product is one FMA chain in k order whatever the register
    /// block), and the scalar fallback, whose few-row NT products sum in another order, within rounding.
    /// </summary>
    [Fact]
    public void EveryHostIsaTrainsTheSameModel()
    {
        double[] LossesWith(HostIsa isa)
        {
            var context = ComputeDevice.CreateContext();
            var cpu = ComputeDevice.SizedCpuDevice().CreateCPUAccelerator(context, ILGPU.Runtime.CPU.CPUAcceleratorMode.Parallel);
            using var device = ComputeDevice.FromAccelerator(context, cpu, new HostKernelSet(cpu, isa: isa), "cpu");
            Assert.Contains(HostGemm.IsaDisplayName(isa), device.Kernels.Name);
            return TwentyStepLosses(device);
        }
        var avx512 = LossesWith(HostIsa.Avx512);
        var avx2 = LossesWith(HostIsa.Avx2);
        var scalar = LossesWith(HostIsa.Scalar);
        for (int i = 0; i < avx512.Length; i++)
        {
            Assert.True(avx512[i] == avx2[i], $"step {i + 1}: AVX-512 {avx512[i]:R}, AVX2 {avx2[i]:R}");
            Assert.True(Math.Abs(avx512[i] - scalar[i]) <= 1e-5, $"step {i + 1}: AVX-512 {avx512[i]:G9}, scalar {scalar[i]:G9}");
        }
        Assert.True(avx512[^1] < avx512[0], "training makes progress");
    }

    private static double[] TwentyStepLosses(ComputeDevice device)
    {
        const string text = "Two roads diverged in a yellow wood, and sorry I could not travel both";
        var vocab = Vocabulary.FromText(text);
        var data = new WindowDataset(vocab.Encode(text, "text"), 20);
        double[] Losses(ComputeDevice d)
        {
            using var model = new LanguageModel(d, new LanguageModelConfig(vocab.Count, 24, 20), 8);
            model.InitializeKerasDefaults(11);
            using var adam = new AdamOptimizer(model, new AdamOptions(LearningRate: 0.01));
            var batch = new TokenBatch(20, 8);
            var rng = new GpuLstm.Runtime.Rng(5);
            var starts = new int[8];
            var losses = new double[20];
            for (int step = 0; step < 20; step++)
            {
                for (int b = 0; b < 8; b++) starts[b] = rng.NextInt(data.Count);
                data.FillBatch(starts, batch, LossPositions.Last);
                losses[step] = model.LossAndGradients(batch);
                adam.Apply();
            }
            return losses;
        }
        return Losses(device);
    }
}
