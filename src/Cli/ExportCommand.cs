using System.CommandLine;
using GpuLstm.Runtime;
using GpuLstm.Runtime.Export;
using GpuLstm.Runtime.Files;

namespace GpuLstm.Cli;

/// <summary>`gpulstm export --format onnx`: a text or series checkpoint as an ONNX graph that ONNX Runtime runs without GpuLstm.</summary>
internal static class ExportCommand
{
    public static Command Create()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "a checkpoint written by `gpulstm train` or `gpulstm forecast train` ('-': standard input)", Required = true };
        var format = new Option<string>("--format") { Description = "onnx: an ONNX graph (opset 17) with the state as explicit inputs and outputs", DefaultValueFactory = _ => "onnx" };
        format.AcceptOnlyFromAmong("onnx");
        var output = new Option<string?>("--output") { Description = "the file to write (default: the checkpoint's path with the extension .onnx)" };
        var command = new Command("export", "Write a checkpoint as an ONNX graph (see README's \"ONNX export\" for its inputs, outputs and metadata).")
        {
            checkpoint, format, output,
        };
        command.SetAction(parse => CliRunner.Run(parse, () =>
        {
            string checkpointPath = parse.GetValue(checkpoint)!;
            string? outputPath = parse.GetValue(output);
            if (outputPath is null && checkpointPath == InputSource.StandardInput)
                throw new GpuLstmException("--output is required when --checkpoint is standard input ('-'): there is no checkpoint path to put the .onnx file beside");
            outputPath ??= Path.ChangeExtension(checkpointPath, ".onnx");
            new FilePlan().Input("--checkpoint", checkpointPath).Output("--output", outputPath).Check();
            var model = OnnxExport.FromCheckpointFile(checkpointPath);
            OnnxExport.Write(outputPath, model);
            Console.WriteLine($"wrote {outputPath}: {model.MetadataProps.First(p => p.Key == OnnxExport.GraphKey).Value} model, ONNX opset {OnnxExport.Opset}, {model.Graph.Node.Count} nodes");
            return 0;
        }));
        return command;
    }
}
