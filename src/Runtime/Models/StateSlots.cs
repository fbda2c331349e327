namespace GpuLstm.Runtime.Models;

/// <summary>
/// Where a recurrent layer keeps its states: slots 0 … T of its (T+1,B,H) state buffers. Forward: step t
/// reads slot t and writes slot t+1, so the initial state is slot 0. Reverse (the backward half of a
/// bidirectional layer): step t reads slot t+1 and writes slot t, so the initial state is slot T, the final
/// one slot 0, and in both directions the output at input time t is slot <see cref="Out"/>(t). LSTM and GRU
/// layers share this one scheme.
/// </summary>
internal readonly record struct StateSlots(bool Reverse)
{
    /// <summary>The slot step t reads its previous state from.</summary>
    public int Prev(int t) => Reverse ? t + 1 : t;

    /// <summary>The slot step t writes.</summary>
    public int Out(int t) => Reverse ? t : t + 1;

    public int Initial(int steps) => Reverse ? steps : 0;
    public int Final(int steps) => Reverse ? 0 : steps;

    /// <summary>The input time of the i-th step forward runs (0 … T−1, or T−1 … 0 in reverse).</summary>
    public int ForwardStep(int i, int steps) => Reverse ? steps - 1 - i : i;

    /// <summary>The input time of the i-th step backward visits: forward's order, reversed.</summary>
    public int BackwardStep(int i, int steps) => Reverse ? i : steps - 1 - i;
}
