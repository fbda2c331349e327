using System.CommandLine;
using System.CommandLine.Parsing;
using GpuLstm.Runtime.Models.Cells;
using GpuLstm.Runtime.Training;

namespace GpuLstm.Cli;

/// <summary>The options several commands share, declared once.</summary>
internal static class CliOptions
{
    /// <summary>--cell, its values from the cells this build knows.</summary>
    public static Option<string> Cell()
    {
        var cell = new Option<string>("--cell")
        {
            Description = $"recurrent cell: {string.Join(", ", RecurrentCell.All.Select(c => $"{c.Name} ({c.TorchModule})"))}",
            DefaultValueFactory = _ => RecurrentCell.Lstm.Name,
        };
        cell.AcceptOnlyFromAmong(RecurrentCell.All.Select(c => c.Name).ToArray());
        return cell;
    }

    /// <summary>--restore-best [true|false], alike in every trainer; only the default differs.</summary>
    public static Option<bool> RestoreBest(bool byDefault) => new("--restore-best")
    {
        Description = $"[true|false] early stopping: end with the weights of the best evaluation (default {(byDefault ? "true" : "false")}; --restore-best alone means true)",
        DefaultValueFactory = _ => byDefault,
    };

    public static Option<string> Device(string byDefault) => new("--device")
    {
        Description = "auto, cpu, ilgpu-cpu, cuda, cuda:N, opencl, opencl:N (see `gpulstm devices`)",
        DefaultValueFactory = _ => byDefault,
    };

    /// <summary>A file option that may say 'none': none → off; absent → beside the checkpoint; else that path.</summary>
    public static GpuLstm.OutputFile OutputFile(string? value) => value switch
    {
        null => GpuLstm.OutputFile.Default,
        "none" => GpuLstm.OutputFile.None,
        _ => GpuLstm.OutputFile.At(value),
    };
}

/// <summary>Which options the user gave: a given one overrides the basis (defaults, or a resumed run's saved settings), an absent one keeps it.</summary>
internal sealed class GivenOptions(ParseResult parse)
{
    public bool Has(Option option) => parse.GetResult(option) is { Implicit: false };

    public T Get<T>(Option<T> option, T basis) => Has(option) ? parse.GetValue(option)! : basis;

    public TResult Get<T, TResult>(Option<T> option, TResult basis, Func<T, TResult> map) => Has(option) ? map(parse.GetValue(option)!) : basis;
}
