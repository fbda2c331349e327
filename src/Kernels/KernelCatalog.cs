using System.Reflection;

namespace GpuLstm.Kernels;

/// <summary>One kernel entry point and how it is launched.</summary>
/// <param name="Name">Op name, as used in tests, benchmarks and the README.</param>
/// <param name="Method">The static kernel method.</param>
/// <param name="ExplicitlyGrouped">True when the kernel uses groups and shared memory (launched with a KernelConfig).</param>
/// <param name="Hot">True for kernels that run every time step (they must not spill on a GPU).</param>
internal sealed record KernelEntry(string Name, MethodInfo Method, bool ExplicitlyGrouped, bool Hot);

/// <summary>Every kernel GpuLstm launches, for code generation checks and resource reports.</summary>
internal static class KernelCatalog
{
    public static IReadOnlyList<KernelEntry> All { get; } = new[]
    {
        Entry("gemm_naive", typeof(GemmKernels), nameof(GemmKernels.Naive), grouped: false, hot: true),
        Entry("gemm_tiled", typeof(GemmKernels), nameof(GemmKernels.Tiled), grouped: true, hot: true),
        Entry("gemm_blocked64", typeof(GemmKernels), nameof(GemmKernels.Blocked64), grouped: true, hot: true),
        Entry("gemm_blocked128", typeof(GemmKernels), nameof(GemmKernels.Blocked128), grouped: true, hot: true),
        Entry("lstm_cell_forward", typeof(LstmCellKernels), nameof(LstmCellKernels.Forward), grouped: false, hot: true),
        Entry("lstm_step_forward", typeof(LstmCellKernels), nameof(LstmCellKernels.StepForward), grouped: false, hot: true),
        Entry("lstm_cell_backward", typeof(LstmCellKernels), nameof(LstmCellKernels.Backward), grouped: false, hot: true),
        Entry("gru_cell_forward", typeof(GruCellKernels), nameof(GruCellKernels.Forward), grouped: false, hot: true),
        Entry("gru_cell_backward", typeof(GruCellKernels), nameof(GruCellKernels.Backward), grouped: false, hot: true),
        Entry("rnn_cell_forward", typeof(RnnCellKernels), nameof(RnnCellKernels.Forward), grouped: false, hot: true),
        Entry("rnn_cell_backward", typeof(RnnCellKernels), nameof(RnnCellKernels.Backward), grouped: false, hot: true),
        Fused("lstm_step_forward_fused", nameof(RecurrentStepKernels.Forward), typeof(LstmMath)),
        Fused("lstm_step_backward_fused", nameof(RecurrentStepKernels.Backward), typeof(LstmMath)),
        Fused("gru_step_forward_fused", nameof(RecurrentStepKernels.Forward), typeof(GruMath)),
        Fused("gru_step_backward_fused", nameof(RecurrentStepKernels.Backward), typeof(GruMath)),
        Fused("rnn_step_forward_fused", nameof(RecurrentStepKernels.Forward), typeof(RnnMath)),
        Fused("rnn_step_backward_fused", nameof(RecurrentStepKernels.Backward), typeof(RnnMath)),
        Entry("softmax_cross_entropy", typeof(LossKernels), nameof(LossKernels.SoftmaxCrossEntropy), grouped: false, hot: false),
        Entry("softmax_cross_entropy_rows", typeof(LossKernels), nameof(LossKernels.SoftmaxCrossEntropyRows), grouped: true, hot: false),
        Entry("mean_squared_error", typeof(LossKernels), nameof(LossKernels.MeanSquaredError), grouped: false, hot: false),
        Entry("gaussian_nll", typeof(LossKernels), nameof(LossKernels.GaussianNll), grouped: false, hot: false),
        Entry("pinball", typeof(LossKernels), nameof(LossKernels.Pinball), grouped: false, hot: false),
        Entry("adam_step", typeof(AdamKernels), nameof(AdamKernels.Step), grouped: false, hot: false),
        Entry("sum_of_squares_partials", typeof(AdamKernels), nameof(AdamKernels.SumOfSquaresPartials), grouped: false, hot: false),
        Entry("adam_guarded_step", typeof(AdamKernels), nameof(AdamKernels.GuardedStep), grouped: false, hot: false),
        Entry("step_partials", typeof(AdamKernels), nameof(AdamKernels.StepPartials), grouped: false, hot: false),
        Entry("step_partials_grouped", typeof(AdamKernels), nameof(AdamKernels.StepPartialsGrouped), grouped: true, hot: false),
        Entry("step_guard", typeof(AdamKernels), nameof(AdamKernels.StepGuard), grouped: true, hot: false),
        Entry("step_guard_serial", typeof(AdamKernels), nameof(AdamKernels.StepGuardSerial), grouped: false, hot: false),
        Entry("gather_rows", typeof(TensorKernels), nameof(TensorKernels.GatherRows), grouped: false, hot: false),
        Entry("scatter_add_rows", typeof(TensorKernels), nameof(TensorKernels.ScatterAddRows), grouped: false, hot: false),
        Entry("scatter_add_sorted", typeof(TensorKernels), nameof(TensorKernels.ScatterAddSorted), grouped: false, hot: false),
        Entry("column_sum", typeof(TensorKernels), nameof(TensorKernels.ColumnSum), grouped: false, hot: false),
        Entry("column_partials", typeof(TensorKernels), nameof(TensorKernels.ColumnPartials), grouped: true, hot: false),
        Entry("dropout_forward", typeof(DropoutKernels), nameof(DropoutKernels.Forward), grouped: false, hot: false),
        Entry("dropout_backward", typeof(DropoutKernels), nameof(DropoutKernels.Backward), grouped: false, hot: false),
        Entry("transpose", typeof(TensorKernels), nameof(TensorKernels.Transpose), grouped: false, hot: false),
        Entry("copy_columns", typeof(TensorKernels), nameof(TensorKernels.CopyColumns), grouped: false, hot: false),
        Entry("accumulate", typeof(TensorKernels), nameof(TensorKernels.Accumulate), grouped: false, hot: false),
        // Runs every step of a GRU when cuBLAS does its recurrent GEMM (the projection with b_hh).
        Entry("broadcast_rows", typeof(TensorKernels), nameof(TensorKernels.BroadcastRows), grouped: false, hot: true),
    };

    /// <summary>A fused recurrent step (<see cref="RecurrentStepKernels"/>) for one cell's math: grouped, hot.</summary>
    private static KernelEntry Fused(string name, string method, Type cellMath) =>
        new(name, typeof(RecurrentStepKernels).GetMethod(method, BindingFlags.Public | BindingFlags.Static)!.MakeGenericMethod(cellMath), true, true);

    private static KernelEntry Entry(string name, Type type, string method, bool grouped, bool hot) =>
        new(name, type.GetMethod(method, BindingFlags.Public | BindingFlags.Static)
            ?? throw new MissingMethodException(type.Name, method), grouped, hot);
}
