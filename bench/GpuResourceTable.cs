using GpuLstm.Kernels;
using GpuLstm.Runtime.Compute;
using GpuLstm.Tests;

namespace GpuLstm.Bench;

/// <summary>Every kernel's gfx90a resource usage as clang-15 reports it, as the markdown table in bench/README.md.</summary>
public static class GpuResourceTable
{
    public static void Print()
    {
        Console.WriteLine("| kernel | hot | VGPRs | AGPRs | SGPRs | scratch B/lane | VGPR spills | SGPR spills | LDS B/block | occupancy waves/SIMD |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|---|---|");
        foreach (var k in KernelCatalog.All)
        {
            var u = KernelCodegen.Gfx90aResources(k);
            Console.WriteLine($"| `{k.Name}` | {(k.Hot ? "yes" : "")} | {u.Vgprs} | {u.Agprs} | {u.Sgprs} | {u.ScratchBytesPerLane} | {u.VgprSpills} | {u.SgprSpills} | {u.LdsBytes} | {u.Occupancy} |");
        }
    }
}
