using GpuLstm.Runtime.Data;
using GpuLstm.Runtime.Models;

namespace GpuLstm.Runtime.Training;

/// <summary>
/// Scores a token range with the loss at every position, without gradients or dropout. A training run's
/// carried state is saved before and restored after, so evaluating mid-epoch does not disturb the streams.
/// </summary>
internal sealed class Evaluator
{
    private readonly LanguageModel _model;
    private readonly TokenBatch _batch;
    private readonly float[] _savedState;

    public Evaluator(LanguageModel model)
    {
        _model = model;
        _batch = new TokenBatch(model.Config.SeqLength, model.MaxBatch);
        _savedState = new float[model.StateLength(model.MaxBatch)];
    }

    public EvalResult Evaluate(int[] tokens, int start, int length, EvalState mode, int batch, int steps, bool preserveTrainingState = false)
    {
        batch = Math.Min(batch, _model.MaxBatch);
        steps = Math.Min(steps, _model.Config.SeqLength);
        if (length < 2) throw new GpuLstmException($"the evaluation text has {length} tokens; it needs at least 2");
        if (preserveTrainingState) _model.ReadState(_model.MaxBatch, _savedState);
        double sum = 0;
        long count = 0;
        if (_model.Config.Loss == LossPositions.Last)
        {
            // The notebook's model predicts one token per window: score every window of the range, stride 1.
            var data = new WindowDataset(tokens.AsSpan(start, length).ToArray(), steps);
            var starts = new int[batch];
            for (int w0 = 0; w0 < data.Count; w0 += batch)
            {
                int size = Math.Min(batch, data.Count - w0);
                for (int b = 0; b < size; b++) starts[b] = w0 + b;
                data.FillBatch(starts.AsSpan(0, size), _batch, LossPositions.Last);
                sum += _model.Loss(_batch) * size;
                count += size;
            }
        }
        else if (mode == EvalState.Carry)
        {
            // As many streams as fit with at least one full window each, up to B.
            int streams = Math.Clamp((length - 1) / steps, 1, batch);
            var data = new StreamDataset(tokens, start, length, streams, steps, "the evaluation text");
            for (int i = 0; i < data.BatchesPerEpoch; i++)
            {
                data.FillBatch(i, _batch);
                int rows = _batch.Steps * _batch.Size;
                sum += _model.Loss(_batch, fromCarriedState: i > 0) * rows;
                count += rows;
                _model.CarryState(_batch.Steps, _batch.Size);
            }
        }
        else
        {
            int windows = length / (steps + 1);
            if (windows < 1) throw new GpuLstmException($"the evaluation text has {length} tokens, fewer than one window of {steps + 1}");
            for (int w0 = 0; w0 < windows; w0 += batch)
            {
                int size = Math.Min(batch, windows - w0);
                _batch.Steps = steps;
                _batch.Size = size;
                for (int b = 0; b < size; b++)
                {
                    int from = start + (w0 + b) * (steps + 1);
                    for (int t = 0; t < steps; t++)
                    {
                        _batch.Inputs[t * size + b] = tokens[from + t];
                        _batch.Targets[t * size + b] = tokens[from + t + 1];
                    }
                }
                int rows = steps * size;
                sum += _model.Loss(_batch) * rows;
                count += rows;
            }
        }
        if (preserveTrainingState) _model.WriteState(_model.MaxBatch, _savedState);
        return new EvalResult(sum / count, count);
    }
}
