using ILGPU;
using GpuLstm.Kernels;
using GpuLstm.Runtime.Models;
using ILGPU.Runtime;
using GpuLstm.Runtime.Compute;

namespace GpuLstm.Runtime.Training;

/// <summary>Adam's hyper-parameters; the defaults are Keras's (ε = 1e-7, not PyTorch's 1e-8).</summary>
internal sealed record AdamOptions(double LearningRate = 1e-3, double Beta1 = 0.9, double Beta2 = 0.999, double Epsilon = 1e-7,
    double ClipNorm = 0)
{
    public void Validate()
    {
        if (!(LearningRate > 0) || double.IsInfinity(LearningRate)) throw new SettingException(nameof(LearningRate), $"the learning rate must be a positive number, got {LearningRate}", "the learning rate");
        if (!(Beta1 >= 0 && Beta1 < 1) || !(Beta2 >= 0 && Beta2 < 1)) throw new GpuLstmException("Adam's betas must be in [0, 1)");
        if (!(Epsilon > 0)) throw new GpuLstmException($"Adam's epsilon must be positive, got {Epsilon}");
        if (!(ClipNorm >= 0)) throw new SettingException(nameof(ClipNorm), $"the clip norm must be 0 (off) or a positive number, got {ClipNorm}", "the clip norm");
    }
}

/// <summary>
/// Adam over a <see cref="ParameterSet"/>: moment buffers shaped like the parameters, one fused kernel a
/// step. Optional global-norm clipping scales the gradients inside the same kernel.
/// </summary>
internal sealed class AdamOptimizer : IDisposable
{
    private readonly ParameterSet _parameters;
    private readonly Func<double> _gradientNorm;
    private readonly Compute.IKernelSet _k;
    private readonly MemoryBuffer1D<float, ILGPU.Stride1D.Dense> _m, _v;

    public AdamOptions Options { get; }
    public long Step { get; private set; }
    /// <summary>The learning rate of the next steps; a schedule may change it between steps.</summary>
    public double LearningRate { get; set; }
    public double LastGradientNorm { get; private set; } = double.NaN;

    public AdamOptimizer(ITrainableModel model, AdamOptions options)
    {
        options.Validate();
        Options = options;
        LearningRate = options.LearningRate;
        _parameters = model.Parameters;
        _gradientNorm = model.GradientNorm;
        _k = model.Kernels;
        var acc = model.Device.Accelerator;
        _m = acc.Allocate1D<float>(_parameters.Count);
        _v = acc.Allocate1D<float>(_parameters.Count);
        _m.MemSetToZero();
        _v.MemSetToZero();
        acc.Synchronize();
    }

    /// <summary>The step size Keras's Adam takes at step t (1-based): lr·√(1−β2ᵗ)/(1−β1ᵗ).</summary>
    public static double StepSize(AdamOptions o, long t) => StepSize(o, o.LearningRate, t);

    public static double StepSize(AdamOptions o, double learningRate, long t) =>
        learningRate * Math.Sqrt(1 - Math.Pow(o.Beta2, t)) / (1 - Math.Pow(o.Beta1, t));

    /// <summary>
    /// Ends a training step on the device (see IKernelSet.FinishStep): the gradients' norm and the mean of
    /// <paramref name="rowLosses"/> are reduced there, a non-finite one halts Adam, clipping scales the rest. Nothing
    /// waits; <see cref="ReadOutcome"/> with the same <paramref name="slot"/> reads the result later.
    /// </summary>
    public void Finish(ArrayView<float> rowLosses, int slot)
    {
        Step++;
        var args = new AdamStepArgs((float)StepSize(Options, LearningRate, Step), (float)Options.Beta1, (float)Options.Beta2,
            (float)Options.Epsilon, 1f);
        _k.FinishStep(new StepFinish(rowLosses, _parameters.Values, _parameters.Grads, _m.Flat(), _v.Flat(), args, Options.ClipNorm, slot));
    }

    /// <summary>The outcome of the step finished into <paramref name="slot"/> (waits for that step only).</summary>
    public StepOutcome ReadOutcome(int slot)
    {
        var outcome = _k.ReadStepOutcome(slot);
        LastGradientNorm = outcome.GradientNorm;
        return outcome;
    }

    /// <summary>Lets steps update the weights again after a halt (a new run on the same model).</summary>
    public void ResetGuard() => _k.ResetStepGuard();

    /// <summary>Applies the gradients currently in the parameter set.</summary>
    public void Apply() => Apply(Options.ClipNorm > 0 ? _gradientNorm() : double.NaN);

    /// <summary>Applies the gradients, whose global norm the caller has already computed (it is needed for clipping).</summary>
    public void Apply(double gradientNorm)
    {
        double scale = 1;
        LastGradientNorm = gradientNorm;
        if (Options.ClipNorm > 0 && gradientNorm > Options.ClipNorm) scale = Options.ClipNorm / gradientNorm;
        Step++;
        var args = new AdamStepArgs((float)StepSize(Options, LearningRate, Step), (float)Options.Beta1, (float)Options.Beta2,
            (float)Options.Epsilon, (float)scale);
        _k.AdamStep(_parameters.Values, _parameters.Grads, _m.Flat(), _v.Flat(), args);
    }

    public float[] GetFirstMoments() => Read(_m);
    public float[] GetSecondMoments() => Read(_v);

    private float[] Read(MemoryBuffer1D<float, ILGPU.Stride1D.Dense> buffer)
    {
        var values = new float[buffer.Length];
        _k.Download(buffer.Flat(), values);
        return values;
    }

    /// <summary>Puts the optimizer back where a checkpoint left it: its step count and both moments.</summary>
    public void Restore(long step, ReadOnlySpan<float> m, ReadOnlySpan<float> v)
    {
        if (step < 0) throw new ArgumentOutOfRangeException(nameof(step));
        if (m.Length != _parameters.Count || v.Length != _parameters.Count) throw new ArgumentException($"expected {_parameters.Count} moments");
        _k.Upload(m, _m.Flat());
        _k.Upload(v, _v.Flat());
        Step = step;
    }

    public void Dispose()
    {
        _m.Dispose();
        _v.Dispose();
    }
}
