using ILGPU;
using ILGPU.Runtime;
using GpuLstm.Runtime.Compute;

namespace GpuLstm.Runtime.Models;

/// <summary>One named tensor inside the flat parameter buffer.</summary>
internal sealed record ParameterTensor(string Name, int[] Shape, int Offset)
{
    public int Length => Shape.Aggregate(1, (a, b) => a * b);
}

/// <summary>
/// Every parameter of a model in one device buffer, and every gradient in a second buffer of the same
/// layout. One buffer means one Adam launch and one norm reduction for the whole model.
/// </summary>
internal sealed class ParameterSet : IDisposable
{
    private readonly List<ParameterTensor> _tensors = new();
    private MemoryBuffer1D<float, Stride1D.Dense>? _values, _grads;
    private int _count;

    public IReadOnlyList<ParameterTensor> Tensors => _tensors;
    public int Count => _count;

    /// <summary>Declares a tensor; all declarations come before <see cref="Allocate"/>.</summary>
    public ParameterTensor Add(string name, params int[] shape)
    {
        if (_values is not null) throw new InvalidOperationException("parameters are already allocated");
        var tensor = new ParameterTensor(name, shape, _count);
        _tensors.Add(tensor);
        _count += tensor.Length;
        return tensor;
    }

    public void Allocate(Accelerator accelerator)
    {
        _values = accelerator.Allocate1D<float>(_count);
        _grads = accelerator.Allocate1D<float>(_count);
        _values.MemSetToZero();
        _grads.MemSetToZero();
        accelerator.Synchronize();
    }

    public ArrayView<float> Values => _values!.Flat();
    public ArrayView<float> Grads => _grads!.Flat();
    public ArrayView<float> Value(ParameterTensor t) => Values.SubView(t.Offset, t.Length);
    public ArrayView<float> Grad(ParameterTensor t) => Grads.SubView(t.Offset, t.Length);

    public float[] GetValues() => _values!.GetAsArray1D();
    public float[] GetGrads() => _grads!.GetAsArray1D();

    public void SetValues(ReadOnlySpan<float> all)
    {
        if (all.Length != _count) throw new ArgumentException($"expected {_count} values, got {all.Length}");
        _values!.Flat().CopyFromCPU(all);
    }

    public float[] GetValue(ParameterTensor t) => Value(t).GetAsArray();

    public void SetValue(ParameterTensor t, ReadOnlySpan<float> data)
    {
        if (data.Length != t.Length) throw new ArgumentException($"{t.Name}: expected {t.Length} values, got {data.Length}");
        Value(t).CopyFromCPU(data);
    }

    public void Dispose()
    {
        _values?.Dispose();
        _grads?.Dispose();
    }
}
