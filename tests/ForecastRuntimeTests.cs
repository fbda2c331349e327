using GpuLstm.Runtime;
using GpuLstm.Runtime.Checkpoints;
using GpuLstm.Runtime.Models;
using GpuLstm.Runtime.Series;
using GpuLstm.Runtime.Training;
using Xunit;

namespace GpuLstm.Tests;

/// <summary>Recursive forecasting, differencing, future labels, and series checkpoints below the CLI.</summary>
[Collection(DeviceCollection.Name)]
public sealed class ForecastRuntimeTests(TestDevices devices) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gpulstm-forecast-rt-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void RecursiveForecastFeedsEachPredictedBlockBackAsInput()
    {
        var seen = new List<float[]>();
        // Horizon 3: each call answers (last input + 1, + 2, + 3), so the series keeps counting up.
        var result = SeriesForecast.Recursive(new double[] { 9, 9, 1, 2, 3, 4 }, window: 4, horizon: 3, steps: 7, (input, output) =>
        {
            seen.Add((float[])input.Clone());
            for (int j = 0; j < 3; j++) output[j] = input[^1] + j + 1;
        });
        Assert.Equal(new double[] { 5, 6, 7, 8, 9, 10, 11 }, result);
        Assert.Equal(3, seen.Count);
        Assert.Equal(new float[] { 1, 2, 3, 4 }, seen[0]);
        Assert.Equal(new float[] { 4, 5, 6, 7 }, seen[1]);   // the first block is the next input's tail
        Assert.Equal(new float[] { 7, 8, 9, 10 }, seen[2]);
        Assert.Throws<GpuLstmException>(() => SeriesForecast.Recursive(new double[] { 1, 2 }, 4, 1, 1, (_, _) => { }));
        Assert.Throws<GpuLstmException>(() => SeriesForecast.Recursive(new double[] { 1, 2, 3, 4 }, 4, 1, 0, (_, _) => { }));
    }

    [Fact]
    public void DifferencedForecastsIntegrateFromTheLastKnownValue()
    {
        var values = new double[] { 10, 12, 15, 19, 24, 30, 37, 45, 54, 64 };
        var problem = new SeriesProblem(values, difference: true, SeriesScalerKind.ZScore, window: 3, horizon: 2, 0, 0.3);
        var ends = problem.Windows.Samples(SeriesPart.Test);
        Assert.Equal(new[] { 6, 7 }, ends);                    // sample 7 targets d[7], d[8] = y[8]−y[7], y[9]−y[8]
        Assert.Equal(new[] { 7, 8 }, problem.OriginalEnds(ends));
        Assert.Equal(new double[] { 45, 54, 54, 64 }, problem.OriginalTargets(ends));
        // Perfect scaled differences integrate back to the actual values, each sample from its own last known value.
        var scaled = new[] { 6, 7, 7, 8 }.Select(i => (float)problem.Scaled[i]).ToArray();
        var back = problem.ToOriginal(ends, scaled);
        Assert.Equal(new double[] { 45, 54, 54, 64 }, back.Select(x => Math.Round(x, 3)));
    }

    [Fact]
    public void FutureLabelsContinueRegularDatesInTheirOwnFormat()
    {
        var months = Enumerable.Range(0, 5).Select(i => new DateTime(2000, 10, 1, 0, 0, 0, DateTimeKind.Utc).AddMonths(i)).ToArray();
        Assert.Equal(new[] { "2001-03", "2001-04" }, SeriesForecast.FutureLabels(months, "2001-02", 2));
        var days = new[] { 1, 2, 3, 5, 6, 7 }.Select(d => new DateTime(1990, 12, 20, 0, 0, 0, DateTimeKind.Utc).AddDays(d)).ToArray();
        Assert.Equal(new[] { "1990-12-28", "1990-12-29" }, SeriesForecast.FutureLabels(days, "1990-12-27", 2));
        Assert.Equal(new[] { "+1", "+2", "+3" }, SeriesForecast.FutureLabels(null, "17", 3));
    }

    private static SeriesModelInfo Info(int count) => new(
        new SeriesScaler(SeriesScalerKind.MinMax, 0.1, 3.3), false, "Value", "Month", 12,
        Enumerable.Range(0, count).Select(i => 0.1 + i / 3.0).ToArray(),
        Enumerable.Range(0, count).Select(i => $"l{i}").ToArray(),
        Enumerable.Range(0, count).Select(i => new DateTime(2000, 1, 1, 0, 0, 0, DateTimeKind.Utc).AddMonths(i)).ToArray());

    /// <summary>The covariate spec (columns, kinds, scalers, categories, calendar) survives a checkpoint bit for bit, and sizes the input.</summary>
    [Fact]
    public void CovariateSpecRoundTripsThroughTheCheckpoint()
    {
        var covariates = new SeriesCovariates(
        [
            new CovariateSpec("Temp", CovariateKind.Numeric, new SeriesScaler(SeriesScalerKind.ZScore, -1.25, 0.1 + 1.0 / 3), []),
            new CovariateSpec("Wnd_dir", CovariateKind.Categorical, null, ["NE", "NW", "SE", "cv"]),
        ], calendar: true);
        var config = new SeriesModelConfig(3, 4, 2, 1 + covariates.Width);
        using var model = new SeriesModel(devices.Host, config, 2);
        model.InitializeKerasDefaults(7);
        string path = Path.Combine(_dir, "cov.safetensors");
        SeriesCheckpoint.Save(path, model, Info(10) with { Covariates = covariates });

        var loaded = SeriesCheckpoint.Load(path);
        Assert.Equal(1 + 1 + 4 + 6, loaded.Config.Features);
        var spec = loaded.Info.Covariates;
        Assert.True(spec.Calendar);
        Assert.Equal(["Temp", "Wnd_dir"], spec.Columns.Select(c => c.Name));
        Assert.Equal([CovariateKind.Numeric, CovariateKind.Categorical], spec.Columns.Select(c => c.Kind));
        Assert.Equal((SeriesScalerKind.ZScore, -1.25, 0.1 + 1.0 / 3), (spec.Columns[0].Scaler!.Kind, spec.Columns[0].Scaler!.Offset, spec.Columns[0].Scaler!.Scale));
        Assert.Equal(["NE", "NW", "SE", "cv"], spec.Columns[1].Categories);

        // A spec that disagrees with the model's input width is refused, not silently misread.
        var (meta, tensors) = SafeTensors.Read(path);
        var narrower = new Dictionary<string, string>(meta) { ["covariates"] = meta["covariates"].Replace(",\"cv\"", "", StringComparison.Ordinal) };
        string bad = Path.Combine(_dir, "bad-cov.safetensors");
        SafeTensors.Write(bad, narrower, tensors.Values.ToArray());
        var e = Assert.Throws<GpuLstmException>(() => SeriesCheckpoint.Load(bad));
        Assert.Contains("has 12 features per step, but its covariate spec gives the target and 10", e.Message);
    }

    [Theory]
    [InlineData(1, false, 1)]
    [InlineData(2, true, 3)]
    public void SaveThenLoadGivesIdenticalForecasts(int layers, bool bidirectional, int horizon)
    {
        var config = new SeriesModelConfig(5, 6, horizon, 1, layers, bidirectional);
        using var model = new SeriesModel(devices.Host, config, 4);
        model.InitializeKerasDefaults((ulong)TestData.FreshSeed());
        var info = Info(30);
        string path = Path.Combine(_dir, "m.safetensors");
        SeriesCheckpoint.Save(path, model, info, new Dictionary<string, string> { ["test_rmse"] = "1.5" });

        var raw = SafeTensors.Read(path).Tensors;
        Assert.Equal(new[] { 4 * 5, 1 }, raw["lstm.weight_ih_l0"].Shape);
        if (bidirectional)
        {
            Assert.Equal(new[] { 4 * 5, 10 }, raw["lstm.weight_ih_l1_reverse"].Shape);
            Assert.Equal(new[] { horizon, 10 }, raw["fc.weight"].Shape);
        }
        Assert.All(raw.Where(t => t.Key.StartsWith("lstm.bias_hh", StringComparison.Ordinal)), t => Assert.All(t.Value.Data, x => Assert.Equal(0f, x)));

        var loaded = SeriesCheckpoint.Load(path);
        Assert.Equal(config, loaded.Config);
        Assert.Equal(info.Values, loaded.Info.Values);           // bit for bit ("R" round trip)
        Assert.Equal(info.Labels, loaded.Info.Labels);
        Assert.Equal(info.Dates, loaded.Info.Dates);
        Assert.Equal((info.Scaler.Kind, info.Scaler.Offset, info.Scaler.Scale), (loaded.Info.Scaler.Kind, loaded.Info.Scaler.Offset, loaded.Info.Scaler.Scale));
        Assert.Equal((12, "Value", "Month", false), (loaded.Info.Season, loaded.Info.Column, loaded.Info.DateColumn, loaded.Info.Difference));
        Assert.Equal("1.5", loaded.Metadata["test_rmse"]);
        using var copy = loaded.CreateModel(devices.Host, 1);
        Assert.Equal(model.Parameters.GetValues(), copy.Parameters.GetValues());
        var a = SeriesForecast.ForecastAhead(model, info.Values, false, info.Scaler, 7);
        var b = SeriesForecast.ForecastAhead(copy, loaded.Info.Values, false, loaded.Info.Scaler, 7);
        Assert.Equal(a, b);
    }

    [Fact]
    public void DamagedCheckpointsGiveOneLineErrors()
    {
        using var model = new SeriesModel(devices.Host, new SeriesModelConfig(3, 4, 2), 2);
        model.InitializeKerasDefaults(1);
        string path = Path.Combine(_dir, "m.safetensors");
        SeriesCheckpoint.Save(path, model, Info(10));
        var (meta, tensors) = SafeTensors.Read(path);

        string Rewrite(string name, IReadOnlyDictionary<string, string> m, IEnumerable<TensorEntry> t)
        {
            string p = Path.Combine(_dir, name);
            SafeTensors.Write(p, m, t.ToList());
            return p;
        }
        void Expect(string path, string fragment)
        {
            var e = Assert.Throws<GpuLstmException>(() => SeriesCheckpoint.Load(path));
            Assert.Contains(fragment, e.Message);
            Assert.DoesNotContain('\n', e.Message);
        }
        Expect(Rewrite("missing.safetensors", meta, tensors.Values.Where(t => t.Name != "fc.bias")), "has no tensor 'fc.bias'");
        Expect(Rewrite("nan.safetensors", meta, tensors.Values.Select(t => t.Name == "lstm.weight_hh_l0" ? t with { Data = t.Data.Select((x, i) => i == 3 ? float.NaN : x).ToArray() } : t)),
            "tensor 'lstm.weight_hh_l0' contains NaN");
        Expect(Rewrite("shape.safetensors", meta, tensors.Values.Select(t => t.Name == "fc.weight" ? t with { Shape = new[] { 3, 2 } } : t)),
            "tensor 'fc.weight' has shape [3,2], expected [2,3]");
        var noScaler = meta.Where(p => p.Key != "scaler.b").ToDictionary(p => p.Key, p => p.Value);
        Expect(Rewrite("scaler.safetensors", noScaler, tensors.Values), "scaler.b");
        var badValues = new Dictionary<string, string>(meta) { ["values"] = "[1, \"x\"]" };
        Expect(Rewrite("values.safetensors", badValues, tensors.Values), "'values'");
        Expect(Path.Combine(_dir, "absent.safetensors"), "not found");
        File.WriteAllBytes(Path.Combine(_dir, "cut.safetensors"), File.ReadAllBytes(path)[..20]);
        Expect(Path.Combine(_dir, "cut.safetensors"), "truncated");
    }

    /// <summary>The one trainer on a series task: early stopping on the validation MSE, the best weights restored, the LSTM ahead of persistence.</summary>
    [Fact]
    public void TrainingBeatsPersistenceOnANoisySineAndStopsEarly()
    {
        var rng = new Random(5);
        var values = Enumerable.Range(0, 240).Select(i => Math.Sin(2 * Math.PI * i / 12) + 0.05 * rng.NextDouble()).ToArray();
        var problem = new SeriesProblem(values, false, SeriesScalerKind.MinMax, 12, 1, 0.15, 0.15);
        using var model = new SeriesModel(devices.Host, new SeriesModelConfig(8, 12, 1), 16);
        model.InitializeKerasDefaults(42);
        using var adam = new AdamOptimizer(model, new AdamOptions(1e-2));
        var trainer = new Trainer(new SeriesTask(model, problem, 16, 42), adam, new EarlyStoppingOptions(MonitoredLoss.ValLoss, 10, 0, true), new TrainOptions(150, 42),
            () => SeriesForecast.Evaluate(model, problem, SeriesPart.Validation));
        var epochs = new List<EvalReport>();
        trainer.Evaluated += epochs.Add;
        var result = trainer.Train();
        Assert.Equal(TrainEnd.EarlyStopped, result.End);
        Assert.Equal(result.EpochsRun, epochs.Count);
        Assert.All(epochs, e => Assert.NotNull(e.ValLoss));
        var ends = problem.Windows.Samples(SeriesPart.Test);
        var lstm = ForecastMetrics.Compute(problem.OriginalTargets(ends), problem.ToOriginal(ends, SeriesForecast.Predict(model, problem, ends)));
        var persistence = ForecastMetrics.Compute(problem.OriginalTargets(ends), SeriesBaselines.Persistence(values, problem.OriginalEnds(ends), 1));
        Assert.True(lstm.Rmse < persistence.Rmse, $"LSTM {lstm.Rmse} vs persistence {persistence.Rmse}");
        // With restore-best the weights are those of the best epoch: the validation loss equals the best seen.
        Assert.True(result.RestoredBestWeights);
        Assert.Equal(result.BestLoss, SeriesForecast.Evaluate(model, problem, SeriesPart.Validation), 6);
    }

    [Fact]
    public void CancellationStopsAtAStepBoundary()
    {
        var values = Enumerable.Range(0, 60).Select(i => Math.Sin(i / 3.0)).ToArray();
        var problem = new SeriesProblem(values, false, SeriesScalerKind.MinMax, 6, 1, 0.15, 0.15);
        using var model = new SeriesModel(devices.Host, new SeriesModelConfig(3, 6, 1), 4);
        model.InitializeKerasDefaults(1);
        using var adam = new AdamOptimizer(model, new AdamOptions());
        using var cts = new CancellationTokenSource();
        var trainer = new Trainer(new SeriesTask(model, problem, 4, 1), adam, new EarlyStoppingOptions(MonitoredLoss.Loss, 1000), new TrainOptions(1000, 1));
        trainer.Evaluated += e => { if (e.Epoch == 2) cts.Cancel(); };
        var result = trainer.Train(cts.Token);
        Assert.Equal(TrainEnd.Interrupted, result.End);
        Assert.Equal(3, trainer.CurrentState!.Epoch); // three whole epochs; the fourth never started a step
    }

    /// <summary>The trainer checks the gradient norm of series steps too: a finite loss with a NaN gradient never reaches the weights.</summary>
    [Fact]
    public void ANanGradientWithAFiniteLossStopsBeforeAdam()
    {
        var values = Enumerable.Range(0, 60).Select(i => Math.Sin(i / 3.0)).ToArray();
        var problem = new SeriesProblem(values, false, SeriesScalerKind.MinMax, 6, 1, 0.15, 0.15);
        using var model = new SeriesModel(devices.Host, new SeriesModelConfig(3, 6, 1), 4);
        model.InitializeKerasDefaults(1);
        // A step whose loss is finite but whose gradient holds a NaN (SeriesTrainer used to check only the loss).
        using var adam = new AdamOptimizer(model, new AdamOptions());
        var before = model.Parameters.GetValues();
        var trainer = new Trainer(new PoisonedGradients(new SeriesTask(model, problem, 4, 1), model), adam, new EarlyStoppingOptions(), new TrainOptions(5, 1));
        var result = trainer.Train();
        Assert.Equal(TrainEnd.Diverged, result.End);
        Assert.Contains("the gradient norm is NaN", result.DivergedWhat);
        Assert.Equal(before, model.Parameters.GetValues());
    }

    /// <summary>A series task whose steps report their real, finite loss but leave a NaN among the gradients.</summary>
    private sealed class PoisonedGradients(ITrainingTask inner, SeriesModel model) : ITrainingTask
    {
        public ITrainableModel Model => inner.Model;
        public int BatchesPerEpoch => inner.BatchesPerEpoch;
        public bool CarriesState => inner.CarriesState;
        public void BeginEpoch(int epoch) => inner.BeginEpoch(epoch);
        public StepWork Step(int index, bool fromCarriedState, uint dropoutKey)
        {
            var loss = inner.Step(index, fromCarriedState, dropoutKey);
            model.Parameters.Grads.SubView(0, 1).CopyFromCPU(new[] { float.NaN });
            return loss;
        }
        public void CarryState() => inner.CarryState();
        public int StateLength => inner.StateLength;
        public void ReadState(Span<float> destination) => inner.ReadState(destination);
        public void WriteState(ReadOnlySpan<float> source) => inner.WriteState(source);
    }
}
