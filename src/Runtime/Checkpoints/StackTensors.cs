using GpuLstm.Runtime.Models;
using GpuLstm.Runtime.Models.Cells;

namespace GpuLstm.Runtime.Checkpoints;

/// <summary>
/// A recurrent stack's tensors as PyTorch's nn.LSTM / nn.GRU / nn.RNN name and lay them out, for text and
/// series checkpoints alike: {cell}.weight_ih_l{k}{suffix} (G·H, X), {cell}.weight_hh_l{k}{suffix} (G·H, H),
/// {cell}.bias_ih_l{k}{suffix} and {cell}.bias_hh_l{k}{suffix} (G·H), with suffix "" or "_reverse" and the gate
/// blocks in the cell's order. Our layers keep the transposed (Keras) layout, so weights are transposed on the
/// way in and out. A cell with one combined bias stores all of it in bias_ih and zeros in bias_hh, and sums
/// the two when loading, so files written by PyTorch load too.
/// </summary>
internal static class StackTensors
{
    private static IEnumerable<(RecurrentLayer Layer, int Level, string Suffix)> Layers(RecurrentStack stack)
    {
        for (int l = 0; l < stack.ForwardLayers.Count; l++)
        {
            yield return (stack.ForwardLayers[l], l, "");
            if (stack.Shape.Bidirectional) yield return (stack.ReverseLayers[l], l, "_reverse");
        }
    }

    /// <summary>The name and shape of every tensor of a stack of <paramref name="shape"/> over inputs of width X.</summary>
    public static IEnumerable<(string Name, int[] Shape)> Expected(StackShape shape, int inputSize)
    {
        string cell = shape.Cell.Name;
        int h = shape.Hidden, gh = shape.Cell.Gates * h;
        for (int l = 0; l < shape.Levels; l++)
            foreach (string suffix in shape.Bidirectional ? new[] { "", "_reverse" } : new[] { "" })
            {
                int x = l == 0 ? inputSize : shape.OutputWidth;
                yield return ($"{cell}.weight_ih_l{l}{suffix}", new[] { gh, x });
                yield return ($"{cell}.weight_hh_l{l}{suffix}", new[] { gh, h });
                yield return ($"{cell}.bias_ih_l{l}{suffix}", new[] { gh });
                yield return ($"{cell}.bias_hh_l{l}{suffix}", new[] { gh });
            }
    }

    public static void Add(List<TensorEntry> tensors, ParameterSet p, RecurrentStack stack)
    {
        foreach (var (layer, level, suffix) in Layers(stack))
        {
            string cell = layer.Cell.Name;
            int h = layer.Hidden, x = layer.InputSize, gh = layer.Cell.Gates * h;
            tensors.Add(new($"{cell}.weight_ih_l{level}{suffix}", new[] { gh, x }, Checkpoint.Transpose(p.GetValue(layer.InputWeights), x, gh)));
            tensors.Add(new($"{cell}.weight_hh_l{level}{suffix}", new[] { gh, h }, Checkpoint.Transpose(p.GetValue(layer.RecurrentWeights), h, gh)));
            tensors.Add(new($"{cell}.bias_ih_l{level}{suffix}", new[] { gh }, p.GetValue(layer.InputBias)));
            tensors.Add(new($"{cell}.bias_hh_l{level}{suffix}", new[] { gh }, layer.RecurrentBias is null ? new float[gh] : p.GetValue(layer.RecurrentBias)));
        }
    }

    /// <summary>Sets the stack's parameters from validated tensors.</summary>
    public static void CopyInto(IReadOnlyDictionary<string, TensorEntry> t, ParameterSet p, RecurrentStack stack)
    {
        foreach (var (layer, level, suffix) in Layers(stack))
        {
            string cell = layer.Cell.Name;
            int h = layer.Hidden, gh = layer.Cell.Gates * h;
            p.SetValue(layer.InputWeights, Checkpoint.Transpose(t[$"{cell}.weight_ih_l{level}{suffix}"].Data, gh, layer.InputSize));
            p.SetValue(layer.RecurrentWeights, Checkpoint.Transpose(t[$"{cell}.weight_hh_l{level}{suffix}"].Data, gh, h));
            var bih = t[$"{cell}.bias_ih_l{level}{suffix}"].Data;
            var bhh = t[$"{cell}.bias_hh_l{level}{suffix}"].Data;
            if (layer.RecurrentBias is null) p.SetValue(layer.InputBias, bih.Zip(bhh, (a, b) => a + b).ToArray());
            else
            {
                p.SetValue(layer.InputBias, bih);
                p.SetValue(layer.RecurrentBias, bhh);
            }
        }
    }

    /// <summary>The cell a checkpoint's "cell" metadata names; an unknown one is an error that lists this build's cells.</summary>
    internal static RecurrentCell Cell(CheckpointReader reader, string kind)
    {
        string name = reader.Get("cell");
        return RecurrentCell.Find(name)
            ?? throw new GpuLstmException(reader.Bad($"holds a '{CheckpointReader.Truncate(name)}' {kind}; this build reads {RecurrentCell.NameList} {kind}s"));
    }
}
