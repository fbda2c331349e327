using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace GpuLstm.Bench;

/// <summary>Work per call, declared by a benchmark class so the summary can print a rate beside the time.</summary>
public interface IWorkPerCall
{
    /// <summary>FLOPs (or bytes, for memory-bound ops) one invocation of the named benchmark method does.</summary>
    double WorkPerCall(string method);
    string WorkUnit { get; }
}

/// <summary>A summary column with GFLOP/s (or GB/s) from the mean time and <see cref="IWorkPerCall"/>.</summary>
public sealed class RateColumn : IColumn
{
    public string Id => "Rate";
    public string ColumnName => "Rate";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 0;
    public bool IsNumeric => false;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => "work per call / mean time (the machine's FP32 peak: HostGemmBenchmarks' FMA peak row, measured)";
    public bool IsAvailable(Summary summary) => true;
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) => GetValue(summary, benchmarkCase);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase)
    {
        var report = summary[benchmarkCase];
        if (report?.ResultStatistics is null) return "-";
        if (Activator.CreateInstance(benchmarkCase.Descriptor.Type) is not IWorkPerCall work) return "-";
        foreach (var p in benchmarkCase.Parameters.Items)
            benchmarkCase.Descriptor.Type.GetField(p.Name)?.SetValue(work, p.Value);
        double perCall = work.WorkPerCall(benchmarkCase.Descriptor.WorkloadMethod.Name);
        double seconds = report.ResultStatistics.Mean / 1e9;
        return $"{perCall / seconds / 1e9:F2} {work.WorkUnit}";
    }
}
