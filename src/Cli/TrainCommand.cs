using System.CommandLine;
using System.Globalization;
using System.Security.Cryptography;
using GpuLstm.Runtime;
using GpuLstm.Runtime.Checkpoints;
using GpuLstm.Runtime.Compute;
using GpuLstm.Runtime.Data;
using GpuLstm.Runtime.Files;
using GpuLstm.Runtime.Models;
using GpuLstm.Runtime.Models.Cells;
using GpuLstm.Runtime.Sampling;
using GpuLstm.Runtime.Training;

namespace GpuLstm.Cli;

/// <summary>
/// `gpulstm train`. With no options, the Keras notebook's experiment (mode "last"). With --corpus, char-rnn's
/// training by default (mode "tbptt"): B contiguous streams, targets at every position, state carried
/// across batches, a validation tail, clipping, periodic resumable checkpoints.
/// </summary>
internal static class TrainCommand
{
    public const string DefaultCheckpoint = "gpulstm-model.safetensors";

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    public static Command Create()
    {
        var corpus = new Option<string?>("--corpus") { Description = "UTF-8 text file to train on (default: the notebook's 5 lines of \"The Road Not Taken\", embedded)" };
        var mode = new Option<string?>("--mode") { Description = "last: shuffled windows, predict the token after each (the notebook; default without --corpus). tbptt: B contiguous streams, predict every position, carry (h, c) across batches (char-rnn; default with --corpus)" };
        mode.AcceptOnlyFromAmong("last", "tbptt");
        var tokens = new Option<string>("--tokens") { Description = "char or word", DefaultValueFactory = _ => "char" };
        tokens.AcceptOnlyFromAmong("char", "word");
        var vocabSize = new Option<int>("--vocab-size") { Description = "word level: keep the N−1 most frequent words plus <unk> (0: all)", DefaultValueFactory = _ => 10000 };
        var cell = new Option<string>("--cell") { Description = "recurrent cell: lstm, or gru (PyTorch's gate order r, z, n and reset-gate placement)", DefaultValueFactory = _ => "lstm" };
        cell.AcceptOnlyFromAmong(RecurrentCell.All.Select(c => c.Name).ToArray());
        var hidden = new Option<int>("--hidden") { Description = "LSTM hidden size", DefaultValueFactory = _ => 128 };
        var layers = new Option<int>("--layers") { Description = "stacked LSTM layers", DefaultValueFactory = _ => 1 };
        var embedding = new Option<int?>("--embedding") { Description = "embedding size in front of the LSTM (0: one-hot input; default 0 for chars, 128 for words)" };
        var dropout = new Option<float>("--dropout") { Description = "dropout between stacked layers while training", DefaultValueFactory = _ => 0f };
        var seqLength = new Option<int>("--seq-length") { Description = "window length (tokens per batch row and step of truncated BPTT)", DefaultValueFactory = _ => 50 };
        var batch = new Option<int>("--batch") { Description = "batch size (streams in tbptt mode)", DefaultValueFactory = _ => 16 };
        var epochs = new Option<int>("--epochs") { Description = "maximum number of epochs", DefaultValueFactory = _ => 50 };
        var maxSteps = new Option<long>("--max-steps") { Description = "stop after this many training steps in all (0: no limit)", DefaultValueFactory = _ => 0 };
        var lr = new Option<double?>("--lr") { Description = "Adam learning rate (default 1e-3 in last mode, 2e-3 in tbptt mode)" };
        var lrDecay = new Option<double>("--lr-decay") { Description = "multiply the learning rate by this after each epoch from --lr-decay-after on (1: off)", DefaultValueFactory = _ => 1.0 };
        var lrDecayAfter = new Option<int>("--lr-decay-after") { Description = "first epoch (1-based) whose end decays the learning rate", DefaultValueFactory = _ => 10 };
        var clip = new Option<double?>("--clip") { Description = "clip gradients to this global L2 norm (0: off; default 0 in last mode, 5 in tbptt mode)" };
        var valFraction = new Option<double?>("--val-fraction") { Description = "hold out this last fraction of the corpus for validation (default 0 in last mode, 0.05 in tbptt mode)" };
        var evalEvery = new Option<int>("--eval-every") { Description = "steps between evaluations (0: at the end of each epoch)", DefaultValueFactory = _ => 0 };
        var monitor = new Option<string?>("--monitor") { Description = "early stopping watches loss or val_loss (default: val_loss when there is validation data)" };
        monitor.AcceptOnlyFromAmong("loss", "val_loss");
        var patience = new Option<int>("--patience") { Description = "early stopping: evaluations without improvement before stopping", DefaultValueFactory = _ => 5 };
        var minDelta = new Option<double>("--min-delta") { Description = "early stopping: smallest decrease that counts as an improvement", DefaultValueFactory = _ => 0 };
        var restoreBest = new Option<bool>("--restore-best") { Description = "early stopping: end with the weights of the best evaluation" };
        var seed = new Option<ulong>("--seed") { Description = "seed for initialization, shuffling, dropout and sampling", DefaultValueFactory = _ => 42 };
        var device = new Option<string>("--device") { Description = "auto, cpu, ilgpu-cpu, cuda, cuda:N, opencl, opencl:N (see `gpulstm devices`)", DefaultValueFactory = _ => "auto" };
        var checkpoint = new Option<string>("--checkpoint") { Description = "where to save the trained model (safetensors)", DefaultValueFactory = _ => DefaultCheckpoint };
        var checkpointEvery = new Option<int>("--checkpoint-every") { Description = "also save a resumable checkpoint every N steps (0: only at the end)", DefaultValueFactory = _ => 0 };
        var resume = new Option<bool>("--resume") { Description = "continue the run saved at --checkpoint exactly where it stopped (weights, Adam, step, data position, carried state)" };
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

        var command = new Command("train", "Train an LSTM language model with Adam and early stopping, save it, and print samples.")
        {
            corpus, mode, cell, tokens, vocabSize, hidden, layers, embedding, dropout, seqLength, batch, epochs, maxSteps, lr, lrDecay, lrDecayAfter, clip,
            valFraction, evalEvery, monitor, patience, minDelta, restoreBest, seed, device, checkpoint, checkpointEvery, resume, metrics, plot, progress,
            sampleLength, temperatures,
        };
        command.SetAction(parse => CliRunner.Run(parse, () =>
        {
            // 1. Every option, before any file is touched.
            string checkpointPath = parse.GetValue(checkpoint)!;
            string statePath = TrainingStateFile.PathFor(checkpointPath);
            string stem = checkpointPath.EndsWith(".safetensors", StringComparison.Ordinal) ? checkpointPath[..^".safetensors".Length] : checkpointPath;
            string? metricsGiven = parse.GetValue(metrics), plotGiven = parse.GetValue(plot);
            string? metricsPath = metricsGiven == "none" ? null : metricsGiven ?? stem + ".metrics.csv";
            string? plotPath = plotGiven == "none" ? null : plotGiven ?? stem + ".loss.png";
            int e = parse.GetValue(epochs);
            CliRunner.RequirePositive(e, "--epochs");
            long stepLimit = parse.GetValue(maxSteps);
            int every = parse.GetValue(checkpointEvery);
            int length = parse.GetValue(sampleLength);
            if (length < 0) throw new GpuLstmException($"--sample-length must be 0 or more, got {length}");
            var temps = parse.GetValue(temperatures) ?? Array.Empty<double>();
            foreach (double temp in temps) Sampler.ValidateTemperature(temp);
            string? corpusGiven = parse.GetValue(corpus);

            // The run's settings: from the command line, or from the saved state when resuming.
            bool resuming = parse.GetValue(resume);
            LoadedCheckpoint? savedModel = null;
            TrainerState? savedPosition = null;
            TrainSetup setup;
            if (resuming)
            {
                if (!File.Exists(checkpointPath) && !Directory.Exists(checkpointPath)) throw new GpuLstmException($"cannot resume: checkpoint '{checkpointPath}' not found");
                savedModel = Checkpoint.Load(checkpointPath);
                if (!File.Exists(statePath)) throw new GpuLstmException($"cannot resume: '{statePath}' not found (it is written beside the checkpoint by train runs that save one)");
                (savedPosition, string json) = TrainingStateFile.Peek(statePath);
                setup = TrainSetup.FromJson(json) ?? throw new GpuLstmException($"training state '{statePath}' has no readable settings");
                CheckResumeOptions(parse, setup, mode, cell, tokens, vocabSize, hidden, layers, embedding, dropout, seqLength, batch, lr, lrDecay,
                    lrDecayAfter, clip, valFraction, evalEvery, monitor, patience, minDelta, restoreBest, seed);
            }
            else
            {
                string md = parse.GetValue(mode) ?? (corpusGiven is null ? "last" : "tbptt");
                bool tbptt = md == "tbptt";
                string tk = parse.GetValue(tokens)!;
                int h = parse.GetValue(hidden), l = parse.GetValue(layers), steps = parse.GetValue(seqLength), b = parse.GetValue(batch);
                CliRunner.RequirePositive(h, "--hidden");
                CliRunner.RequirePositive(l, "--layers");
                CliRunner.RequirePositive(steps, "--seq-length");
                CliRunner.RequirePositive(b, "--batch");
                int emb = parse.GetValue(embedding) ?? (tk == "word" ? 128 : 0);
                if (emb < 0) throw new GpuLstmException($"--embedding must be 0 (one-hot) or positive, got {emb}");
                if (tk == "word" && emb == 0) throw new GpuLstmException("word-level models need an embedding: give --embedding D (D > 0)");
                float drop = parse.GetValue(dropout);
                if (!(drop >= 0 && drop < 1)) throw new GpuLstmException($"--dropout must be in [0, 1), got {drop}");
                if (drop > 0 && l < 2) throw new GpuLstmException("--dropout applies between stacked layers; it needs --layers 2 or more");
                double val = parse.GetValue(valFraction) ?? (tbptt ? 0.05 : 0);
                if (!(val >= 0 && val < 1)) throw new GpuLstmException($"--val-fraction must be in [0, 1), got {val}");
                string mon = parse.GetValue(monitor) ?? (val > 0 ? "val_loss" : "loss");
                if (mon == "val_loss" && val == 0) throw new GpuLstmException("--monitor val_loss needs validation data: give --val-fraction > 0");
                int vs = parse.GetValue(vocabSize);
                if (vs < 0 || vs == 1) throw new GpuLstmException($"--vocab-size must be 0 (no cap) or at least 2, got {vs}");
                int decayAfter = parse.GetValue(lrDecayAfter);
                if (decayAfter < 1) throw new GpuLstmException($"--lr-decay-after must be an epoch number, 1 or more, got {decayAfter}");
                string? corpusRecord = corpusGiven is null ? null : corpusGiven == InputSource.StandardInput ? corpusGiven : Path.GetFullPath(corpusGiven);
                setup = new TrainSetup(md, parse.GetValue(cell)!, tk, corpusRecord, "", vs, h, l,
                    emb, drop, steps, b, parse.GetValue(lr) ?? (tbptt ? 2e-3 : 1e-3), parse.GetValue(clip) ?? (tbptt ? 5 : 0),
                    parse.GetValue(lrDecay), decayAfter, parse.GetValue(seed), val, mon, parse.GetValue(patience),
                    parse.GetValue(minDelta), parse.GetValue(restoreBest), parse.GetValue(evalEvery));
            }
            var adamOptions = new AdamOptions(LearningRate: setup.Lr, ClipNorm: setup.Clip);
            adamOptions.Validate();
            var stopping = new EarlyStoppingOptions(setup.Monitor, setup.Patience, setup.MinDelta, setup.RestoreBest);
            stopping.Validate();
            var trainOptions = new TrainOptions(e, setup.Batch, setup.Seed, stepLimit, setup.EvalEvery, every, setup.LrDecay, Math.Max(1, setup.LrDecayAfter));
            trainOptions.Validate();
            if (savedPosition?.FinishedUnder(trainOptions) is { } finished)
                throw new GpuLstmException(finished switch
                {
                    TrainEnd.EarlyStopped => $"cannot resume: the run stopped early at step {savedPosition.Step} (epoch {savedPosition.Epoch}) because {setup.Monitor} stopped improving; there is nothing to continue, and nothing was changed",
                    TrainEnd.StepLimit => $"cannot resume: the run finished at step {savedPosition.Step}, the --max-steps limit; to train on, give --max-steps above {savedPosition.Step}",
                    _ => $"cannot resume: the run finished at step {savedPosition.Step} after {savedPosition.Epoch} epoch{(savedPosition.Epoch == 1 ? "" : "s")}; to train on, give --epochs above {savedPosition.Epoch}" +
                         (stepLimit > 0 ? $" (and --max-steps above {savedPosition.Step})" : ""),
                });

            // 2. Every file this run reads and writes, checked before the corpus is read or the model built.
            string? corpusPath = corpusGiven ?? setup.Corpus;
            if (resuming && corpusGiven is null && setup.CorpusIsStream)
                throw new GpuLstmException(setup.Corpus == InputSource.StandardInput
                    ? "cannot resume: the run read its corpus from standard input; give the same text again with --corpus"
                    : $"cannot resume: the run read its corpus from the pipe '{setup.Corpus}'; give the same text again with --corpus");
            var plan = new FilePlan()
                .Input(corpusGiven is not null || !resuming ? "--corpus" : "the run's corpus", corpusPath);
            if (resuming) plan.Update("--checkpoint", checkpointPath).Update("the training state file (beside --checkpoint)", statePath);
            else plan.Output("--checkpoint", checkpointPath).Output("the training state file (written beside --checkpoint)", statePath);
            string metricsLabel = metricsGiven is null ? "the metrics file (the default for --metrics, beside --checkpoint)" : "--metrics";
            if (resuming) plan.Update(metricsLabel, metricsPath); else plan.Output(metricsLabel, metricsPath);
            plan.Output(plotGiven is null ? "the loss plot (the default for --plot, beside --checkpoint)" : "--plot", plotPath);
            plan.Check();

            // 3. Data.
            InputSource? corpusSource = null;
            if (corpusPath is not null)
            {
                if (resuming && corpusGiven is null && !File.Exists(corpusPath)) throw new GpuLstmException($"cannot resume: the run's corpus '{corpusPath}' is gone");
                corpusSource = InputSource.Open(corpusPath, "corpus file");
                string digest = Digest(corpusSource);
                if (resuming && digest != setup.CorpusDigest)
                    throw new GpuLstmException(corpusGiven is null
                        ? $"cannot resume: the corpus '{corpusPath}' changed since the run started"
                        : $"cannot resume with --corpus '{corpusGiven}': it is not the text the run started with ({(setup.Corpus == InputSource.StandardInput ? "standard input" : $"'{setup.Corpus}'")})");
                if (!resuming) setup = setup with { CorpusDigest = digest, CorpusIsStream = corpusSource.IsSpooled };
            }
            var corpusData = corpusSource is null
                ? (setup.Tokens == "word" ? EncodedCorpus.FromWords(Corpus.Default(), setup.VocabSize) : EncodedCorpus.FromText(Corpus.Default()))
                : setup.Tokens == "word" ? EncodedCorpus.LoadWords(corpusSource, setup.VocabSize) : EncodedCorpus.Load(corpusSource);
            var vocab = corpusData.Vocabulary;
            if (vocab.Count < 2) throw new GpuLstmException($"the corpus has {vocab.Count} distinct {(setup.Tokens == "word" ? "word" : "character")}; it needs at least 2");
            var split = CorpusSplit.Create(corpusData.Tokens.Length, setup.ValFraction);
            bool streams = setup.Mode == "tbptt";
            int t = setup.SeqLength;
            IBatchSource source;
            string dataLine;
            if (streams)
            {
                var data = new StreamDataset(corpusData.Tokens, split.TrainStart, split.TrainLength, setup.Batch, t);
                source = new StreamBatches(data);
                dataLine = $"{data.Streams} streams of {data.StreamLength:N0} tokens, {data.BatchesPerEpoch} batches of {t} per epoch";
            }
            else
            {
                var data = new WindowDataset(corpusData.Tokens.AsSpan(split.TrainStart, split.TrainLength).ToArray(), t);
                source = new ShuffledWindowBatches(data, setup.Batch, LossPositions.Last, setup.Seed);
                dataLine = $"{data.Count:N0} windows of {t}";
            }
            if (split.HasValidation && split.ValLength < t + 1)
                throw new GpuLstmException($"the validation part has {split.ValLength} tokens, fewer than one window of {t + 1}; raise --val-fraction or lower --seq-length");

            // 4. The model.
            var config = new LanguageModelConfig(vocab.Count, setup.Hidden, t, streams ? LossPositions.All : LossPositions.Last, setup.Layers, setup.Embedding, setup.Dropout)
                { Cell = RecurrentCell.Parse(setup.Cell) };
            config.Validate();
            if (savedModel is not null && savedModel.Config != config)
                throw new GpuLstmException($"cannot resume: checkpoint '{checkpointPath}' holds a different model than its training state describes");
            using var dev = ComputeDevice.Open(parse.GetValue(device)!);
            string unit = setup.Tokens == "word" ? "words" : "chars";
            string corpusName = setup.Corpus is null ? Corpus.DefaultName : setup.Corpus == InputSource.StandardInput ? "standard input" : setup.Corpus;
            Console.WriteLine($"corpus: {corpusName}: {corpusData.Tokens.Length:N0} {unit}, vocabulary {vocab.Count}; train {split.TrainLength:N0}, validation {split.ValLength:N0}; {dataLine}");
            string input = setup.Embedding > 0 ? $"Embedding({vocab.Count}, {setup.Embedding})" : $"one-hot({vocab.Count})";
            string stack = string.Join(setup.Dropout > 0 ? Inv($" -> Dropout({setup.Dropout}) -> ") : " -> ", Enumerable.Repeat($"{setup.Cell.ToUpperInvariant()}({setup.Hidden})", setup.Layers));
            Console.WriteLine(Inv($"model: {input} -> {stack} -> Dense({vocab.Count}) softmax; mode {setup.Mode}; Adam lr {setup.Lr:G}{(setup.Clip > 0 ? Inv($", clip {setup.Clip:G}") : "")}; batch {setup.Batch}; seed {setup.Seed}"));
            Console.WriteLine($"device: {dev.Description}");

            using var model = new LanguageModel(dev, config, source.MaxBatch);
            model.InitializeKerasDefaults(setup.Seed);
            using var adam = new AdamOptimizer(model, adamOptions);
            var evaluator = new Evaluator(model);
            Func<double>? validate = split.HasValidation
                ? () => evaluator.Evaluate(corpusData.Tokens, split.ValStart, split.ValLength, EvalState.Carry, setup.Batch, t, preserveTrainingState: streams).Loss
                : null;
            var trainer = new Trainer(model, source, adam, stopping, trainOptions, validate);
            var log = new MetricsLog();
            TrainerState? resumeFrom = null;
            if (resuming)
            {
                var saved = TrainingStateFile.Load(statePath, model.Parameters.Count, streams ? model.StateLength(source.MaxBatch) : 0);
                string ckStep = savedModel!.Metadata.TryGetValue("step", out var st) ? st : "?";
                if (ckStep != saved.Trainer.Step.ToString(CultureInfo.InvariantCulture))
                    throw new GpuLstmException($"cannot resume: the training state is from step {saved.Trainer.Step} but the checkpoint from step {ckStep} (a save was cut short)");
                savedModel.CopyInto(model);
                adam.Restore(saved.AdamStep, saved.AdamM, saved.AdamV);
                if (streams) model.WriteState(source.MaxBatch, saved.CarriedState);
                trainer.BestWeights = saved.BestWeights;
                resumeFrom = saved.Trainer;
                if (metricsPath is not null) log = MetricsLog.LoadUpTo(metricsPath, saved.Trainer.Step);
                Console.WriteLine($"resuming at step {saved.Trainer.Step} (epoch {saved.Trainer.Epoch + 1}, batch {saved.Trainer.BatchInEpoch + 1})");
            }

            // 5. Saving: the training state, the checkpoint, the metrics (and at the end the plot) are written
            // to temporary files and renamed together, so a failure part-way changes none of them.
            string prime = corpusData.Prefix(t);
            string plotTitle = $"{(setup.Corpus is null ? Corpus.DefaultName : setup.Corpus == InputSource.StandardInput ? "standard input" : Path.GetFileName(setup.Corpus))}: {input}, {setup.Layers}×{setup.Cell.ToUpperInvariant()}({setup.Hidden})";
            long? savedStep = null;
            void Save(TrainerState state, double finalLoss, bool withPlot)
            {
                var carried = new float[streams ? model.StateLength(source.MaxBatch) : 0];
                if (streams) model.ReadState(source.MaxBatch, carried);
                var metadata = new Dictionary<string, string>
                {
                    ["prime"] = prime,
                    ["seed"] = setup.Seed.ToString(CultureInfo.InvariantCulture),
                    ["step"] = state.Step.ToString(CultureInfo.InvariantCulture),
                    ["epochs_trained"] = state.Epoch.ToString(CultureInfo.InvariantCulture),
                    ["corpus"] = setup.Corpus is null ? Corpus.DefaultName : setup.Corpus == InputSource.StandardInput ? "<stdin>" : Path.GetFileName(setup.Corpus),
                };
                if (double.IsFinite(finalLoss)) metadata["final_loss"] = finalLoss.ToString("R", CultureInfo.InvariantCulture);
                using var files = new FileTransaction();
                // State first: if the process dies between the two renames, the step numbers disagree and resume refuses.
                files.Stage(statePath, "training state", TrainingStateFile.Serializer(new TrainingState(state, adam.Step, adam.GetFirstMoments(),
                    adam.GetSecondMoments(), carried, trainer.BestWeights, setup.ToJson())));
                files.Stage(checkpointPath, "checkpoint", Checkpoint.Serializer(model, vocab, metadata));
                if (metricsPath is not null) files.Stage(metricsPath, "metrics file", log.Serializer());
                if (withPlot && plotPath is not null && log.Rows.Count > 0) files.Stage(plotPath, "loss plot", s => s.Write(LossPlot.Render(log.Rows, plotTitle)));
                files.Commit();
                savedStep = state.Step;
            }

            using var display = ProgressDisplay.Create(ProgressDisplay.ParseMode(parse.GetValue(progress)!), streams, source.BatchesPerEpoch, e, stepLimit, unit);
            trainer.StepEnded += r =>
            {
                log.Add(new MetricsRow(r.Step, r.Epoch, r.Loss, null, r.LearningRate, display.TokensPerSecond(r)));
                display.Step(r);
            };
            trainer.Evaluated += r =>
            {
                if (r.ValLoss is double v) log.SetValLoss(r.Step, v);
                display.Evaluated(r);
            };
            trainer.CheckpointDue += state => Save(state, log.Rows[^1].TrainLoss, withPlot: false);
            // Training's product is the checkpoint: if nobody reads the log any more, train on and save.
            StandardOutput.DiscardWhenClosed = true;
            using var signals = new CliRunner.StopSignals();
            var result = display.Run(() => trainer.Train(signals.Token, resumeFrom));
            display.Finish();
            if (result.End == TrainEnd.Diverged)
                throw new GpuLstmException($"training diverged at {result.DivergedWhat}; " +
                    (savedStep is long kept ? $"the checkpoint saved at step {kept} is kept in '{checkpointPath}'" : $"nothing was saved, and '{checkpointPath}' is as it was") +
                    " (try a smaller --lr, or --clip 5)");
            if (result.RestoredBestWeights) Console.WriteLine(Inv($"Restored the weights of the best evaluation ({result.BestEpoch + 1}, {setup.Monitor} {result.BestLoss:F4})."));
            double seconds = result.Elapsed.TotalSeconds;
            Console.WriteLine(Inv($"trained {result.Steps} steps, {result.EpochsRun} epochs in {seconds:F1}s ({result.LaunchesPerStep:F0} kernel launches/step); final loss {result.FinalLoss:F4}")
                + (result.FinalValLoss is double fv ? Inv($"; val loss {fv:F4} ({fv / Math.Log(2):F4} bits per {(setup.Tokens == "word" ? "word" : "char")}, perplexity {Math.Exp(fv):F2})") : "")
                + (result.End == TrainEnd.StepLimit ? $" (stopped at --max-steps {stepLimit})" : ""));

            Save(trainer.CurrentState!, result.FinalLoss, withPlot: true);
            Console.WriteLine($"saved checkpoint: {checkpointPath} (resume state: {statePath})");
            if (metricsPath is not null) Console.WriteLine($"metrics: {metricsPath}");
            if (plotPath is not null && log.Rows.Count > 0) Console.WriteLine($"loss plot: {plotPath}");
            if (result.End == TrainEnd.Interrupted)
            {
                Console.Out.Flush();
                Console.Error.WriteLine($"gpulstm: interrupted by {signals.SignalName} after {result.Steps} steps; saved the weights of the last full step to '{checkpointPath}' (continue with --resume)");
                return signals.ExitCode;
            }

            if (length > 0 && temps.Length > 0)
            {
                StandardOutput.DiscardWhenClosed = false;
                var sampler = new Sampler(model, vocab);
                var rng = Rng.ForPurpose(setup.Seed, "sample");
                foreach (double temp in temps)
                {
                    Console.WriteLine();
                    Console.WriteLine(Inv($"----- temperature {temp:0.0##} -----"));
                    Console.Write(prime);
                    // The notebook re-runs windows; a model trained on carried state samples by carrying it.
                    // Tokens stream as they are drawn, in constant memory whatever --sample-length is.
                    try
                    {
                        if (streams) sampler.GenerateCarryingState(prime, length, temp, rng, Console.Write, StandardOutput.Closed);
                        else sampler.Generate(prime, length, temp, rng, Console.Write, StandardOutput.Closed);
                    }
                    catch (OperationCanceledException) { throw new OutputClosedException(); }
                    Console.WriteLine();
                }
            }
            return 0;
        }));
        return command;
    }

    /// <summary>SHA-256 of the corpus, to check that a resumed run reads the same text.</summary>
    private static string Digest(InputSource source)
    {
        using var stream = source.OpenRead();
        try { return Convert.ToHexString(SHA256.HashData(stream)); }
        catch (IOException x) { throw new GpuLstmException($"{source.Describe()} cannot be read: {IoErrors.Describe(x)}"); }
    }

    /// <summary>A resumed run trains with its saved settings; an option given again must agree with them.</summary>
    private static void CheckResumeOptions(ParseResult parse, TrainSetup s, Option<string?> mode, Option<string> cell, Option<string> tokens,
        Option<int> vocabSize, Option<int> hidden, Option<int> layers, Option<int?> embedding, Option<float> dropout, Option<int> seqLength,
        Option<int> batch, Option<double?> lr, Option<double> lrDecay, Option<int> lrDecayAfter, Option<double?> clip, Option<double?> valFraction,
        Option<int> evalEvery, Option<string?> monitor, Option<int> patience, Option<double> minDelta, Option<bool> restoreBest, Option<ulong> seed)
    {
        void Check<T>(Option<T> option, object? saved, Func<T, object?>? map = null)
        {
            var result = parse.GetResult(option);
            if (result is null || result.Implicit) return;
            var given = parse.GetValue(option);
            object? value = map is null ? given : map(given!);
            if (!Equals(value, saved))
                throw new GpuLstmException($"cannot resume with {option.Name} {Convert.ToString(given, CultureInfo.InvariantCulture)}: the run was started with {Convert.ToString(saved, CultureInfo.InvariantCulture) ?? "none"}; drop the option to continue it");
        }
        Check(mode, s.Mode); Check(cell, s.Cell); Check(tokens, s.Tokens); Check(vocabSize, s.VocabSize); Check(hidden, s.Hidden); Check(layers, s.Layers);
        Check(embedding, s.Embedding, v => v); Check(dropout, s.Dropout); Check(seqLength, s.SeqLength); Check(batch, s.Batch);
        Check(lr, s.Lr, v => v); Check(lrDecay, s.LrDecay); Check(lrDecayAfter, s.LrDecayAfter); Check(clip, s.Clip, v => v);
        Check(valFraction, s.ValFraction, v => v); Check(evalEvery, s.EvalEvery); Check(monitor, s.Monitor); Check(patience, s.Patience);
        Check(minDelta, s.MinDelta); Check(restoreBest, s.RestoreBest); Check(seed, s.Seed);
    }
}
