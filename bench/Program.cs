using BenchmarkDotNet.Running;
using GpuLstm.Bench;

// dotnet run -c Release --project bench -- --filter '*'         (all BenchmarkDotNet benchmarks)
// dotnet run -c Release --project bench -- --filter '*Gemm*'    (one class)
// dotnet run -c Release --project bench -- resources            (gfx90a register/scratch/LDS table for every kernel)
// dotnet run -c Release --project bench -- gpu-model [--config NAME|anchors] [--gpu h100|a100|mi250|rtx2080ti] [--gemm cublas|own]
if (args is ["resources"])
{
    GpuResourceTable.Print();
    return;
}
if (args is ["gpu-model", ..])
{
    GpuModel.Run(args[1..]);
    return;
}
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
