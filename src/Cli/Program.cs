using System.CommandLine;
using GpuLstm.Cli;

var root = new RootCommand("GpuLstm: train character-level LSTMs on ILGPU kernels (CUDA, OpenCL or CPU) and sample from them.");
root.Subcommands.Add(TrainCommand.Create());
root.Subcommands.Add(SampleCommand.Create());
root.Subcommands.Add(DevicesCommand.Create());
root.Subcommands.Add(BenchCommand.Create());
return root.Parse(args).Invoke();
