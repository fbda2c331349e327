// Trains, samples and forecasts through the packaged library on both CPU kernel sets: the host set, and
// ILGPU's kernels (GpuLstm.Kernels inside the package) on ILGPU's CPU accelerator. Exits 0 when all worked.
using System.Globalization;
using GpuLstm;

const string poem = """
    Two roads diverged in a yellow wood,
    And sorry I could not travel both
    And be one traveler, long I stood
    And looked down one as far as I could
    To where it bent in the undergrowth;
    """;

string dir = Directory.CreateTempSubdirectory("gpulstm-consumer-").FullName;
try
{
    foreach (string device in new[] { "cpu", "ilgpu-cpu" })
    {
        using var model = TextModel.Train(new TextTrainingSettings
        {
            Text = poem, Hidden = 16, SeqLength = 10, BatchSize = 4, ValFraction = 0, MaxSteps = 5, Device = device,
            Checkpoint = Path.Combine(dir, device + ".safetensors"),
        });
        string sample = model.Sample("Two ", 40);
        using var loaded = TextModel.Load(Path.Combine(dir, device + ".safetensors"), device);
        if (loaded.Sample("Two ", 40) != sample) throw new Exception($"{device}: the saved model samples differently");
        Console.WriteLine($"{model.Device}: {model.Evaluate(poem).BitsPerToken:F2} bits per character; sample: {sample.ReplaceLineEndings(" ")}");
    }

    string csv = Path.Combine(dir, "sine.csv");
    File.WriteAllLines(csv, new[] { "t,y" }.Concat(Enumerable.Range(0, 60).Select(i =>
        string.Create(CultureInfo.InvariantCulture, $"{i},{10 + 5 * Math.Sin(i * Math.PI / 6)}"))));
    using var forecaster = Forecaster.Train(new SeriesTrainingSettings
    {
        Csv = csv, Column = "y", Hidden = 8, Epochs = 5, Device = "cpu", Checkpoint = Path.Combine(dir, "sine.safetensors"),
    });
    var points = forecaster.Forecast(6);
    if (points.Count != 6 || points.Any(p => !double.IsFinite(p.Value))) throw new Exception("the forecast is not 6 finite values");
    Console.WriteLine("forecast: " + string.Join(", ", points.Select(p => $"{p.Label} {p.Value:F2}")));
    Console.WriteLine("the GpuLstm package works");
    return 0;
}
finally
{
    Directory.Delete(dir, recursive: true);
}
