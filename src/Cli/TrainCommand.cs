using System.CommandLine;
using System.Globalization;
using GpuLstm.Runtime;
using GpuLstm.Runtime.Files;
using GpuLstm.Runtime.Models.Cells;
using GpuLstm.Runtime.Sampling;
using GpuLstm.Runtime.Training;

namespace GpuLstm.Cli;

/// <summary>
/// `gpulstm train`: parses its options into <see cref="TextTrainingSettings"/>, runs a <see cref="TextTraining"/>,
/// and prints. With no options, the Keras notebook's experiment (mode "last"). With --corpus, char-rnn's
/// training by default (mode "tbptt"): B contiguous streams, targets at every position, state carried
/// across batches, a validation tail, clipping, periodic resumable checkpoints.
/// </summary>
internal static class TrainCommand
{
    private static readonly TextTrainingSettings Defaults = new();

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    /// <summary>The shape of the checkpoint to fine-tune from; its problems name the option.</summary>
    private static Runtime.Checkpoints.LoadedCheckpoint LoadInitFrom(string initPath)
    {
        try { return Runtime.Checkpoints.Checkpoint.Load(initPath); }
        catch (GpuLstmException e) { throw new GpuLstmException($"--init-from: {e.Message}", e); }
    }

    public static Command Create()
    {
        var corpus = new Option<string?>("--corpus") { Description = "UTF-8 text file to train on ('-': standard input; default: the notebook's 5 lines of \"The Road Not Taken\", embedded)" };
        var mode = new Option<string?>("--mode") { Description = "last: shuffled windows, predict the token after each (the notebook; default without --corpus). tbptt: B contiguous streams, predict every position, carry the state across batches (char-rnn; default with --corpus)" };
        mode.AcceptOnlyFromAmong("last", "tbptt");
        var tokens = new Option<string>("--tokens") { Description = "char or word", DefaultValueFactory = _ => "char" };
        tokens.AcceptOnlyFromAmong("char", "word");
        var vocabSize = new Option<int>("--vocab-size") { Description = "word level: keep the N−1 most frequent words plus <unk> (0: all)", DefaultValueFactory = _ => Defaults.VocabSize };
        var cell = CliOptions.Cell();
        var hidden = new Option<int>("--hidden") { Description = "hidden size", DefaultValueFactory = _ => Defaults.Hidden };
        var layers = new Option<int>("--layers") { Description = "stacked recurrent layers", DefaultValueFactory = _ => Defaults.Layers };
        var embedding = new Option<int?>("--embedding") { Description = "embedding size in front of the recurrent layers (0: one-hot input; default 0 for chars, 128 for words)" };
        var dropout = new Option<float>("--dropout") { Description = "dropout between stacked layers while training", DefaultValueFactory = _ => Defaults.Dropout };
        var seqLength = new Option<int>("--seq-length") { Description = "window length (tokens per batch row and step of truncated BPTT)", DefaultValueFactory = _ => Defaults.SeqLength };
        var batch = new Option<int>("--batch") { Description = "batch size (streams in tbptt mode)", DefaultValueFactory = _ => Defaults.BatchSize };
        var epochs = new Option<int>("--epochs") { Description = "maximum number of epochs", DefaultValueFactory = _ => Defaults.Epochs };
        var maxSteps = new Option<long>("--max-steps") { Description = "stop after this many training steps in all (0: no limit)", DefaultValueFactory = _ => Defaults.MaxSteps };
        var lr = new Option<double?>("--lr") { Description = "Adam learning rate (default 1e-3 in last mode, 2e-3 in tbptt mode)" };
        var lrDecay = new Option<double>("--lr-decay") { Description = "multiply the learning rate by this after each epoch from --lr-decay-after on (1: off)", DefaultValueFactory = _ => Defaults.LrDecay };
        var lrDecayAfter = new Option<int>("--lr-decay-after") { Description = "first epoch (1-based) whose end decays the learning rate", DefaultValueFactory = _ => Defaults.LrDecayAfter };
        var clip = new Option<double?>("--clip") { Description = "clip gradients to this global L2 norm (0: off; default 0 in last mode, 5 in tbptt mode)" };
        var valFraction = new Option<double?>("--val-fraction") { Description = "hold out this last fraction of the corpus for validation (default 0 in last mode, 0.05 in tbptt mode)" };
        var evalEvery = new Option<int>("--eval-every") { Description = "steps between evaluations (0: at the end of each epoch)", DefaultValueFactory = _ => Defaults.EvalEvery };
        var monitor = new Option<string?>("--monitor") { Description = "early stopping watches loss or val_loss (default: val_loss when there is validation data)" };
        monitor.AcceptOnlyFromAmong("loss", "val_loss");
        var patience = new Option<int>("--patience") { Description = "early stopping: evaluations without improvement before stopping", DefaultValueFactory = _ => Defaults.Patience };
        var minDelta = new Option<double>("--min-delta") { Description = "early stopping: smallest decrease that counts as an improvement", DefaultValueFactory = _ => Defaults.MinDelta };
        var restoreBest = CliOptions.RestoreBest(Defaults.RestoreBest);
        var seed = new Option<ulong>("--seed") { Description = "seed for initialization, shuffling, dropout and sampling", DefaultValueFactory = _ => Defaults.Seed };
        var device = CliOptions.Device(Defaults.Device);
        var checkpoint = new Option<string>("--checkpoint") { Description = "where to save the trained model (safetensors; its directory must exist)", DefaultValueFactory = _ => Defaults.Checkpoint };
        var checkpointEvery = new Option<int>("--checkpoint-every") { Description = "also save a resumable checkpoint every N steps (0: only at the end)", DefaultValueFactory = _ => Defaults.CheckpointEvery };
        var resume = new Option<bool>("--resume") { Description = "continue the run saved at --checkpoint exactly where it stopped (weights, Adam, step, data position, carried state)" };
        var initFrom = new Option<string?>("--init-from") { Description = "fine-tune: a new run (fresh Adam, new corpus and settings) from this checkpoint's weights; the model's shape comes from it" };
        var extendVocab = new Option<bool>("--extend-vocab") { Description = "with --init-from: add the corpus's characters or words the checkpoint lacks (new rows initialized fresh, trained rows kept)" };
        var metrics = new Option<string?>("--metrics") { Description = "metrics CSV (default: beside the checkpoint, *.metrics.csv; 'none': off)" };
        var plot = new Option<string?>("--plot") { Description = "loss plot PNG (default: beside the checkpoint, *.loss.png; 'none': off)" };
        var progress = new Option<string>("--progress") { Description = "auto (a live bar on a terminal, plain lines otherwise), bar, plain", DefaultValueFactory = _ => "auto" };
        progress.AcceptOnlyFromAmong("auto", "bar", "plain");
        var sampleLength = new Option<int>("--sample-length") { Description = "tokens to generate after training (0: no samples)", DefaultValueFactory = _ => 200 };
        var temperatures = new Option<double[]>("--temperatures")
        {
            Description = "sampling temperatures after training",
            DefaultValueFactory = _ => new[] { 0.5, 1.0, 1.5 },
            AllowMultipleArgumentsPerToken = true,
        };

        var command = new Command("train", "Train a char- or word-level language model (LSTM, GRU or RNN) with Adam and early stopping, save it, and print samples.")
        {
            corpus, mode, cell, tokens, vocabSize, hidden, layers, embedding, dropout, seqLength, batch, epochs, maxSteps, lr, lrDecay, lrDecayAfter, clip,
            valFraction, evalEvery, monitor, patience, minDelta, restoreBest, seed, device, checkpoint, checkpointEvery, resume, initFrom, extendVocab, metrics, plot, progress,
            sampleLength, temperatures,
        };
        command.SetAction(parse => CliRunner.Run(parse, () =>
        {
            int length = parse.GetValue(sampleLength);
            if (length < 0) throw new GpuLstmException($"--sample-length must be 0 or more, got {length}");
            var temps = parse.GetValue(temperatures) ?? Array.Empty<double>();
            foreach (double temp in temps) Sampler.ValidateTemperature(temp);

            // Options over the defaults; a resumed run's defaults are its saved settings, and the run refuses an option that changes them.
            string checkpointPath = parse.GetValue(checkpoint)!;
            bool resuming = parse.GetValue(resume);
            var given = new GivenOptions(parse);
            string? initPath = parse.GetValue(initFrom);
            if (initPath is not null && resuming) throw new GpuLstmException("--init-from starts a new run, and --resume continues the saved one; give one or the other");
            if (initPath is not null) new FilePlan().Input("--init-from", initPath).Check();
            // A fine-tuning run's defaults are the checkpoint's shape: only a shape option given on the command line can contradict it.
            var initModel = initPath is null ? null : LoadInitFrom(initPath);
            var basis = resuming ? TextTraining.SavedSettings(checkpointPath) : initModel is not null ? TextTraining.ShapeOf(initModel) : Defaults;
            var settings = basis with
            {
                Corpus = given.Get(corpus, basis.Corpus),
                Mode = given.Get(mode, basis.Mode, m => m == "tbptt" ? TrainingMode.Streams : TrainingMode.Windows),
                Tokens = given.Get(tokens, basis.Tokens, t => t == "word" ? TokenKind.Words : TokenKind.Characters),
                VocabSize = given.Get(vocabSize, basis.VocabSize),
                Cell = given.Get(cell, basis.Cell, RecurrentCell.Parse),
                Hidden = given.Get(hidden, basis.Hidden),
                Layers = given.Get(layers, basis.Layers),
                Embedding = given.Get(embedding, basis.Embedding),
                Dropout = given.Get(dropout, basis.Dropout),
                SeqLength = given.Get(seqLength, basis.SeqLength),
                BatchSize = given.Get(batch, basis.BatchSize),
                Epochs = parse.GetValue(epochs),
                MaxSteps = parse.GetValue(maxSteps),
                LearningRate = given.Get(lr, basis.LearningRate),
                LrDecay = given.Get(lrDecay, basis.LrDecay),
                LrDecayAfter = given.Get(lrDecayAfter, basis.LrDecayAfter),
                ClipNorm = given.Get(clip, basis.ClipNorm),
                ValFraction = given.Get(valFraction, basis.ValFraction),
                EvalEvery = given.Get(evalEvery, basis.EvalEvery),
                Monitor = given.Get(monitor, basis.Monitor, MonitorNames.Parse),
                Patience = given.Get(patience, basis.Patience),
                MinDelta = given.Get(minDelta, basis.MinDelta),
                RestoreBest = given.Get(restoreBest, basis.RestoreBest),
                Seed = given.Get(seed, basis.Seed),
                Device = parse.GetValue(device)!,
                Checkpoint = checkpointPath,
                CheckpointEvery = parse.GetValue(checkpointEvery),
                Metrics = CliOptions.OutputFile(parse.GetValue(metrics)),
                Plot = CliOptions.OutputFile(parse.GetValue(plot)),
                Resume = resuming,
                InitFrom = initPath,
                ExtendVocab = parse.GetValue(extendVocab),
            };
            // A shape option that contradicts the checkpoint is named as such, before the settings' own checks
            // (--tokens word against a one-hot char model would otherwise read as a missing embedding).
            if (initModel is not null) TextTraining.CheckShape(settings.Resolved(), initModel);
            var labels = new FileLabels("--corpus", "--checkpoint", "the training state file (written beside --checkpoint)",
                parse.GetValue(metrics) is null ? "the metrics file (the default for --metrics, beside --checkpoint)" : "--metrics",
                parse.GetValue(plot) is null ? "the loss plot (the default for --plot, beside --checkpoint)" : "--plot") { InitFrom = "--init-from" };
            if (resuming && !given.Has(corpus)) labels = labels with { Input = "the run's corpus" };

            using var run = CliRunner.ResumeErrors(() => new TextTraining(settings, labels));
            var s = run.Settings;
            var info = run.Info;
            bool streams = s.ResolvedMode == TrainingMode.Streams;
            string unit = s.Tokens == TokenKind.Words ? "words" : "chars";
            Console.WriteLine($"corpus: {info.CorpusName}: {info.Tokens:N0} {unit}, vocabulary {info.Vocabulary}; train {info.TrainTokens:N0}, validation {info.ValidationTokens:N0}; {info.DataDescription}");
            Console.WriteLine(Inv($"model: {info.InputDescription} -> {info.StackDescription} -> Dense({info.Vocabulary}) softmax; mode {(streams ? "tbptt" : "last")}; Adam lr {s.LearningRate:G}{(s.ClipNorm > 0 ? Inv($", clip {s.ClipNorm:G}") : "")}; batch {s.BatchSize}; seed {s.Seed}"));
            Console.WriteLine($"device: {info.DeviceDescription}");
            if (run.ResumedFrom is { } from) Console.WriteLine($"resuming at step {from.Step} (epoch {from.Epoch + 1}, batch {from.BatchInEpoch + 1})");
            string title = $"{Path.GetFileName(info.CorpusName)}: {info.InputDescription}, {s.Layers}×{s.Cell.Name.ToUpperInvariant()}({s.Hidden})";
            run.RenderLossPlot = rows => LossPlot.Render(rows, title);

            using var display = ProgressDisplay.Create(ProgressDisplay.ParseMode(parse.GetValue(progress)!), streams, run.BatchesPerEpoch, s.Epochs, s.MaxSteps, unit);
            run.StepEnded += r => { display.TokensPerSecond(r); display.Step(r); };
            run.Evaluated += display.Evaluated;
            // Training's product is the checkpoint: if nobody reads the log any more, train on and save.
            StandardOutput.DiscardWhenClosed = true;
            using var signals = new CliRunner.StopSignals();
            var outcome = display.Run(() => run.Run(signals.Token));
            display.Finish();
            var result = outcome.Training;
            if (result.End == TrainEnd.Diverged)
                throw new GpuLstmException($"training diverged at {result.DivergedWhat}; " +
                    (outcome.SavedStep is long kept ? $"the checkpoint saved at step {kept} is kept in '{run.CheckpointPath}'" : $"nothing was saved, and '{run.CheckpointPath}' is as it was") +
                    " (try a smaller --lr, or --clip 5)");
            string monitorName = s.Monitor!.Value.KerasName();
            if (result.RestoredBestWeights) Console.WriteLine(Inv($"Restored the weights of the best evaluation ({result.BestEpoch + 1}, {monitorName} {result.BestLoss:F4})."));
            Console.WriteLine(Inv($"trained {result.Steps} steps, {result.EpochsRun} epochs in {result.Elapsed.TotalSeconds:F1}s ({result.LaunchesPerStep:F0} kernel launches/step); final loss {result.FinalLoss:F4}")
                + (result.FinalValLoss is double fv ? Inv($"; val loss {fv:F4} ({fv / Math.Log(2):F4} bits per {(s.Tokens == TokenKind.Words ? "word" : "char")}, perplexity {Math.Exp(fv):F2})") : "")
                + (result.End == TrainEnd.StepLimit ? $" (stopped at --max-steps {s.MaxSteps})" : ""));
            Console.WriteLine($"saved checkpoint: {run.CheckpointPath} (resume state: {run.StatePath})");
            if (run.MetricsPath is not null) Console.WriteLine($"metrics: {run.MetricsPath}");
            if (run.PlotPath is not null && run.Metrics.Count > 0) Console.WriteLine($"loss plot: {run.PlotPath}");
            if (result.End == TrainEnd.Interrupted)
            {
                Console.Out.Flush();
                Console.Error.WriteLine($"gpulstm: interrupted by {signals.SignalName} after {result.Steps} steps; saved the weights of the last full step to '{run.CheckpointPath}' (continue with --resume)");
                return signals.ExitCode;
            }

            if (length > 0 && temps.Length > 0)
            {
                StandardOutput.DiscardWhenClosed = false;
                var sampler = new Sampler(run.Model, run.Vocabulary);
                var rng = Rng.ForPurpose(s.Seed, "sample");
                foreach (double temp in temps)
                {
                    Console.WriteLine();
                    Console.WriteLine(Inv($"----- temperature {temp:0.0##} -----"));
                    Console.Write(run.Prime);
                    // The notebook re-runs windows; a model trained on carried state samples by carrying it.
                    // Tokens stream as they are drawn, in constant memory whatever --sample-length is.
                    try
                    {
                        if (streams) sampler.GenerateCarryingState(run.Prime, length, temp, rng, Console.Write, StandardOutput.Closed);
                        else sampler.Generate(run.Prime, length, temp, rng, Console.Write, StandardOutput.Closed);
                    }
                    catch (OperationCanceledException) { throw new OutputClosedException(); }
                    Console.WriteLine();
                }
            }
            return 0;
        }));
        return command;
    }
}
