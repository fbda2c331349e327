using System.CommandLine;
using System.CommandLine.Parsing;
using System.Text.RegularExpressions;

namespace GpuLstm.Cli;

/// <summary>The parser's errors in the user's terms: no .NET type names, one line.</summary>
internal static partial class ParseErrors
{
    public static string Describe(ParseResult parse, RootCommand root)
    {
        var messages = new List<string>();
        foreach (var error in parse.Errors)
        {
            string m = Translate(error.Message, parse, root);
            if (OptionOf(error) is { } option && !m.Contains(option, StringComparison.Ordinal)) m = $"{option}: {m}";
            if (!messages.Contains(m)) messages.Add(m);
        }
        // "Required command was not provided" beside an unknown word says the same thing twice.
        if (messages.Count > 1) messages.RemoveAll(m => m.StartsWith("no command given", StringComparison.Ordinal));
        return CliRunner.OneLine(string.Join("; ", messages));
    }

    private static string Translate(string message, ParseResult parse, RootCommand root)
    {
        message = CliRunner.OneLine(message);
        var cannotParse = CannotParse().Match(message);
        if (cannotParse.Success)
            return $"{cannotParse.Groups["option"].Value} expects {TypeInWords(cannotParse.Groups["type"].Value)}, got '{cannotParse.Groups["value"].Value}'";
        var unrecognized = Unrecognized().Match(message);
        if (unrecognized.Success)
        {
            string word = unrecognized.Groups["word"].Value;
            var command = parse.CommandResult.Command;
            if (word.StartsWith('-'))
                return $"unknown option '{word}' for 'gpulstm{CommandPath(parse, root)}'";
            return command.Subcommands.Count > 0
                ? $"unknown command '{word}'; the commands are {string.Join(", ", command.Subcommands.Select(c => c.Name))}"
                : $"unexpected argument '{word}'";
        }
        if (message.StartsWith("Required command was not provided", StringComparison.Ordinal))
        {
            var command = parse.CommandResult.Command;
            return $"no command given; the commands are {string.Join(", ", command.Subcommands.Select(c => c.Name))}";
        }
        var required = RequiredOption().Match(message);
        if (required.Success) return $"{required.Groups["option"].Value} is required";
        var missingValue = MissingValue().Match(message);
        if (missingValue.Success) return $"{missingValue.Groups["option"].Value} needs a value";
        var notAmong = NotAmong().Match(message);
        if (notAmong.Success)
            return $"'{notAmong.Groups["value"].Value}' is not one of {notAmong.Groups["choices"].Value.Trim().Replace("' '", "', '", StringComparison.Ordinal)}";
        return message;
    }

    /// <summary>The option an error is about, when the parser knows it.</summary>
    private static string? OptionOf(ParseError error) => error.SymbolResult switch
    {
        OptionResult o => o.Option.Name,
        ArgumentResult { Parent: OptionResult o } => o.Option.Name,
        _ => null,
    };

    private static string CommandPath(ParseResult parse, RootCommand root)
    {
        var names = new List<string>();
        for (var r = parse.CommandResult; r is not null && r.Command != root; r = r.Parent as CommandResult) names.Insert(0, r.Command.Name);
        return names.Count == 0 ? "" : " " + string.Join(' ', names);
    }

    private static string TypeInWords(string type)
    {
        type = NullableType().Replace(type, "$1");
        return type switch
        {
            "System.Int32" or "System.Int64" or "System.Int16" => "a whole number",
            "System.UInt64" or "System.UInt32" => "a whole number, 0 or more",
            "System.Double" or "System.Single" or "System.Decimal" => "a number",
            "System.Boolean" => "true or false",
            _ => "another kind of value",
        };
    }

    [GeneratedRegex(@"^Cannot parse argument '(?<value>.*)' for option '(?<option>[^']+)' as expected type '(?<type>[^']+)'")]
    private static partial Regex CannotParse();

    [GeneratedRegex(@"^Unrecognized command or argument '(?<word>.*)'")]
    private static partial Regex Unrecognized();

    [GeneratedRegex(@"^Option '(?<option>[^']+)' is required")]
    private static partial Regex RequiredOption();

    [GeneratedRegex(@"^Required argument missing for option: '(?<option>[^']+)'")]
    private static partial Regex MissingValue();

    [GeneratedRegex(@"^Argument '(?<value>.*)' not recognized\. Must be one of:(?<choices>.*)$")]
    private static partial Regex NotAmong();

    [GeneratedRegex(@"^System\.Nullable`1\[(.*)\]$")]
    private static partial Regex NullableType();
}
