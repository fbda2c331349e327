using GpuLstm.Runtime.Checkpoints;
using GpuLstm.Runtime.Data;
using GpuLstm.Runtime.Export;
using GpuLstm.Runtime.Models;
using GpuLstm.Runtime.Models.Cells;
using GpuLstm.Runtime.Series;
using Microsoft.ML.OnnxRuntime;
using Xunit;

namespace GpuLstm.Tests;

/// <summary>`gpulstm export --format onnx` end to end: the file it writes opens in ONNX Runtime; where it goes by default.</summary>
[Collection(DeviceCollection.Name)]
public sealed class ExportCliTests(TestDevices devices) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gpulstm-export-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private void SaveTextCheckpoint(string name)
    {
        var vocab = Vocabulary.FromText("abc de\n");
        using var model = new LanguageModel(devices.Host, new LanguageModelConfig(vocab.Count, 3, 4) { Cell = RecurrentCell.Gru }, 1);
        model.Parameters.SetValues(TestData.Uniform(new Random(5), model.Parameters.Count, 0.5));
        Checkpoint.Save(Path.Combine(_dir, name), model, vocab);
    }

    [Fact]
    public void WritesBesideTheCheckpointByDefault()
    {
        SaveTextCheckpoint("poem.safetensors");
        var r = CliTests.Run(_dir, "export", "--checkpoint", "poem.safetensors");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Equal("", r.Stderr);
        Assert.StartsWith("wrote poem.onnx: text model, ONNX opset 17", r.Stdout);
        using var session = new InferenceSession(Path.Combine(_dir, "poem.onnx"));
        Assert.Equal("gru", session.ModelMetadata.CustomMetadataMap["cell"]);
        Assert.Equal(new[] { "tokens", "h0_l0" }, session.InputMetadata.Keys.ToArray());
        // Only the ONNX file is new: no temporary file is left beside it.
        Assert.Equal(new[] { "poem.onnx", "poem.safetensors" }, Directory.GetFiles(_dir).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray());
    }

    [Fact]
    public void ExportsASeriesCheckpointToTheGivenOutput()
    {
        var config = new SeriesModelConfig(Hidden: 3, Window: 4, Horizon: 2, Bidirectional: true);
        using (var model = new SeriesModel(devices.Host, config, 1))
        {
            var info = new SeriesModelInfo(new SeriesScaler(SeriesScalerKind.ZScore, 1.0, 2.0), false, "value", null, 0,
                Enumerable.Range(0, 8).Select(i => (double)i).ToArray(), Enumerable.Range(0, 8).Select(i => $"{i}").ToArray(), null);
            SeriesCheckpoint.Save(Path.Combine(_dir, "series.safetensors"), model, info);
        }
        Directory.CreateDirectory(Path.Combine(_dir, "out"));
        var r = CliTests.Run(_dir, "export", "--checkpoint", "series.safetensors", "--format", "onnx", "--output", "out/forecaster.onnx");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.StartsWith("wrote out/forecaster.onnx: series model", r.Stdout);
        using var session = new InferenceSession(Path.Combine(_dir, "out", "forecaster.onnx"));
        Assert.Equal("series", session.ModelMetadata.CustomMetadataMap[OnnxExport.GraphKey]);
        Assert.Equal("ZScore", session.ModelMetadata.CustomMetadataMap["scaler.kind"]);
    }

    [Fact]
    public async Task ReadsTheCheckpointFromStandardInput()
    {
        SaveTextCheckpoint("piped.safetensors");
        var psi = new System.Diagnostics.ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            WorkingDirectory = _dir,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (string a in new[] { Path.Combine(AppContext.BaseDirectory, "gpulstm.dll"), "export", "--checkpoint", "-", "--output", "from-stdin.onnx" })
            psi.ArgumentList.Add(a);
        using var p = System.Diagnostics.Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        p.StandardInput.BaseStream.Write(File.ReadAllBytes(Path.Combine(_dir, "piped.safetensors")));
        p.StandardInput.Close();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await p.WaitForExitAsync(timeout.Token);
        Assert.True(p.ExitCode == 0, await stderr);
        Assert.StartsWith("wrote from-stdin.onnx: text model", await stdout);
        using var session = new InferenceSession(Path.Combine(_dir, "from-stdin.onnx"));
        Assert.Equal("gru", session.ModelMetadata.CustomMetadataMap["cell"]);
    }

    [Fact]
    public void ReplacesAnExistingFileWhole()
    {
        SaveTextCheckpoint("m.safetensors");
        string target = Path.Combine(_dir, "m.onnx");
        File.WriteAllText(target, "an older export");
        var r = CliTests.Run(_dir, "export", "--checkpoint", "m.safetensors");
        Assert.True(r.ExitCode == 0, r.Stderr);
        using var session = new InferenceSession(target);
        Assert.Equal("text", session.ModelMetadata.CustomMetadataMap[OnnxExport.GraphKey]);
    }
}
