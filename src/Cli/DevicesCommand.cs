using System.CommandLine;


namespace GpuLstm.Cli;

internal static class DevicesCommand
{
    public static Command Create()
    {
        var command = new Command("devices", "List the accelerators ILGPU finds, with memory and warp size.");
        command.SetAction(parse => CliRunner.Run(parse, () =>
        {
            Console.WriteLine($"{"id",-10} {"type",-7} {"memory",10} {"warp",5} {"group",6}  name; matrix products");
            foreach (var d in Devices.List())
                Console.WriteLine($"{d.Id,-10} {d.Kind.ToString().ToLowerInvariant(),-7} {FormatBytes(d.MemoryBytes),10} {d.WarpSize,5} {d.MaxThreadsPerGroup,6}  {d.Name}; {d.Gemm}");
            Console.WriteLine("`--device auto` picks the first CUDA device, else the first OpenCL device, else cpu.");
            return 0;
        }));
        return command;
    }

    private static string FormatBytes(long bytes) =>
        bytes >= 1L << 30 ? $"{bytes / (double)(1L << 30):F1} GiB" : $"{bytes / (double)(1L << 20):F0} MiB";
}
