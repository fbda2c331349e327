using GpuLstm.Runtime.Compute;
using ILGPU;

namespace GpuLstm.Runtime.Models;

/// <summary>
/// What a layer reads: dense vectors x (T,B,X), the layer below's outputs, or token ids (T,B) that stand
/// for one-hot rows of width X, whose input GEMM is a row gather and whose weight gradient a scatter-add.
/// </summary>
internal readonly struct LayerInput
{
    public ArrayView<float> Dense { get; private init; }
    public ArrayView<int> Tokens { get; private init; }
    /// <summary>The ids grouped by id, when the kernel set asked for them (its scatter-add then needs no scan).</summary>
    public TokenRows Sorted { get; private init; }
    public bool IsTokens { get; private init; }

    public static LayerInput FromDense(ArrayView<float> x) => new() { Dense = x };
    public static LayerInput FromTokens(ArrayView<int> ids, TokenRows sorted = default) => new() { Tokens = ids, Sorted = sorted, IsTokens = true };
}
