using BenchmarkDotNet.Running;

// dotnet run -c Release --project bench -- --filter '*'         (all benchmarks)
// dotnet run -c Release --project bench -- --filter '*Gemm*'    (one class)
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
