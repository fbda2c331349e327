using GpuLstm.Runtime.Models;

namespace GpuLstm.Runtime.Checkpoints;

/// <summary>
/// One recurrent layer's tensors as PyTorch's nn.LSTM / nn.GRU name and lay them out:
/// {cell}.weight_ih_l{k}{suffix} (G·H, X), {cell}.weight_hh_l{k}{suffix} (G·H, H), {cell}.bias_ih_l{k}{suffix}
/// and {cell}.bias_hh_l{k}{suffix} (G·H), with G = 4 (gates i, f, g, o) or 3 (r, z, n) and suffix "" or
/// "_reverse". Our layers keep the transposed (Keras) layout, so weights are transposed on the way in and out.
/// Shared by text and series checkpoints.
/// </summary>
public static class RecurrentTensors
{
    public static int Gates(string cell) => cell == "gru" ? 3 : 4;

    public static IEnumerable<(string Name, int[] Shape)> Expected(string cell, int level, string suffix, int inputSize, int hidden)
    {
        int gh = Gates(cell) * hidden;
        yield return ($"{cell}.weight_ih_l{level}{suffix}", new[] { gh, inputSize });
        yield return ($"{cell}.weight_hh_l{level}{suffix}", new[] { gh, hidden });
        yield return ($"{cell}.bias_ih_l{level}{suffix}", new[] { gh });
        yield return ($"{cell}.bias_hh_l{level}{suffix}", new[] { gh });
    }

    public static void Add(List<TensorEntry> tensors, ParameterSet p, IRecurrentLayer layer, int level, string suffix = "")
    {
        string cell = layer.Cell;
        int h = layer.Hidden, x = layer.InputSize, gh = Gates(cell) * h;
        tensors.Add(new($"{cell}.weight_ih_l{level}{suffix}", new[] { gh, x }, Checkpoint.Transpose(p.GetValue(layer.InputWeights), x, gh)));
        tensors.Add(new($"{cell}.weight_hh_l{level}{suffix}", new[] { gh, h }, Checkpoint.Transpose(p.GetValue(layer.RecurrentWeights), h, gh)));
        switch (layer)
        {
            case GruLayer gru:
                // PyTorch's GRU keeps both biases apart: b_hn sits inside r ⊙ (W_hn h + b_hn). So do we.
                tensors.Add(new($"{cell}.bias_ih_l{level}{suffix}", new[] { gh }, p.GetValue(gru.InputBias)));
                tensors.Add(new($"{cell}.bias_hh_l{level}{suffix}", new[] { gh }, p.GetValue(gru.RecurrentBias)));
                break;
            case LstmLayer lstm:
                tensors.Add(new($"{cell}.bias_ih_l{level}{suffix}", new[] { gh }, p.GetValue(lstm.Bias)));
                // Keras has one LSTM bias; PyTorch adds two. All of ours goes in bias_ih.
                tensors.Add(new($"{cell}.bias_hh_l{level}{suffix}", new[] { gh }, new float[gh]));
                break;
            default:
                throw new ArgumentException($"no checkpoint layout for a '{cell}' layer");
        }
    }

    /// <summary>Sets the layer's parameters from validated tensors (an LSTM's two biases are summed, so PyTorch-trained files load too).</summary>
    public static void CopyInto(IReadOnlyDictionary<string, TensorEntry> t, ParameterSet p, IRecurrentLayer layer, int level, string suffix = "")
    {
        string cell = layer.Cell;
        int h = layer.Hidden, gh = Gates(cell) * h;
        p.SetValue(layer.InputWeights, Checkpoint.Transpose(t[$"{cell}.weight_ih_l{level}{suffix}"].Data, gh, layer.InputSize));
        p.SetValue(layer.RecurrentWeights, Checkpoint.Transpose(t[$"{cell}.weight_hh_l{level}{suffix}"].Data, gh, h));
        var bih = t[$"{cell}.bias_ih_l{level}{suffix}"].Data;
        var bhh = t[$"{cell}.bias_hh_l{level}{suffix}"].Data;
        switch (layer)
        {
            case GruLayer gru:
                p.SetValue(gru.InputBias, bih);
                p.SetValue(gru.RecurrentBias, bhh);
                break;
            case LstmLayer lstm:
                p.SetValue(lstm.Bias, bih.Zip(bhh, (a, b) => a + b).ToArray());
                break;
            default:
                throw new ArgumentException($"no checkpoint layout for a '{cell}' layer");
        }
    }
}
