using System.Globalization;
using Google.Protobuf;
using GpuLstm.Runtime.Checkpoints;
using GpuLstm.Runtime.Files;
using GpuLstm.Runtime.Models.Cells;
using Onnx;

namespace GpuLstm.Runtime.Export;

/// <summary>
/// Turns a GpuLstm checkpoint into an ONNX graph (opset <see cref="Opset"/>) that ONNX Runtime runs without
/// GpuLstm. The graph is built from the checkpoint's tensors, which are already in PyTorch's layout
/// (see <see cref="StackTensors"/>), so it needs no device and cannot drift from what a model on any device
/// loads. Every level is one ONNX LSTM / GRU / RNN node; only the gate blocks are reordered.
/// <para>Text graph (time-major, as ONNX's recurrent operators take it; T and B are free):</para>
/// <list type="bullet">
/// <item>inputs: tokens int64 (T,B); per level k: h0_l{k} float (1,B,H), and for an LSTM c0_l{k} float (1,B,H);</item>
/// <item>outputs: logits float (T,B,V) at every position, probabilities float (T,B,V) (their softmax), and
/// per level hn_l{k} (1,B,H) (and cn_l{k}), the state after the last token, to feed back as the next call's h0/c0.</item>
/// </list>
/// <para>Series graph: input x float (T,B,F), the window already scaled (and differenced when the metadata's
/// "difference" is true); output y float (B,K), the scaled forecast. Each window starts from a zero state,
/// as the forecaster does, so there are no state inputs. The head reads the top level's final hidden state of
/// each direction (PyTorch's h_n, forward then reverse), not the last output step: the reverse direction's
/// final state is its state after input 0.</para>
/// <para>Every key of the checkpoint's metadata is copied into the model's metadata_props (vocab, tokens,
/// scaler.*, window, …), with the keys in <see cref="GraphKey"/> and <see cref="OpsetKey"/> added.</para>
/// </summary>
internal static class OnnxExport
{
    /// <summary>The ONNX operator set the graphs use and declare (LSTM/GRU/RNN-14 ops, Squeeze-13 with axes as an input).</summary>
    public const long Opset = 17;

    /// <summary>ONNX IR version 8: what opset 17 shipped with (onnx 1.12); ONNX Runtime 1.12 and later read it.</summary>
    public const long IrVersion = 8;

    /// <summary>Metadata key saying which graph this is: "text" or "series".</summary>
    public const string GraphKey = "onnx_graph";

    /// <summary>Metadata key repeating the opset, for readers that only look at metadata_props.</summary>
    public const string OpsetKey = "onnx_opset";

    private const TensorProto.Types.DataType Float = TensorProto.Types.DataType.Float;
    private const TensorProto.Types.DataType Int64 = TensorProto.Types.DataType.Int64;

    /// <summary>
    /// Reads the checkpoint at <paramref name="path"/> (a file, a pipe, or standard input as "-"; text or
    /// series, told apart by its "format" metadata) and builds its graph; a bad checkpoint is the loaders'
    /// one-line <see cref="GpuLstmException"/>.
    /// </summary>
    public static ModelProto FromCheckpointFile(string path)
    {
        // Read once: standard input and pipes cannot be read again for the loader of the kind found.
        byte[] bytes = InputSource.Open(path, "checkpoint").ReadAllBytes();
        var reader = new CheckpointReader(path, "gpulstm train or gpulstm forecast train", () => SafeTensors.Read(bytes, path));
        return reader.Get("format") == SeriesCheckpoint.FormatTag
            ? SeriesGraph(SeriesCheckpoint.Parse(bytes, path))
            : TextGraph(Checkpoint.Parse(bytes, path));
    }

    /// <summary>Writes <paramref name="model"/> to <paramref name="path"/> atomically (a temporary file renamed into place).</summary>
    public static void Write(string path, ModelProto model) => AtomicFile.Write(path, "ONNX model", model.WriteTo);

    /// <summary>The text model's graph: tokens → one-hot or embedding → L levels → dense → logits and softmax.</summary>
    public static ModelProto TextGraph(LoadedCheckpoint checkpoint)
    {
        var c = checkpoint.Config;
        var t = checkpoint.Tensors;
        int v = c.VocabSize, h = c.Hidden;
        var g = new GraphBuilder("gpulstm_text");
        g.Input("tokens", Int64, "steps", "batch");

        string x;
        if (c.Embedding > 0)
        {
            g.Initializer("embedding.weight", t["embedding.weight"].Data, v, c.Embedding);
            x = g.Node("Gather", ["embedding.weight", "tokens"], "embedded"); // (T,B,D)
        }
        else
        {
            // One-hot rows (T,B,V): the graph stays what the checkpoint describes (weight_ih of width V), at the
            // cost of a V-wide product per token, which ONNX Runtime does in one GEMM per level.
            g.Initializer("onehot.depth", new long[] { v });
            g.Initializer("onehot.values", new[] { 0f, 1f }, 2);
            x = g.Node("OneHot", ["tokens", "onehot.depth", "onehot.values"], "onehot", ("axis", -1L));
        }

        var cell = c.Cell;
        for (int level = 0; level < c.Layers; level++)
        {
            g.Input($"h0_l{level}", Float, "1", "batch", h.ToString(CultureInfo.InvariantCulture));
            if (cell == RecurrentCell.Lstm) g.Input($"c0_l{level}", Float, "1", "batch", h.ToString(CultureInfo.InvariantCulture));
            x = Level(g, cell, t, level, directions: 1, h, x,
                initialH: $"h0_l{level}", initialC: cell == RecurrentCell.Lstm ? $"c0_l{level}" : null,
                finalH: $"hn_l{level}", finalC: cell == RecurrentCell.Lstm ? $"cn_l{level}" : null);
        }

        g.Initializer("fc.weight_t", Checkpoint.Transpose(t["fc.weight"].Data, v, h), h, v); // (H,V): MatMul's right operand
        g.Initializer("fc.bias", t["fc.bias"].Data, v);
        string product = g.Node("MatMul", [x, "fc.weight_t"], "fc.product");
        g.Node("Add", [product, "fc.bias"], "logits");
        g.Node("Softmax", ["logits"], "probabilities", ("axis", -1L));
        g.Output("logits", Float, "steps", "batch", v.ToString(CultureInfo.InvariantCulture));
        g.Output("probabilities", Float, "steps", "batch", v.ToString(CultureInfo.InvariantCulture));
        for (int level = 0; level < c.Layers; level++)
        {
            g.Output($"hn_l{level}", Float, "1", "batch", h.ToString(CultureInfo.InvariantCulture));
            if (cell == RecurrentCell.Lstm) g.Output($"cn_l{level}", Float, "1", "batch", h.ToString(CultureInfo.InvariantCulture));
        }
        return Model(g, checkpoint.Metadata, "text");
    }

    /// <summary>The series model's graph: a scaled window → L levels (one or two directions) → dense on h_n.</summary>
    public static ModelProto SeriesGraph(LoadedSeriesCheckpoint checkpoint)
    {
        var c = checkpoint.Config;
        var t = checkpoint.Tensors;
        // y is the head's K·M outputs (the checkpoint's 'head_output' metadata, copied into the model, says what they are).
        int h = c.Hidden, d = c.Directions, k = c.HeadOutputs;
        var g = new GraphBuilder("gpulstm_series");
        g.Input("x", Float, "steps", "batch", c.Features.ToString(CultureInfo.InvariantCulture));
        string x = "x";
        for (int level = 0; level < c.Layers; level++)
            x = Level(g, c.Cell, t, level, d, h, x, initialH: null, initialC: null,
                finalH: $"hn_l{level}", finalC: c.Cell == RecurrentCell.Lstm ? $"cn_l{level}" : null);

        // h_n of the top level (D,B,H) → (B,D,H) → (B,D·H): forward's final state, then reverse's, as
        // RecurrentStack.FinalState joins them for the head.
        string top = $"hn_l{c.Layers - 1}";
        string batchMajor = g.Node("Transpose", [top], "final.transposed", ("perm", new long[] { 1, 0, 2 }));
        g.Initializer("final.shape", new long[] { 0, (long)d * h });
        string final = g.Node("Reshape", [batchMajor, "final.shape"], "final");
        g.Initializer("fc.weight_t", Checkpoint.Transpose(t["fc.weight"].Data, k, d * h), d * h, k); // (D·H,K)
        g.Initializer("fc.bias", t["fc.bias"].Data, k);
        string product = g.Node("MatMul", [final, "fc.weight_t"], "fc.product");
        g.Node("Add", [product, "fc.bias"], "y");
        g.Output("y", Float, "batch", k.ToString(CultureInfo.InvariantCulture));
        return Model(g, checkpoint.Metadata, "series");
    }

    /// <summary>
    /// PyTorch's gate blocks in ONNX's order: entry j is the PyTorch block that becomes ONNX block j.
    /// LSTM: ONNX i, o, f, c from PyTorch i, f, g, o. GRU: ONNX z, r, h from PyTorch r, z, n. RNN: one block.
    /// </summary>
    internal static int[] OnnxGateOrder(RecurrentCell cell) =>
        cell == RecurrentCell.Lstm ? [0, 3, 1, 2]
        : cell == RecurrentCell.Gru ? [1, 0, 2]
        : cell == RecurrentCell.Rnn ? [0]
        : throw new GpuLstmException($"ONNX export does not know the '{cell.Name}' cell");

    /// <summary>
    /// Rows of a PyTorch (G·H, cols) matrix (or a G·H bias, cols = 1) with its G gate blocks of H rows put in
    /// <paramref name="order"/>.
    /// </summary>
    internal static float[] ReorderGateBlocks(float[] pytorch, int hidden, int cols, int[] order)
    {
        int block = hidden * cols;
        var result = new float[pytorch.Length];
        for (int j = 0; j < order.Length; j++)
            Array.Copy(pytorch, order[j] * block, result, j * block, block);
        return result;
    }

    /// <summary>
    /// One level as one ONNX recurrent node over x (T,B,X): W (D,G·H,X), R (D,G·H,H), B (D,2·G·H) = [Wb, Rb]
    /// per direction. Returns the name of the level's output (T,B,D·H): ONNX's Y (T,D,B,H) with directions
    /// joined per step, forward then reverse (PyTorch's output of a bidirectional level).
    /// </summary>
    private static string Level(GraphBuilder g, RecurrentCell cell, IReadOnlyDictionary<string, TensorEntry> tensors, int level, int directions,
        int h, string x, string? initialH, string? initialC, string finalH, string? finalC)
    {
        var order = OnnxGateOrder(cell);
        int gh = cell.Gates * h;
        var w = new List<float>();
        var r = new List<float>();
        var b = new List<float>();
        int inputWidth = 0;
        foreach (string suffix in directions == 2 ? new[] { "", "_reverse" } : new[] { "" })
        {
            TensorEntry Tensor(string kind) => tensors[$"{cell.Name}.{kind}_l{level}{suffix}"];
            var wih = Tensor("weight_ih");
            inputWidth = wih.Shape[1];
            w.AddRange(ReorderGateBlocks(wih.Data, h, inputWidth, order));
            r.AddRange(ReorderGateBlocks(Tensor("weight_hh").Data, h, h, order));
            b.AddRange(ReorderGateBlocks(Tensor("bias_ih").Data, h, 1, order));
            b.AddRange(ReorderGateBlocks(Tensor("bias_hh").Data, h, 1, order));
        }
        string prefix = $"l{level}";
        g.Initializer($"{prefix}.W", w.ToArray(), directions, gh, inputWidth);
        g.Initializer($"{prefix}.R", r.ToArray(), directions, gh, h);
        g.Initializer($"{prefix}.B", b.ToArray(), directions, 2 * gh);

        var inputs = new List<string> { x, $"{prefix}.W", $"{prefix}.R", $"{prefix}.B", "", initialH ?? "" };
        if (cell == RecurrentCell.Lstm) inputs.Add(initialC ?? "");
        while (inputs[^1] == "") inputs.RemoveAt(inputs.Count - 1); // trailing optional inputs are left out, not named ""
        var outputs = new List<string> { $"{prefix}.Y", finalH };
        if (finalC is not null) outputs.Add(finalC);

        var attributes = new List<(string, object)>
        {
            ("hidden_size", (long)h),
            ("direction", directions == 2 ? "bidirectional" : "forward"),
        };
        string op;
        if (cell == RecurrentCell.Lstm) op = "LSTM";
        else if (cell == RecurrentCell.Gru)
        {
            op = "GRU";
            // PyTorch applies the reset gate after the recurrent product: n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)).
            attributes.Add(("linear_before_reset", 1L));
        }
        else
        {
            op = "RNN";
            attributes.Add(("activations", Enumerable.Repeat("Tanh", directions).ToArray()));
        }
        g.Node(op, inputs, outputs, attributes.ToArray());

        // Y (T,D,B,H) → (T,B,D,H) → (T,B,D·H).
        if (directions == 1)
        {
            g.Initializer($"{prefix}.squeeze_axes", new long[] { 1 });
            return g.Node("Squeeze", [$"{prefix}.Y", $"{prefix}.squeeze_axes"], $"{prefix}.output");
        }
        string stepMajor = g.Node("Transpose", [$"{prefix}.Y"], $"{prefix}.Y_transposed", ("perm", new long[] { 0, 2, 1, 3 }));
        g.Initializer($"{prefix}.output_shape", new long[] { 0, 0, (long)directions * h });
        return g.Node("Reshape", [stepMajor, $"{prefix}.output_shape"], $"{prefix}.output");
    }

    private static ModelProto Model(GraphBuilder g, IReadOnlyDictionary<string, string> checkpointMetadata, string graphKind)
    {
        var model = new ModelProto
        {
            IrVersion = IrVersion,
            ProducerName = "gpulstm",
            ProducerVersion = typeof(OnnxExport).Assembly.GetName().Version?.ToString(3) ?? "",
            Graph = g.Graph,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = Opset });
        var metadata = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in checkpointMetadata) metadata[key] = value;
        metadata[GraphKey] = graphKind;
        metadata[OpsetKey] = Opset.ToString(CultureInfo.InvariantCulture);
        foreach (var (key, value) in metadata) model.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
        return model;
    }

    /// <summary>Collects a graph's nodes, initializers, inputs and outputs (names are ONNX value names).</summary>
    private sealed class GraphBuilder(string name)
    {
        public GraphProto Graph { get; } = new() { Name = name };

        public void Input(string name, TensorProto.Types.DataType type, params string[] dims) => Graph.Input.Add(Value(name, type, dims));

        public void Output(string name, TensorProto.Types.DataType type, params string[] dims) => Graph.Output.Add(Value(name, type, dims));

        /// <summary>A value's type; a dimension that is a number is fixed, any other is a named free dimension.</summary>
        private static ValueInfoProto Value(string name, TensorProto.Types.DataType type, string[] dims)
        {
            var shape = new TensorShapeProto();
            foreach (string dim in dims)
                shape.Dim.Add(long.TryParse(dim, NumberStyles.None, CultureInfo.InvariantCulture, out long n)
                    ? new TensorShapeProto.Types.Dimension { DimValue = n }
                    : new TensorShapeProto.Types.Dimension { DimParam = dim });
            return new ValueInfoProto
            {
                Name = name,
                Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } },
            };
        }

        /// <summary>A float constant of <paramref name="dims"/> (row-major <paramref name="data"/>).</summary>
        public void Initializer(string name, float[] data, params int[] dims)
        {
            if (data.Length != dims.Aggregate(1L, (a, b) => a * b)) throw new ArgumentException($"{name}: {data.Length} values for shape [{string.Join(",", dims)}]");
            var tensor = new TensorProto { Name = name, DataType = (int)Float };
            tensor.Dims.AddRange(dims.Select(d => (long)d));
            tensor.FloatData.AddRange(data);
            Graph.Initializer.Add(tensor);
        }

        /// <summary>A 1-D int64 constant (shapes, axes, depths).</summary>
        public void Initializer(string name, long[] data)
        {
            var tensor = new TensorProto { Name = name, DataType = (int)Int64 };
            tensor.Dims.Add(data.Length);
            tensor.Int64Data.AddRange(data);
            Graph.Initializer.Add(tensor);
        }

        /// <summary>A node with one output named <paramref name="output"/>; returns that name.</summary>
        public string Node(string op, IReadOnlyList<string> inputs, string output, params (string Name, object Value)[] attributes)
        {
            Node(op, inputs, [output], attributes);
            return output;
        }

        public void Node(string op, IReadOnlyList<string> inputs, IReadOnlyList<string> outputs, params (string Name, object Value)[] attributes)
        {
            var node = new NodeProto { OpType = op, Name = $"{op}_{Graph.Node.Count}" };
            node.Input.AddRange(inputs);
            node.Output.AddRange(outputs);
            foreach (var (attributeName, value) in attributes) node.Attribute.Add(Attribute(attributeName, value));
            Graph.Node.Add(node);
        }

        private static AttributeProto Attribute(string name, object value) => value switch
        {
            long i => new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = i },
            string s => new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(s) },
            long[] ints => WithInts(new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints }, ints),
            string[] strings => WithStrings(new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Strings }, strings),
            _ => throw new ArgumentException($"attribute {name}: unsupported type {value.GetType()}"),
        };

        private static AttributeProto WithInts(AttributeProto a, long[] values) { a.Ints.AddRange(values); return a; }

        private static AttributeProto WithStrings(AttributeProto a, string[] values) { a.Strings.AddRange(values.Select(ByteString.CopyFromUtf8)); return a; }
    }
}
