using System.Text.RegularExpressions;
using GpuLstm.Cli;
using GpuLstm.Runtime.Training;
using Spectre.Console.Testing;
using Xunit;

namespace GpuLstm.Tests;

/// <summary>The live training bar, drawn on Spectre's test console at a fixed width.</summary>
public sealed partial class ProgressDisplayTests
{
    [Theory]
    [InlineData(80)]
    [InlineData(60)]
    [InlineData(120)]
    public void TheBarNeverWrapsAtTheTerminalsWidth(int width)
    {
        var console = new TestConsole().Width(width).Interactive().EmitAnsiSequences();
        using var display = ProgressDisplay.Create(ProgressMode.Bar, streams: true, batchesPerEpoch: 123456, epochs: 50, maxSteps: 0, "chars", console);
        display.Run(() =>
        {
            for (int step = 1; step <= 30; step++)
            {
                var r = new StepReport(step * 1000L, 12, step, 123456, 1.23456789, 2e-3, 3200, TimeSpan.FromSeconds(step));
                display.TokensPerSecond(r);
                display.Step(r);
            }
            display.Evaluated(new EvalReport(12, 50, 30000, 1.5, 1.6, 30000, TimeSpan.FromSeconds(30), 0, StoppingDecision.Continue, 2e-3));
            return 0;
        });
        display.Finish();
        // Every line the console shows, its escape sequences removed, fits in the width.
        var lines = Ansi().Replace(console.Output, "\n").Split('\n');
        Assert.Contains(lines, l => l.Contains("step 30000/6172800", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("eval at step 30000", StringComparison.Ordinal));
        foreach (var line in lines) Assert.True(line.Length <= width, $"{line.Length} columns at width {width}: '{line}'");
    }

    [GeneratedRegex(@"\x1b\[[0-9;?]*[A-Za-z]|\r")]
    private static partial Regex Ansi();
}
