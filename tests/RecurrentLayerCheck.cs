using GpuLstm.Runtime.Compute;
using GpuLstm.Runtime.Models;
using ILGPU;
using ILGPU.Runtime;
using Xunit;

namespace GpuLstm.Tests;

/// <summary>
/// Runs one recurrent layer on a kernel set with the loss L = Σ w ⊙ outputs (every position) or Σ w ⊙ final
/// state, and checks its analytic gradients against central differences of a float64 reference, as
/// <see cref="GradientCheckTests"/> does for the whole model.
/// </summary>
internal static class RecurrentLayerCheck
{
    public const double Eps = 1e-5, Tolerance = 2e-3;

    /// <summary>What the device layer produced: outputs (T,B,H), final state (B,H), every gradient of the set, dx (T,B,X) for dense inputs.</summary>
    public sealed record Run(float[] Outputs, float[] Last, float[] Grads, float[]? Dx);

    /// <summary>One-hot rows (T·B, vocab) for token ids (T·B).</summary>
    public static double[] OneHot(int[] tokens, int vocab)
    {
        var x = new double[tokens.Length * vocab];
        for (int r = 0; r < tokens.Length; r++) x[r * vocab + tokens[r]] = 1;
        return x;
    }

    /// <summary>
    /// Forward (from the carried state when asked), then backward with w as outputGradients (T,B,H) when
    /// <paramref name="allOutputs"/>, else with w written into LastOutputGradient (B,H).
    /// </summary>
    public static Run ForwardBackward(ComputeDevice device, RecurrentLayer layer, ParameterSet parameters,
        float[]? dense, int[]? tokens, int steps, int batch, float[] w, bool allOutputs, bool fromCarriedState = false)
    {
        var acc = device.Accelerator;
        using var xBuf = TestData.Upload(acc, dense ?? []);
        using var idBuf = TestData.Upload(acc, tokens ?? []);
        using var wBuf = TestData.Upload(acc, w);
        using var dx = TestData.Poisoned(acc, dense?.Length ?? 1);
        var input = tokens is null ? LayerInput.FromDense(xBuf.View) : LayerInput.FromTokens(idBuf.View);
        layer.Forward(input, steps, batch, fromCarriedState);
        var outputs = layer.Outputs(steps, batch).GetAsArray();
        var last = layer.LastOutput(steps, batch).GetAsArray();
        if (!allOutputs) layer.LastOutputGradient(batch).CopyFromCPU(w);
        layer.Backward(input, steps, batch, allOutputs ? wBuf.View : default, allOutputs, dx.View, computeInputGradient: tokens is null);
        device.Kernels.Synchronize();
        return new Run(outputs, last, parameters.GetGrads(), tokens is null ? dx.GetAsArray1D() : null);
    }

    /// <summary>L = Σ w ⊙ outputs, or Σ w ⊙ last.</summary>
    public static double Loss(double[] outputs, double[] last, float[] w, bool allOutputs)
    {
        var y = allOutputs ? outputs : last;
        Assert.Equal(w.Length, y.Length);
        double sum = 0;
        for (int i = 0; i < y.Length; i++) sum += w[i] * y[i];
        return sum;
    }

    /// <summary>
    /// Central differences of <paramref name="loss"/> at <paramref name="point"/> for elements offset … offset+length,
    /// against analytic[analyticOffset + i − offset].
    /// </summary>
    public static void AssertGradient(string what, int seed, double[] point, int offset, int length,
        float[] analytic, int analyticOffset, Func<double[], double> loss)
    {
        for (int i = offset; i < offset + length; i++)
        {
            double saved = point[i];
            point[i] = saved + Eps; double up = loss(point);
            point[i] = saved - Eps; double down = loss(point);
            point[i] = saved;
            double numeric = (up - down) / (2 * Eps);
            double a = analytic[analyticOffset + i - offset];
            double error = Math.Abs(numeric - a) / (1e-4 + Math.Abs(numeric));
            Assert.True(error < Tolerance, $"seed {seed}: {what}[{i - offset}]: analytic {a:G6}, numeric {numeric:G6}");
        }
    }

    /// <summary>Every parameter tensor of the set: analytic gradients against central differences of loss(θ).</summary>
    public static void AssertParameterGradients(int seed, ParameterSet parameters, double[] theta, float[] grads, Func<double[], double> loss)
    {
        foreach (var tensor in parameters.Tensors)
            AssertGradient(tensor.Name, seed, theta, tensor.Offset, tensor.Length, grads, tensor.Offset, loss);
    }

    public static double[] Slice(double[] all, ParameterTensor t) => all.AsSpan(t.Offset, t.Length).ToArray();

    public static double[] ToDouble(float[] a) => a.Select(v => (double)v).ToArray();
}
