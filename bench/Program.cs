using BenchmarkDotNet.Running;
using GpuLstm.Bench;

// dotnet run -c Release --project bench -- --filter '*'         (all BenchmarkDotNet benchmarks)
// dotnet run -c Release --project bench -- --filter '*Gemm*'    (one class)
// dotnet run -c Release --project bench -- resources            (gfx90a register/scratch/LDS table for every kernel)
if (args is ["resources"])
{
    GpuResourceTable.Print();
    return;
}
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
