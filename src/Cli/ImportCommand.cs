using System.CommandLine;
using GpuLstm.Runtime;
using GpuLstm.Runtime.Checkpoints;
using GpuLstm.Runtime.Compute;
using GpuLstm.Runtime.Data;
using GpuLstm.Runtime.Files;
using GpuLstm.Runtime.Models;

namespace GpuLstm.Cli;

/// <summary>`gpulstm import`: a PyTorch language model's state_dict (safetensors) and its vocabulary as a GpuLstm checkpoint.</summary>
internal static class ImportCommand
{
    public static Command Create()
    {
        var stateDict = new Option<string>("--state-dict") { Description = "safetensors of a PyTorch state_dict: nn.LSTM, nn.GRU or nn.RNN (tanh), an nn.Linear head, optionally an nn.Embedding in front", Required = true };
        var vocab = new Option<string>("--vocab") { Description = "a JSON array of the tokens in id order (json.dump(vocab, f)): characters, or words with <unk> among them", Required = true };
        var output = new Option<string>("--out") { Description = "the GpuLstm checkpoint to write", Required = true };
        var tokens = new Option<string>("--tokens") { Description = "char or word", DefaultValueFactory = _ => "char" };
        tokens.AcceptOnlyFromAmong("char", "word");
        var seqLength = new Option<int>("--seq-length") { Description = "the window the model samples from in window mode and evaluates in", DefaultValueFactory = _ => 50 };
        var mode = new Option<string>("--mode") { Description = "how it was trained, which sets how sample runs it: tbptt (every position, state carried: sample carries the state) or last (the token after each window: sample re-runs windows)", DefaultValueFactory = _ => "tbptt" };
        mode.AcceptOnlyFromAmong("last", "tbptt");
        var command = new Command("import", "Turn a PyTorch state_dict (safetensors) and its vocabulary into a GpuLstm checkpoint, inferring and checking the shapes.")
        {
            stateDict, vocab, output, tokens, seqLength, mode,
        };
        command.SetAction(parse => CliRunner.Run(parse, () =>
        {
            int t = parse.GetValue(seqLength);
            CliRunner.RequirePositive(t, "--seq-length");
            string statePath = parse.GetValue(stateDict)!, vocabPath = parse.GetValue(vocab)!, outPath = parse.GetValue(output)!;
            new FilePlan().Input("--state-dict", statePath).Input("--vocab", vocabPath).Output("--out", outPath).Check();
            var symbols = StateDictImport.ReadVocabularyFile(vocabPath);
            IReadOnlyDictionary<string, TensorEntry> tensors;
            try { tensors = SafeTensors.Read(statePath).Tensors; }
            // The reader names every file it reads a checkpoint; this one is the user's PyTorch file.
            catch (CheckpointFormatException e) { throw new GpuLstmException((e.Message.StartsWith("checkpoint ", StringComparison.Ordinal) ? "state dict " + e.Message["checkpoint ".Length..] : e.Message), e); }
            var loss = parse.GetValue(mode) == "last" ? LossPositions.Last : LossPositions.All;
            var imported = StateDictImport.Convert(tensors, symbols, parse.GetValue(tokens) == "word", t, loss, statePath);
            using var device = ComputeDevice.Open("cpu");
            using var model = new LanguageModel(device, imported.Config, 1);
            Checkpoint.CopyInto(new LoadedCheckpoint(imported.Config, imported.Vocabulary, new Dictionary<string, string>(), imported.Tensors, statePath), model);
            Checkpoint.Save(outPath, model, imported.Vocabulary, new Dictionary<string, string> { ["imported_from"] = Path.GetFileName(statePath) });
            Console.WriteLine($"imported {imported.Description}: {imported.Config.ParameterCount:N0} parameters, vocabulary {imported.Vocabulary.Count}; saved checkpoint: {outPath}");
            return 0;
        }));
        return command;
    }
}
