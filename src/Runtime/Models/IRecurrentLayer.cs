using ILGPU;

namespace GpuLstm.Runtime.Models;

/// <summary>
/// A recurrent layer over a whole time-major sequence (row t·B + b), as the models use it: LSTM and GRU
/// both implement it. A layer with <see cref="Reverse"/> runs its recurrence from t = T−1 down to 0 (the
/// backward half of a bidirectional layer); its outputs are still indexed by input time t.
/// </summary>
public interface IRecurrentLayer : IDisposable
{
    /// <summary>"lstm" or "gru": the cell's name in checkpoints and messages.</summary>
    string Cell { get; }
    int InputSize { get; }   // X
    int Hidden { get; }      // H
    bool Reverse { get; }
    ParameterTensor InputWeights { get; }      // (X,G·H), G = 4 (LSTM) or 3 (GRU)
    ParameterTensor RecurrentWeights { get; }  // (H,G·H)

    /// <summary>Keras's defaults for the cell: glorot_uniform input kernel, orthogonal recurrent kernel.</summary>
    void InitializeKerasDefaults(Rng rng);

    /// <summary>(T,B,H): row t·B + b is the layer's output at input time t.</summary>
    ArrayView<float> Outputs(int steps, int batch);

    /// <summary>(B,H): the final state (h_T forward, the state after t = 0 in reverse).</summary>
    ArrayView<float> LastOutput(int steps, int batch);

    /// <summary>(B,H) where a caller whose loss sees only the final state writes its gradient before <see cref="Backward"/>.</summary>
    ArrayView<float> LastOutputGradient(int batch);

    /// <summary>Zeroes the initial state of the first <paramref name="batch"/> sequences (forward direction).</summary>
    void ResetState(int batch);

    /// <summary>Floats in the carried (initial) state of <paramref name="batch"/> sequences (h, and c for an LSTM).</summary>
    int StateLength(int batch);

    /// <summary>Copies the carried state to the host, for a resumable checkpoint or around an evaluation.</summary>
    void ReadState(int batch, Span<float> destination);

    /// <summary>Sets the carried state from <see cref="ReadState"/>'s layout.</summary>
    void WriteState(int batch, ReadOnlySpan<float> source);

    /// <summary>Makes the last forward's final state the next forward's initial state (forward direction only).</summary>
    void CarryState(int steps, int batch);

    /// <summary>Whole-sequence forward from a zero state, or from the carried one.</summary>
    void Forward(LayerInput input, int steps, int batch, bool fromCarriedState = false);

    /// <summary>
    /// Backward through the last <see cref="Forward"/>; writes (not accumulates) the layer's gradients.
    /// outputGradients (T,B,H) when hasOutputGradients, else the caller filled <see cref="LastOutputGradient"/>;
    /// dx (T,B,X) is written when computeInputGradient (dense inputs only).
    /// </summary>
    void Backward(LayerInput input, int steps, int batch, ArrayView<float> outputGradients, bool hasOutputGradients,
        ArrayView<float> dx, bool computeInputGradient);
}
