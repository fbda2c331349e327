using GpuLstm.Kernels;
using GpuLstm.Runtime.Compute;
using ILGPU;

namespace GpuLstm.Runtime.Models;

/// <summary>y (R,V) = h (R,H)·W (H,V) + b: the output projection before the softmax.</summary>
internal sealed class DenseLayer
{
    private readonly IKernelSet _k;
    private readonly ParameterSet _parameters;

    public int InputSize { get; }   // H
    public int OutputSize { get; }  // V
    public ParameterTensor Weights { get; } // (H,V): Keras's kernel, PyTorch's Linear.weight transposed
    public ParameterTensor Bias { get; }    // (V)

    public DenseLayer(IKernelSet kernels, ParameterSet parameters, string prefix, int inputSize, int outputSize)
    {
        _k = kernels;
        _parameters = parameters;
        InputSize = inputSize; OutputSize = outputSize;
        Weights = parameters.Add(prefix + ".weights", inputSize, outputSize);
        Bias = parameters.Add(prefix + ".bias", outputSize);
    }

    /// <summary>Keras's Dense defaults: glorot_uniform kernel, zero bias.</summary>
    public void InitializeKerasDefaults(Rng rng)
    {
        _parameters.SetValue(Weights, Initializers.GlorotUniform(rng, InputSize, OutputSize));
        _parameters.SetValue(Bias, new float[OutputSize]);
    }

    /// <summary>h: (R,H) → y: (R,V).</summary>
    public void Forward(ArrayView<float> h, ArrayView<float> y, int rows) =>
        _k.Gemm(GemmShape.NN(rows, OutputSize, InputSize, addBias: true), h, _parameters.Value(Weights), _parameters.Value(Bias), y);

    /// <summary>dW = hᵀ·dy, db = Σ_r dy, dh (R,H) = dy·Wᵀ. Writes, not accumulates.</summary>
    public void Backward(ArrayView<float> h, ArrayView<float> dy, ArrayView<float> dh, int rows)
    {
        _k.Gemm(GemmShape.TN(InputSize, OutputSize, rows), h, dy, default, _parameters.Grad(Weights));
        _k.ColumnSum(rows, OutputSize, dy, _parameters.Grad(Bias), accumulate: false);
        _k.Gemm(GemmShape.NT(rows, InputSize, OutputSize), dy, _parameters.Value(Weights), default, dh);
    }
}
