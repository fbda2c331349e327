using GpuLstm.Runtime.Compute;

namespace GpuLstm.Runtime.Models;

/// <summary>What an optimizer needs from a model: its parameters and gradients, where they live, and their norm.</summary>
internal interface ITrainableModel
{
    ParameterSet Parameters { get; }
    IKernelSet Kernels { get; }
    ComputeDevice Device { get; }

    /// <summary>Global L2 norm of the gradients currently in <see cref="ParameterSet.Grads"/>.</summary>
    double GradientNorm();
}
