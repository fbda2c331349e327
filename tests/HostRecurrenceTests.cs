using GpuLstm.Runtime.Compute;
using GpuLstm.Runtime.Compute.Host;
using GpuLstm.Runtime.Models.Cells;
using ILGPU;
using ILGPU.Runtime;
using Xunit;

namespace GpuLstm.Tests;

/// <summary>
/// The host set's fused recurrence (<see cref="HostRecurrence"/>: the whole time loop in one parallel region)
/// against the step-by-step loop (<see cref="RecurrentStepParts"/>: a GEMM call and a cell call per step) on
/// the same inputs: bitwise equal for every cell, direction and start, with 1 to 3 threads, AVX2 and AVX-512
/// panels (the AVX-512 ones run in software where the CPU lacks them), and shapes whose units fill no panel
/// evenly and whose rows leave remainders of every register block. The step-by-step loop is itself checked
/// against float64 references and finite differences (RecurrentLayerTests, GradientCheckTests).
/// </summary>
[Collection(DeviceCollection.Name)]
public sealed unsafe class HostRecurrenceTests(TestDevices devices)
{
    public static IEnumerable<object[]> Cases() =>
        from cell in CellReference.CellNames
        from reverse in new[] { false, true }
        from fromZero in new[] { false, true }
        from shape in new[] { (H: 37, B: 5, T: 4), (H: 70, B: 13, T: 3), (H: 8, B: 1, T: 2) }
        select new object[] { cell, reverse, fromZero, shape.H, shape.B, shape.T };

    /// <summary>A sequence's buffers on the host accelerator, filled from one seed so two copies start equal.</summary>
    private sealed class Sequence : IDisposable
    {
        public readonly MemoryBuffer1D<float, Stride1D.Dense> Gates, Recurrent, HiddenSlots, CellSlots, OutputGradients, DhRec, Dc;

        public Sequence(Accelerator acc, RecurrentCell cell, int hidden, int batch, int steps, int seed)
        {
            var rng = new Random(seed);
            int gh = cell.Gates * hidden;
            Gates = TestData.Upload(acc, TestData.Uniform(rng, steps * batch * gh));
            Recurrent = TestData.Upload(acc, TestData.Uniform(rng, steps * batch * gh));
            // Slot 0 (or T in reverse) holds a carried state; the rest is overwritten.
            HiddenSlots = TestData.Upload(acc, TestData.Uniform(rng, (steps + 1) * batch * hidden));
            CellSlots = TestData.Upload(acc, TestData.Uniform(rng, (steps + 1) * batch * hidden));
            OutputGradients = TestData.Upload(acc, TestData.Uniform(rng, steps * batch * hidden));
            DhRec = TestData.Upload(acc, TestData.Uniform(rng, batch * hidden));
            Dc = TestData.Upload(acc, TestData.Uniform(rng, batch * hidden));
        }

        public RecurrentRun Run(RecurrentCell cell, int hidden, int batch, int steps, bool reverse, bool fromZero, bool allOutputs) => new()
        {
            Steps = steps, Batch = batch, Hidden = hidden, Gates = cell.Gates, Reverse = reverse,
            GateRows = Gates.View, RecurrentRows = cell.KeepsRecurrentProjection ? Recurrent.View : default,
            HiddenSlots = HiddenSlots.View, CellSlots = cell.HasCellState ? CellSlots.View : default, StartsFromZero = fromZero,
            OutputGradients = allOutputs ? OutputGradients.View : default, HasOutputGradients = allOutputs, DhRec = DhRec.View,
            Dc = cell.HasCellState ? Dc.View : default,
        };

        public float[][] Contents() => [Gates.GetAsArray1D(), Recurrent.GetAsArray1D(), HiddenSlots.GetAsArray1D(), CellSlots.GetAsArray1D(),
            DhRec.GetAsArray1D(), Dc.GetAsArray1D()];

        public void Dispose()
        {
            Gates.Dispose(); Recurrent.Dispose(); HiddenSlots.Dispose(); CellSlots.Dispose(); OutputGradients.Dispose(); DhRec.Dispose(); Dc.Dispose();
        }
    }

    private static readonly string[] BufferNames = ["gates", "recurrent", "h slots", "c slots", "dhRec", "dc"];

    private static void AssertBitwiseEqual(float[][] expected, float[][] actual, string what)
    {
        for (int b = 0; b < expected.Length; b++)
            for (int i = 0; i < expected[b].Length; i++)
                if (BitConverter.SingleToInt32Bits(expected[b][i]) != BitConverter.SingleToInt32Bits(actual[b][i]))
                    Assert.Fail($"{what}: {BufferNames[b]}[{i}]: step by step {expected[b][i]:G9}, fused {actual[b][i]:G9}");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void FusedRecurrenceIsBitwiseTheStepByStepLoop(string cellName, bool reverse, bool fromZero, int hidden, int batch, int steps)
    {
        var cell = RecurrentCell.Parse(cellName);
        var acc = devices.Host.Accelerator;
        var kernels = devices.Host.Kernels;
        int gh = cell.Gates * hidden, seed = TestData.FreshSeed();
        var rng = new Random(seed);
        using var wh = TestData.Upload(acc, TestData.Uniform(rng, hidden * gh, 0.5));
        using var bias = TestData.Upload(acc, TestData.Uniform(rng, gh));
        using var whT = acc.Allocate1D<float>(gh * hidden);
        var biasView = cell.KeepsRecurrentProjection ? bias.View : default;
        foreach (bool allOutputs in new[] { true, false })
        {
            float[][] expectedForward, expectedBackward;
            using (var reference = new Sequence(acc, cell, hidden, batch, steps, seed))
            {
                var run = reference.Run(cell, hidden, batch, steps, reverse, fromZero, allOutputs);
                RecurrentStepParts.ForwardSteps(kernels, cell, run, wh.View, biasView);
                kernels.Synchronize();
                expectedForward = reference.Contents();
                RecurrentStepParts.BackwardSteps(kernels, cell, run, wh.View, whT.View);
                kernels.Synchronize();
                expectedBackward = reference.Contents();
            }
            foreach (bool wide in new[] { false, true })
                foreach (int threads in new[] { 1, 2, 3 })
                {
                    string what = $"{cellName} reverse={reverse} fromZero={fromZero} H{hidden} B{batch} T{steps} allOutputs={allOutputs} " +
                        $"{(wide ? "AVX-512" : "AVX2")} panels, {threads} threads, seed {seed}";
                    using var pool = new WorkerPool(threads);
                    using var fused = new HostRecurrence(pool, wide) { MinParallelFlops = 0 };
                    using var sequence = new Sequence(acc, cell, hidden, batch, steps, seed);
                    var run = sequence.Run(cell, hidden, batch, steps, reverse, fromZero, allOutputs);
                    fused.Forward(cell, run, HostKernelSet.Pointer(wh.View), HostKernelSet.Pointer(biasView));
                    AssertBitwiseEqual(expectedForward, sequence.Contents(), what + ", forward");
                    fused.Backward(cell, run, HostKernelSet.Pointer(wh.View));
                    AssertBitwiseEqual(expectedBackward, sequence.Contents(), what + ", backward");
                }
        }
    }

    [Fact]
    public void ThreadsSplitTheUnitsInWholePanelsAndSmallStepsStayOnOne()
    {
        using var pool = new WorkerPool(4);
        using var avx2 = new HostRecurrence(pool, wide: false);
        using var avx512 = new HostRecurrence(pool, wide: true);
        Assert.Equal(16, avx2.PanelWidth);
        Assert.Equal(32, avx512.PanelWidth);
        var medium = new RecurrentRun { Steps = 100, Batch = 64, Hidden = 512, Gates = 4 };
        Assert.Equal(4, avx2.PartsFor(medium));
        // 40 units are three AVX2 panels and two AVX-512 ones: no more threads than panels.
        var narrow = medium with { Hidden = 40 };
        Assert.Equal(3, avx2.PartsFor(narrow));
        Assert.Equal(2, avx512.PartsFor(narrow));
        // A step of 2·1·4·8·8 = 512 FLOPs is not worth a barrier.
        Assert.Equal(1, avx2.PartsFor(medium with { Batch = 1, Hidden = 8 }));
    }
}
