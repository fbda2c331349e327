using System.Security.Cryptography;
using GpuLstm.Runtime.Checkpoints;
using Xunit;

namespace GpuLstm.Tests;

/// <summary>
/// A directory of good and bad inputs for the bad-input cases: a tiny corpus, a trained checkpoint and
/// damaged copies of it, and a file at the default checkpoint path that no failing command may touch.
/// </summary>
public sealed class BadInputFiles : IDisposable
{
    public string Dir { get; } = Directory.CreateTempSubdirectory("gpulstm-bad-").FullName;
    public const string Tiny = "the cat sat on the mat.\nthe dog sat on the log.\n";

    public BadInputFiles()
    {
        File.WriteAllText(Path.Combine(Dir, "tiny.txt"), Tiny);
        File.WriteAllText(Path.Combine(Dir, "empty.txt"), "");
        File.WriteAllText(Path.Combine(Dir, "short.txt"), "too short");
        File.WriteAllText(Path.Combine(Dir, "same.txt"), new string('a', 40));
        File.WriteAllText(Path.Combine(Dir, "long.txt"), string.Concat(Enumerable.Repeat(Tiny, 70)));
        File.WriteAllBytes(Path.Combine(Dir, "latin1.txt"), new byte[] { 0x63, 0x61, 0x66, 0xE9, 0x0A });
        Directory.CreateDirectory(Path.Combine(Dir, "adir"));
        string good = Path.Combine(Dir, "good.safetensors");
        var r = CliTests.Run(Dir, "train", "--mode", "last", "--corpus", "tiny.txt", "--hidden", "4", "--seq-length", "8", "--epochs", "1",
            "--sample-length", "0", "--checkpoint", good, "--device", "cpu");
        if (r.ExitCode != 0) throw new InvalidOperationException("could not train the fixture's checkpoint: " + r.Stderr);
        // The resume cases need a checkpoint without its training state.
        File.Delete(Path.Combine(Dir, "good.train-state.safetensors"));
        File.WriteAllText(Path.Combine(Dir, "other.txt"), "the QUIZ\n");
        var bytes = File.ReadAllBytes(good);
        File.WriteAllBytes(Path.Combine(Dir, "truncated.safetensors"), bytes[..(bytes.Length * 2 / 3)]);
        File.WriteAllText(Path.Combine(Dir, "garbage.safetensors"), "this is not a checkpoint");
        SafeTensors.Write(Path.Combine(Dir, "peephole.safetensors"),
            new Dictionary<string, string> { ["format"] = Checkpoint.FormatTag, ["cell"] = "peephole" },
            new[] { new TensorEntry("x", new[] { 1 }, new[] { 1f }) });
        // The same tensors with a vocabulary of another size in the metadata.
        var (meta, tensors) = SafeTensors.Read(good);
        var otherVocab = new Dictionary<string, string>(meta) { ["vocab_size"] = "3", ["vocab"] = "[\"a\",\"b\",\"c\"]" };
        SafeTensors.Write(Path.Combine(Dir, "vocab.safetensors"), otherVocab, tensors.Values.ToArray());
        File.WriteAllText(Path.Combine(Dir, "vocab3.json"), "[\"a\",\"b\",\"c\"]");
        File.WriteAllText(Path.Combine(Dir, "gpulstm-model.safetensors"), "a file the failing commands must not touch");
        // Finished runs, with their training states: one that ran all its epochs, one that early stopping ended
        // (no later evaluation can beat the first by more than a min delta of 1000).
        Train("done.safetensors", "--epochs", "1");
        Train("early.safetensors", "--epochs", "5", "--patience", "1", "--min-delta", "1000");
        // A series and a forecaster trained on it.
        File.WriteAllText(Path.Combine(Dir, "series.csv"), "month,value\n" + string.Concat(Enumerable.Range(0, 40).Select(i =>
            $"{2000 + i / 12}-{i % 12 + 1:00},{100 + 10 * Math.Sin(i * Math.PI / 6) + i}\n")));
        var f = CliTests.Run(Dir, "forecast", "train", "--csv", "series.csv", "--column", "value", "--date-column", "month", "--window", "4",
            "--hidden", "4", "--epochs", "2", "--device", "cpu", "--checkpoint", "series.safetensors");
        if (f.ExitCode != 0) throw new InvalidOperationException("could not train the fixture's forecaster: " + f.Stderr);
        // An hourly series with a numeric and a categorical covariate, a forecaster trained on it, and histories
        // for predict: one with a wind direction never seen in training, one too short for the window of 4.
        string Weather(int i, string direction) => $"2014-01-{i / 24 + 1:00} {i % 24:00}:00:00,{50 + 5 * Math.Sin(i / 3.0)},{i % 7},{direction}\n";
        var hours = Enumerable.Range(0, 40).Select(i => Weather(i, i % 3 == 0 ? "N" : "S")).ToList();
        File.WriteAllText(Path.Combine(Dir, "weather.csv"), "date,value,temp,dir\n" + string.Concat(hours));
        File.WriteAllText(Path.Combine(Dir, "weather-new.csv"), "date,value,temp,dir\n" + string.Concat(hours.Take(39)) + Weather(39, "E"));
        File.WriteAllText(Path.Combine(Dir, "weather-short.csv"), "date,value,temp,dir\n" + string.Concat(hours.Take(3)));
        var w = CliTests.Run(Dir, "forecast", "train", "--csv", "weather.csv", "--column", "value", "--date-column", "date", "--covariates", "temp,dir",
            "--window", "4", "--hidden", "4", "--epochs", "1", "--device", "cpu", "--checkpoint", "weather.safetensors");
        if (w.ExitCode != 0) throw new InvalidOperationException("could not train the fixture's covariate forecaster: " + w.Stderr);
        // The same series with temp as a future covariate: predict then needs the rows after the last value.
        var wf = CliTests.Run(Dir, "forecast", "train", "--csv", "weather.csv", "--column", "value", "--date-column", "date", "--future-covariates", "temp",
            "--window", "4", "--hidden", "4", "--epochs", "1", "--device", "cpu", "--checkpoint", "weather-future.safetensors");
        if (wf.ExitCode != 0) throw new InvalidOperationException("could not train the fixture's future-covariate forecaster: " + wf.Stderr);
        // A long-format file of two series of different lengths and starts, a global model trained on it, and files
        // with a series too short for one window and with a row whose series cell is empty.
        string Month(string series, int i) => $"{series},{2000 + i / 12}-{i % 12 + 1:00},{100 + 10 * Math.Sin(i * Math.PI / 6) + i}\n";
        var panel = Enumerable.Range(0, 40).Select(i => Month("north", i)).Concat(Enumerable.Range(5, 30).Select(i => Month("south", i))).ToList();
        File.WriteAllText(Path.Combine(Dir, "panel.csv"), "series,month,value\n" + string.Concat(panel));
        File.WriteAllText(Path.Combine(Dir, "panel-short.csv"), "series,month,value\n" + string.Concat(panel) + string.Concat(Enumerable.Range(0, 5).Select(i => Month("east", i))));
        File.WriteAllText(Path.Combine(Dir, "panel-blank.csv"), "series,month,value\n" + string.Concat(panel) + Month("", 50));
        var p = CliTests.Run(Dir, "forecast", "train", "--csv", "panel.csv", "--column", "value", "--date-column", "month", "--series-column", "series", "--series-embedding",
            "--window", "4", "--hidden", "4", "--epochs", "1", "--device", "cpu", "--checkpoint", "panel.safetensors");
        if (p.ExitCode != 0) throw new InvalidOperationException("could not train the fixture's many-series forecaster: " + p.Stderr);
    }

    private void Train(string checkpoint, params string[] options)
    {
        var r = CliTests.Run(Dir, ["train", "--mode", "last", "--corpus", "tiny.txt", "--hidden", "4", "--seq-length", "8", "--sample-length", "0",
            "--checkpoint", checkpoint, "--metrics", "none", "--plot", "none", "--device", "cpu", .. options]);
        if (r.ExitCode != 0) throw new InvalidOperationException($"could not train the fixture's {checkpoint}: " + r.Stderr);
    }

    public void Dispose() => Directory.Delete(Dir, recursive: true);
}

/// <summary>
/// Every bad input in README's table: one line on stderr that says what is wrong, a non-zero exit code,
/// no stack trace, and the directory exactly as it was (no file created, none changed).
/// </summary>
public sealed class BadInputTests(BadInputFiles files) : IClassFixture<BadInputFiles>
{
    public static TheoryData<string, int, string[]> Cases() => new()
    {
        // train: the corpus
        { "not found", 1, ["train", "--corpus", "missing.txt"] },
        { "is empty", 1, ["train", "--corpus", "empty.txt"] },
        { "the training text has 9 tokens; it needs at least seq_length + 1 = 51", 1, ["train", "--mode", "last", "--corpus", "short.txt"] },
        { "is not valid UTF-8 (bad byte at offset 3)", 1, ["train", "--corpus", "latin1.txt"] },
        { "is a directory", 1, ["train", "--corpus", "adir"] },
        { "1 distinct character; it needs at least 2", 1, ["train", "--mode", "last", "--corpus", "same.txt", "--seq-length", "5"] },
        // train: real-corpus options
        { "--batch: the training text has 9 tokens, too few for 16 streams", 1, ["train", "--corpus", "short.txt", "--seq-length", "4"] },
        { "--dropout must be in [0, 1), got 1", 1, ["train", "--dropout", "1", "--layers", "2"] },
        { "--dropout applies between stacked layers; it needs 2 layers or more", 1, ["train", "--dropout", "0.2"] },
        { "word-level models need an embedding", 1, ["train", "--tokens", "word", "--embedding", "0"] },
        { "--val-fraction must be in [0, 1), got 1", 1, ["train", "--val-fraction", "1"] },
        { "--monitor: early stopping on val_loss needs validation data (a validation fraction above 0)", 1, ["train", "--monitor", "val_loss"] },
        { "--vocab-size must be 0 (no cap) or at least 2, got 1", 1, ["train", "--tokens", "word", "--vocab-size", "1"] },
        { "--lr-decay must be in (0, 1], got 1.5", 1, ["train", "--lr-decay", "1.5"] },
        { "--max-steps must be 0 (no limit) or positive, got -1", 1, ["train", "--max-steps", "-1"] },
        { "the validation part has 2 tokens, fewer than one window of 11", 1, ["train", "--corpus", "tiny.txt", "--seq-length", "10", "--batch", "2"] },
        { "cannot resume: checkpoint 'nothing.safetensors' not found", 1, ["train", "--resume", "--checkpoint", "nothing.safetensors"] },
        { "cannot resume: 'good.train-state.safetensors' not found", 1, ["train", "--resume", "--checkpoint", "good.safetensors"] },
        { "--cell: 'peephole' is not one of " + string.Join(", ", RecurrentCell.All.Select(c => $"'{c.Name}'")), 2, ["train", "--cell", "peephole"] },
        // sample and eval
        { "--top-k must be 0 (off) or positive, got -1", 1, ["sample", "--checkpoint", "good.safetensors", "--top-k", "-1"] },
        { "exceeds the vocabulary of", 1, ["sample", "--checkpoint", "good.safetensors", "--top-k", "1000"] },
        { "which is not in the model's vocabulary", 1, ["eval", "--checkpoint", "good.safetensors", "--text", "other.txt"] },
        { "--last-fraction must be in (0, 1], got 0", 1, ["eval", "--checkpoint", "good.safetensors", "--text", "tiny.txt", "--last-fraction", "0"] },
        { "not found", 1, ["eval", "--checkpoint", "good.safetensors", "--text", "missing.txt"] },
        // train: sizes and hyper-parameters
        { "--hidden must be a positive integer, got 0", 1, ["train", "--hidden", "0"] },
        { "--hidden must be a positive integer, got -3", 1, ["train", "--hidden", "-3"] },
        { "--seq-length must be a positive integer, got 0", 1, ["train", "--seq-length", "0"] },
        { "--batch must be a positive integer, got 0", 1, ["train", "--batch", "0"] },
        { "--epochs must be a positive integer, got 0", 1, ["train", "--epochs", "0"] },
        { "--layers must be a positive integer, got 0", 1, ["train", "--layers", "0"] },
        { "--hidden: the model would have 40,013,900,027 parameters; the limit is 268,435,455", 1, ["train", "--hidden", "100000"] },
        // The batch (capped at long.txt's 1,360 windows) × 2,000 steps is more rows than the kernels' grids and
        // 32-bit indices cover: refused before anything is allocated.
        { "--batch: a sequence of 2,000 × batch 1,360 makes 2,720,000 rows a step; the GPU kernels' grids cover at most 1,048,560 (use a smaller batch or sequence length)", 1, ["train", "--mode", "last", "--corpus", "long.txt", "--hidden", "2048", "--seq-length", "2000", "--batch", "100000", "--device", "cpu"] },
        { "--lr must be a positive number, got 0", 1, ["train", "--lr", "0"] },
        { "--lr must be a finite number, got NaN", 1, ["train", "--lr", "NaN"] },
        { "--patience must be 0 or more, got -1", 1, ["train", "--patience", "-1"] },
        { "--min-delta must be 0 or a positive number, got -0.5", 1, ["train", "--min-delta", "-0.5"] },
        { "--clip must be 0 (off) or a positive number, got -1", 1, ["train", "--clip", "-1"] },
        { "--temperatures must be a positive number, got 0", 1, ["train", "--temperatures", "0.5", "0"] },
        { "--temperatures must be a finite number, got NaN", 1, ["train", "--temperatures", "NaN"] },
        { "--sample-length must be 0 or more, got -1", 1, ["train", "--sample-length", "-1"] },
        { "unknown device 'tpu'; available: auto", 1, ["train", "--device", "tpu"] },
        { "--checkpoint 'adir' is a directory", 1, ["train", "--checkpoint", "adir"] },
        { "--hidden expects a whole number, got 'abc'", 2, ["train", "--hidden", "abc"] },
        // sample: the checkpoint
        { "checkpoint 'missing.safetensors' not found", 1, ["sample", "--checkpoint", "missing.safetensors"] },
        { "is truncated", 1, ["sample", "--checkpoint", "truncated.safetensors"] },
        { "checkpoint 'garbage.safetensors'", 1, ["sample", "--checkpoint", "garbage.safetensors"] },
        { $"holds a 'peephole' model; this build reads {RecurrentCell.NameList} models", 1, ["sample", "--checkpoint", "peephole.safetensors"] },
        { "tensor 'lstm.weight_ih_l0' has shape [16,15], expected [16,3]", 1, ["sample", "--checkpoint", "vocab.safetensors"] },
        { "--checkpoint is required", 2, ["sample"] },
        // sample: the generation settings
        { "'z' (U+007A), which is not in the model's vocabulary", 1, ["sample", "--checkpoint", "good.safetensors", "--prime", "zebra"] },
        { "the prime text is empty", 1, ["sample", "--checkpoint", "good.safetensors", "--prime", ""] },
        { "--temperature must be a positive number, got 0", 1, ["sample", "--checkpoint", "good.safetensors", "--temperature", "0"] },
        { "--temperature must be a positive number, got -1", 1, ["sample", "--checkpoint", "good.safetensors", "--temperature", "-1"] },
        { "--temperature must be a finite number, got NaN", 1, ["sample", "--checkpoint", "good.safetensors", "--temperature", "NaN"] },
        { "--temperature must be a finite number, got Infinity", 1, ["sample", "--checkpoint", "good.safetensors", "--temperature", "Infinity"] },
        { "--length must be 0 or more, got -1", 1, ["sample", "--checkpoint", "good.safetensors", "--length", "-1"] },
        { "--mode: 'bogus' is not one of 'window', 'state'", 2, ["sample", "--checkpoint", "good.safetensors", "--mode", "bogus"] },
        { "unknown device 'tpu'", 1, ["sample", "--checkpoint", "good.safetensors", "--device", "tpu"] },
        // train --init-from: fine-tuning
        { "the vocabulary of checkpoint 'good.safetensors': 'I' (U+0049), 'Q' (U+0051), 'U' (U+0055), 'Z' (U+005A); --extend-vocab adds them", 1, ["train", "--init-from", "good.safetensors", "--corpus", "other.txt", "--mode", "last", "--seq-length", "4"] },
        { "--hidden 8 contradicts checkpoint 'good.safetensors' to fine-tune from, whose model has the hidden size 4", 1, ["train", "--init-from", "good.safetensors", "--hidden", "8"] },
        { "--cell gru contradicts checkpoint 'good.safetensors' to fine-tune from, whose model has the cell lstm", 1, ["train", "--init-from", "good.safetensors", "--cell", "gru"] },
        { "--init-from starts a new run, and --resume continues the saved one; give one or the other", 1, ["train", "--init-from", "good.safetensors", "--resume"] },
        { "--extend-vocab applies only with a checkpoint to fine-tune from", 1, ["train", "--extend-vocab"] },
        { "--init-from: checkpoint 'missing.safetensors' not found", 1, ["train", "--init-from", "missing.safetensors"] },
        { "--init-from: checkpoint 'garbage.safetensors'", 1, ["train", "--init-from", "garbage.safetensors"] },
        { "--init-from is empty", 1, ["train", "--init-from", ""] },
        { "--checkpoint 'good.safetensors' is the same file as --init-from, which this command reads", 1, ["train", "--init-from", "good.safetensors", "--checkpoint", "good.safetensors"] },
        { "--tokens word contradicts checkpoint 'good.safetensors' to fine-tune from, whose model has the tokens char", 1, ["train", "--init-from", "good.safetensors", "--tokens", "word"] },
        { "--embedding 8 contradicts checkpoint 'good.safetensors' to fine-tune from, whose model has the embedding size 0", 1, ["train", "--init-from", "good.safetensors", "--embedding", "8"] },
        // import: a PyTorch state dict
        { "state dict 'good.safetensors' has a head of 15 outputs ('fc.weight' [15,4]), but the vocabulary has 3 symbols", 1, ["import", "--state-dict", "good.safetensors", "--vocab", "vocab3.json", "--out", "m.safetensors"] },
        { "vocabulary file 'tiny.txt' is not a JSON array of strings", 1, ["import", "--state-dict", "good.safetensors", "--vocab", "tiny.txt", "--out", "m.safetensors"] },
        { "vocabulary file 'missing.json' not found", 1, ["import", "--state-dict", "good.safetensors", "--vocab", "missing.json", "--out", "m.safetensors"] },
        { "state dict 'missing.safetensors' not found", 1, ["import", "--state-dict", "missing.safetensors", "--vocab", "vocab3.json", "--out", "m.safetensors"] },
        { "state dict 'garbage.safetensors' declares a", 1, ["import", "--state-dict", "garbage.safetensors", "--vocab", "vocab3.json", "--out", "m.safetensors"] },
        { "state dict 'peephole.safetensors' has no recurrent layer", 1, ["import", "--state-dict", "peephole.safetensors", "--vocab", "vocab3.json", "--out", "m.safetensors"] },
        { "--out 'good.safetensors' is the same file as --state-dict, which this command reads", 1, ["import", "--state-dict", "good.safetensors", "--vocab", "vocab3.json", "--out", "good.safetensors"] },
        { "--out is empty", 1, ["import", "--state-dict", "good.safetensors", "--vocab", "vocab3.json", "--out", ""] },
        { "--out is required", 2, ["import", "--state-dict", "good.safetensors", "--vocab", "vocab3.json"] },
        { "--seq-length must be a positive integer, got 0", 1, ["import", "--state-dict", "good.safetensors", "--vocab", "vocab3.json", "--out", "m.safetensors", "--seq-length", "0"] },
        // sample: samples to keep (--count, --prime-file, --output)
        { "--count must be a positive integer, got 0", 1, ["sample", "--checkpoint", "good.safetensors", "--count", "0"] },
        { "--count draws at most 100,000 samples at once, got 2,000,000", 1, ["sample", "--checkpoint", "good.safetensors", "--count", "2000000"] },
        { "--count expects a whole number, got 'abc'", 2, ["sample", "--checkpoint", "good.safetensors", "--count", "abc"] },
        { "give the prime once: --prime or --prime-file, not both", 1, ["sample", "--checkpoint", "good.safetensors", "--prime", "the", "--prime-file", "tiny.txt"] },
        { "prime file 'missing.txt' not found", 1, ["sample", "--checkpoint", "good.safetensors", "--prime-file", "missing.txt"] },
        { "the prime text is empty", 1, ["sample", "--checkpoint", "good.safetensors", "--prime-file", "empty.txt"] },
        { "prime file 'latin1.txt' is not valid UTF-8 (bad byte at offset 3)", 1, ["sample", "--checkpoint", "good.safetensors", "--prime-file", "latin1.txt"] },
        { "--output 'good.safetensors' is the same file as --checkpoint, which this command reads", 1, ["sample", "--checkpoint", "good.safetensors", "--output", "good.safetensors"] },
        { "--output 'tiny.txt' is the same file as --prime-file, which this command reads", 1, ["sample", "--checkpoint", "good.safetensors", "--prime-file", "tiny.txt", "--output", "tiny.txt"] },
        { "--output 'adir' is a directory", 1, ["sample", "--checkpoint", "good.safetensors", "--output", "adir"] },
        { "--output is an empty path", 1, ["sample", "--checkpoint", "good.safetensors", "--output", ""] },
        { "'z' (U+007A), which is not in the model's vocabulary", 1, ["sample", "--checkpoint", "good.safetensors", "--prime", "zebra", "--output", "s.txt"] },
        // an output that is the same file as an input, or as another output (every spelling: FilePlanCliTests)
        { "--checkpoint 'tiny.txt' is the same file as --corpus, which this command reads", 1, ["train", "--corpus", "tiny.txt", "--checkpoint", "tiny.txt"] },
        { "--metrics 'tiny.txt' is the same file as --corpus", 1, ["train", "--corpus", "tiny.txt", "--metrics", "tiny.txt"] },
        { "--plot './tiny.txt' is the same file as --corpus 'tiny.txt'", 1, ["train", "--corpus", "tiny.txt", "--plot", "./tiny.txt"] },
        { "--checkpoint 'done.safetensors' and --metrics are the same file", 1, ["train", "--checkpoint", "done.safetensors", "--metrics", "done.safetensors"] },
        { "--checkpoint 'series.csv' is the same file as --csv", 1, ["forecast", "train", "--csv", "series.csv", "--column", "value", "--checkpoint", "series.csv"] },
        { "--output 'series.safetensors' is the same file as --checkpoint", 1, ["forecast", "predict", "--checkpoint", "series.safetensors", "--steps", "3", "--output", "series.safetensors"] },
        { "--plot 'series.safetensors' is the same file as --checkpoint", 1, ["forecast", "predict", "--checkpoint", "series.safetensors", "--steps", "3", "--plot", "series.safetensors"] },
        // empty paths and names (an unset shell variable)
        { "--checkpoint is an empty path", 1, ["train", "--checkpoint", ""] },
        { "--corpus is an empty path", 1, ["train", "--corpus", ""] },
        { "--metrics is an empty path", 1, ["train", "--metrics", ""] },
        { "--plot is an empty path (only spaces)", 1, ["train", "--plot", "  "] },
        { "--checkpoint is an empty path", 1, ["sample", "--checkpoint", ""] },
        { "--text is an empty path", 1, ["eval", "--checkpoint", "good.safetensors", "--text", ""] },
        { "--csv is an empty path", 1, ["forecast", "train", "--csv", "", "--column", "value"] },
        { "--checkpoint is an empty path", 1, ["forecast", "train", "--csv", "series.csv", "--column", "value", "--checkpoint", ""] },
        { "--output is an empty path", 1, ["forecast", "predict", "--checkpoint", "series.safetensors", "--steps", "3", "--output", ""] },
        { "--plot is an empty path", 1, ["forecast", "predict", "--checkpoint", "series.safetensors", "--steps", "3", "--plot", ""] },
        { "--column is empty", 1, ["forecast", "train", "--csv", "series.csv", "--column", " "] },
        { "--device is empty", 1, ["train", "--device", ""] },
        // outputs that cannot be written
        { "--checkpoint 'nodir/m.safetensors': the directory 'nodir' does not exist", 1, ["train", "--checkpoint", "nodir/m.safetensors"] },
        { "--metrics 'adir' is a directory", 1, ["train", "--metrics", "adir"] },
        { "--output '/dev/null' is a character device, not a regular file", 1, ["forecast", "predict", "--checkpoint", "series.safetensors", "--steps", "3", "--output", "/dev/null"] },
        { "--plot draws at most 1,000,000 forecast steps", 1, ["forecast", "predict", "--checkpoint", "series.safetensors", "--steps", "2000000000", "--plot", "p.png"] },
        // prediction intervals: quantile levels, a likelihood's needs, sample paths
        { "--quantiles: quantile levels must lie strictly between 0 and 1, got 1.5", 1, ["forecast", "train", "--csv", "series.csv", "--column", "value", "--likelihood", "quantile", "--quantiles", "0.1,0.5,1.5"] },
        { "--quantiles: quantile levels must lie strictly between 0 and 1, got 0", 1, ["forecast", "train", "--csv", "series.csv", "--column", "value", "--likelihood", "quantile", "--quantiles", "0,0.5"] },
        { "--quantiles: quantile levels must be in ascending order without repeats, got 0.9 then 0.5", 1, ["forecast", "train", "--csv", "series.csv", "--column", "value", "--likelihood", "quantile", "--quantiles", "0.9,0.5,0.1"] },
        { "--quantiles: quantile levels must be in ascending order without repeats, got 0.5 then 0.5", 1, ["forecast", "train", "--csv", "series.csv", "--column", "value", "--likelihood", "quantile", "--quantiles", "0.1,0.5,0.5,0.9"] },
        { "--quantiles must include 0.5: the median is the point forecast the test metrics use", 1, ["forecast", "train", "--csv", "series.csv", "--column", "value", "--likelihood", "quantile", "--quantiles", "0.1,0.9"] },
        { "--quantiles must be comma-separated numbers such as 0.1,0.5,0.9; 'x' is not a number", 1, ["forecast", "train", "--csv", "series.csv", "--column", "value", "--likelihood", "quantile", "--quantiles", "0.1,x,0.9"] },
        { "--quantiles: quantile levels need the quantile likelihood (--likelihood quantile)", 1, ["forecast", "train", "--csv", "series.csv", "--column", "value", "--quantiles", "0.1,0.5,0.9"] },
        { "--likelihood: a gaussian head with differencing needs horizon 1", 1, ["forecast", "train", "--csv", "series.csv", "--column", "value", "--likelihood", "gaussian", "--difference", "--horizon", "3"] },
        { "--samples must be a positive integer up to 100,000, got 0", 1, ["forecast", "predict", "--checkpoint", "series.safetensors", "--steps", "3", "--samples", "0"] },
        { "--samples must be a positive integer up to 100,000, got -3", 1, ["forecast", "predict", "--checkpoint", "series.safetensors", "--steps", "3", "--samples", "-3"] },
        { "--samples needs a checkpoint trained with --likelihood gaussian or quantile; this one forecasts points", 1, ["forecast", "predict", "--checkpoint", "series.safetensors", "--steps", "3", "--samples", "5"] },
        // numbers that are not finite, in every command
        { "--clip must be a finite number, got Infinity", 1, ["train", "--clip", "Infinity"] },
        { "--min-delta must be a finite number, got Infinity", 1, ["train", "--min-delta", "Infinity"] },
        { "--lr must be a finite number, got -Infinity", 1, ["train", "--lr", "-Infinity"] },
        { "--dropout must be a finite number, got NaN", 1, ["train", "--dropout", "NaN", "--layers", "2"] },
        { "--val-fraction must be a finite number, got NaN", 1, ["train", "--val-fraction", "NaN"] },
        { "--lr-decay must be a finite number, got Infinity", 1, ["train", "--lr-decay", "Infinity"] },
        { "--last-fraction must be a finite number, got NaN", 1, ["eval", "--checkpoint", "good.safetensors", "--text", "tiny.txt", "--last-fraction", "NaN"] },
        { "--lr must be a finite number, got Infinity", 1, ["forecast", "train", "--csv", "series.csv", "--column", "value", "--lr", "Infinity"] },
        { "--clip must be a finite number, got NaN", 1, ["forecast", "train", "--csv", "series.csv", "--column", "value", "--clip", "NaN"] },
        { "--test-fraction must be a finite number, got NaN", 1, ["forecast", "train", "--csv", "series.csv", "--column", "value", "--test-fraction", "NaN"] },
        // forecast backtest: the plan must fit the series (40 values), and --output must not be the input
        { "need (origins − 1) × stride + horizon = 41 values after the first origin and some before it, but the series has only 40", 1, ["forecast", "backtest", "--csv", "series.csv", "--column", "value", "--origins", "20", "--stride", "2", "--horizon", "3"] },
        { "--origins must be a positive integer, got 0", 1, ["forecast", "backtest", "--csv", "series.csv", "--column", "value", "--origins", "0"] },
        { "--stride must be a positive integer, got 0", 1, ["forecast", "backtest", "--csv", "series.csv", "--column", "value", "--stride", "0"] },
        { "--horizon must be a positive integer, got 0", 1, ["forecast", "backtest", "--csv", "series.csv", "--column", "value", "--horizon", "0"] },
        { "--output 'series.csv' is the same file as --csv", 1, ["forecast", "backtest", "--csv", "series.csv", "--column", "value", "--output", "series.csv"] },
        // forecast backtest of a probabilistic head: its levels, sample paths, and the model's horizon with differencing
        { "--samples needs --likelihood gaussian or quantile; a point model has no intervals to sample", 1, ["forecast", "backtest", "--csv", "series.csv", "--column", "value", "--samples", "50"] },
        { "--samples must be a positive integer up to 100,000, got 0", 1, ["forecast", "backtest", "--csv", "series.csv", "--column", "value", "--likelihood", "quantile", "--samples", "0"] },
        { "--quantiles: quantile levels must be in ascending order without repeats, got 0.9 then 0.5", 1, ["forecast", "backtest", "--csv", "series.csv", "--column", "value", "--likelihood", "quantile", "--quantiles", "0.9,0.5,0.1"] },
        { "--quantiles: quantile levels need the quantile likelihood (--likelihood quantile)", 1, ["forecast", "backtest", "--csv", "series.csv", "--column", "value", "--likelihood", "gaussian", "--quantiles", "0.1,0.5,0.9"] },
        { "--likelihood gaussian with --difference needs --model-horizon 1", 1, ["forecast", "backtest", "--csv", "series.csv", "--column", "value", "--likelihood", "gaussian", "--difference", "--model-horizon", "3"] },
        // forecast with covariates: the columns must exist, predict needs their history and no more steps than they allow
        { "series file 'weather.csv' has no covariate column 'wind'", 1, ["forecast", "train", "--csv", "weather.csv", "--column", "value", "--covariates", "temp,wind"] },
        { "the covariate column 'value' (column 2) is also the value column", 1, ["forecast", "train", "--csv", "weather.csv", "--column", "value", "--covariates", "value"] },
        { "--covariates has an empty column name", 1, ["forecast", "train", "--csv", "weather.csv", "--column", "value", "--covariates", "temp,,dir"] },
        { "--calendar needs dates: give the date column with --date-column", 1, ["forecast", "train", "--csv", "series.csv", "--column", "value", "--calendar"] },
        { "covariate 'dir' at row 2014-01-02 15:00:00: the category \"E\" was not seen in training (seen: N, S)", 1, ["forecast", "predict", "--checkpoint", "weather.safetensors", "--steps", "1", "--csv", "weather-new.csv"] },
        { "series file 'weather-short.csv' has 3 rows, too few for the model's window of 4", 1, ["forecast", "predict", "--checkpoint", "weather.safetensors", "--steps", "1", "--csv", "weather-short.csv"] },
        { "whose future values are unknown, so it forecasts at most its horizon (1) past the end; 2 steps were asked for", 1, ["forecast", "predict", "--checkpoint", "weather.safetensors", "--steps", "2", "--csv", "weather.csv"] },
        { "the model reads covariates (temp, dir), which the checkpoint does not keep: give the history with --csv FILE", 1, ["forecast", "predict", "--checkpoint", "weather.safetensors", "--steps", "1"] },
        // many series in one model: the series column, each series long enough, and predict's --series
        { "series file 'panel-short.csv' has 5 rows in series 'east' in column 'value': the train part has 3 values", 1, ["forecast", "train", "--csv", "panel-short.csv", "--column", "value", "--series-column", "series"] },
        { "line 72, column 'series' (column 1): the series cell is empty", 1, ["forecast", "train", "--csv", "panel-blank.csv", "--column", "value", "--series-column", "series"] },
        { "has no series column 'region'", 1, ["forecast", "train", "--csv", "panel.csv", "--column", "value", "--series-column", "region"] },
        { "--series-embedding needs --series-column", 1, ["forecast", "train", "--csv", "series.csv", "--column", "value", "--series-embedding"] },
        { "series file 'panel.csv' has no covariate column 'promo'", 1, ["forecast", "train", "--csv", "panel.csv", "--column", "value", "--series-column", "series", "--future-covariates", "promo"] },
        { "series 'east': 12 origins every 1 steps with horizon 6 need (origins − 1) × stride + horizon = 17 values after the first origin", 1, ["forecast", "backtest", "--csv", "panel-short.csv", "--column", "value", "--series-column", "series"] },
        { "the model knows no series 'west'; it was trained on 'north', 'south'", 1, ["forecast", "predict", "--checkpoint", "panel.safetensors", "--steps", "1", "--series", "west"] },
        { "--plot draws one series, and 2 would be forecast; name one with --series", 1, ["forecast", "predict", "--checkpoint", "panel.safetensors", "--steps", "1", "--plot", "panel.png"] },
        { "--series needs a checkpoint trained with --series-column; this one forecasts a single series", 1, ["forecast", "predict", "--checkpoint", "series.safetensors", "--steps", "1", "--series", "north"] },
        // a backtest with past covariates forecasts directly; the AR baseline's order must fit the training part
        { "a backtest with --covariates needs --model-horizon equal to --horizon (3), got 1", 1, ["forecast", "backtest", "--csv", "weather.csv", "--column", "value", "--covariates", "temp,dir", "--horizon", "3"] },
        // future covariates: named columns, predict needs the rows after the last value; not yet with intervals or backtests
        { "--future-covariates has an empty column name", 1, ["forecast", "train", "--csv", "weather.csv", "--column", "value", "--future-covariates", "temp,,dir"] },
        { "the covariate column 'temp' (column 3) is given twice", 1, ["forecast", "train", "--csv", "weather.csv", "--column", "value", "--covariates", "temp", "--future-covariates", "temp"] },
        { "missing future covariates: the forecast reads temp in the row after the last value, but --csv gives 0; the first missing row is 2014-01-02 16:00:00", 1, ["forecast", "predict", "--checkpoint", "weather-future.safetensors", "--steps", "1", "--csv", "weather.csv"] },
        { "a backtest with --future-covariates needs --horizon (3) to be a multiple of --model-horizon (2)", 1, ["forecast", "backtest", "--csv", "weather.csv", "--column", "value", "--future-covariates", "temp", "--horizon", "3", "--model-horizon", "2"] },
        { "--ar-order must be a positive integer, got 0", 1, ["forecast", "train", "--csv", "series.csv", "--column", "value", "--ar-order", "0"] },
        { "the AR(30) baseline needs at least 61 values to be fitted on, and there are 34; give a smaller --ar-order", 1, ["forecast", "train", "--csv", "series.csv", "--column", "value", "--ar-order", "30"] },
        { "the AR(20) base needs at least 41 values before the test part to be fitted on, and there are 34", 1, ["forecast", "train", "--csv", "series.csv", "--column", "value", "--ar-base", "--window", "20"] },
        { "--output 'panel.csv' is the same file as --csv", 1, ["forecast", "backtest", "--csv", "panel.csv", "--column", "value", "--series-column", "series", "--output", "panel.csv"] },
        { "--max-seconds must be a finite number, got NaN", 1, ["bench", "--max-seconds", "NaN"] },
        // runs that have finished
        { "cannot resume: the run finished at step 3 after 1 epoch; to train on, give --epochs above 1", 1, ["train", "--resume", "--checkpoint", "done.safetensors", "--epochs", "1"] },
        { "cannot resume: the run finished at step 3, the --max-steps limit; to train on, give --max-steps above 3", 1, ["train", "--resume", "--checkpoint", "done.safetensors", "--max-steps", "3"] },
        { "cannot resume: the run stopped early at step 6 (epoch 2) because the monitored loss stopped improving; there is nothing to continue, and nothing was changed", 1, ["train", "--resume", "--checkpoint", "early.safetensors"] },
        // more options
        { "--lr-decay-after must be 1 or more, got 0", 1, ["train", "--lr-decay-after", "0"] },
        { "--seed expects a whole number, 0 or more, got '-1'", 2, ["train", "--seed", "-1"] },
        { "--sample-reps must be a positive integer, got 0", 1, ["bench", "--sample-reps", "0"] },
        // bench and the command line itself
        { "unknown config 'huge'", 1, ["bench", "--config", "huge"] },
        { "--steps must be a positive integer, got 0", 1, ["bench", "--config", "seed", "--steps", "0"] },
        // export
        { "--output 'good.safetensors' is the same file as --checkpoint, which this command reads", 1, ["export", "--checkpoint", "good.safetensors", "--output", "good.safetensors"] },
        { "checkpoint 'missing.safetensors' not found", 1, ["export", "--checkpoint", "missing.safetensors"] },
        { "checkpoint 'garbage.safetensors' declares a", 1, ["export", "--checkpoint", "garbage.safetensors"] },
        { $"holds a 'peephole' model; this build reads {RecurrentCell.NameList} models", 1, ["export", "--checkpoint", "peephole.safetensors"] },
        { "--format: 'tflite' is not one of 'onnx'", 2, ["export", "--checkpoint", "good.safetensors", "--format", "tflite"] },
        { "--output 'adir' is a directory", 1, ["export", "--checkpoint", "good.safetensors", "--output", "adir"] },
        { "--output 'nodir/m.onnx': the directory 'nodir' does not exist", 1, ["export", "--checkpoint", "good.safetensors", "--output", "nodir/m.onnx"] },
        { "--checkpoint is an empty path", 1, ["export", "--checkpoint", ""] },
        { "--checkpoint is required", 2, ["export"] },
        { "--output is required when --checkpoint is standard input ('-')", 1, ["export", "--checkpoint", "-"] },
        { "unknown command 'trian'; the commands are train, sample, eval, import, forecast, export, devices, bench", 2, ["trian"] },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void IsOneClearLineAndHarmsNothing(string expected, int exitCode, string[] args)
    {
        var before = Snapshot(files.Dir);
        var r = CliTests.Run(files.Dir, args);
        Assert.Equal(exitCode, r.ExitCode);
        var lines = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, "expected one line on stderr, got:\n" + r.Stderr);
        Assert.StartsWith("gpulstm: error: ", lines[0]);
        Assert.Contains(expected, lines[0]);
        Assert.DoesNotContain("   at ", r.Stdout + r.Stderr);
        Assert.Equal(before, Snapshot(files.Dir));
    }

    /// <summary>Every file below the directory with a hash of its bytes.</summary>
    private static string Snapshot(string dir) => DirectorySnapshot.Of(dir);

    /// <summary>README's table is these cases: each row's command is a case here, with its exit code, and shows the case's message.</summary>
    [Fact]
    public void TheReadmeTableShowsEveryCaseAsItIs()
    {
        string readme = File.ReadAllText(Path.Combine(RepositoryRoot(), "README.md"));
        var rows = System.Text.RegularExpressions.Regex.Matches(readme, @"^\| `gpulstm(?<args>[^`]*)`(?: \([^)]*\))? \| (?<exit>\d+) \| (?<stderr>.*) \|$",
            System.Text.RegularExpressions.RegexOptions.Multiline)
            .Select(m => (Args: string.Join('\u0001', ShellWords(m.Groups["args"].Value)), Exit: int.Parse(m.Groups["exit"].Value, System.Globalization.CultureInfo.InvariantCulture),
                Stderr: m.Groups["stderr"].Value.Replace("\\|", "|", StringComparison.Ordinal)))
            .ToList();
        Assert.True(rows.Count >= Cases().Count(), $"README has {rows.Count} rows for {Cases().Count()} cases");
        foreach (var row in Cases())
        {
            var (expected, exitCode, args) = ((string)row[0], (int)row[1], (string[])row[2]);
            var match = rows.Where(r => r.Args == string.Join('\u0001', args)).ToList();
            Assert.True(match.Count > 0, "README's table lacks: gpulstm " + string.Join(' ', args));
            Assert.Contains(match, r => r.Exit == exitCode && r.Stderr.Contains(expected, StringComparison.Ordinal));
        }
    }

    /// <summary>Words of a command line as sh splits them (single quotes only, which is all the table uses).</summary>
    private static List<string> ShellWords(string line)
    {
        var words = new List<string>();
        var word = new System.Text.StringBuilder();
        bool inWord = false, quoted = false;
        foreach (char c in line)
        {
            if (quoted) { if (c == '\'') quoted = false; else word.Append(c); }
            else if (c == '\'') { quoted = true; inWord = true; }
            else if (c == ' ') { if (inWord) words.Add(word.ToString()); word.Clear(); inWord = false; }
            else { word.Append(c); inWord = true; }
        }
        if (inWord) words.Add(word.ToString());
        return words;
    }

    public static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "GpuLstm.sln"))) return dir.FullName;
        throw new InvalidOperationException("GpuLstm.sln not found above " + AppContext.BaseDirectory);
    }
}
