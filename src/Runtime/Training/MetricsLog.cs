using System.Globalization;
using System.Text;
using GpuLstm.Runtime.Files;

namespace GpuLstm.Runtime.Training;

/// <summary>One row of the metrics file: a training step, with the validation loss on steps that evaluated. A value type: one is added every step.</summary>
internal readonly record struct MetricsRow(long Step, int Epoch, double TrainLoss, double? ValLoss, double LearningRate, double TokensPerSecond);

/// <summary>
/// The metrics CSV (step, epoch, train_loss, val_loss, lr, tokens_per_s), kept in memory and rewritten
/// atomically at every checkpoint and at the end, so the file on disk is always whole and always matches a
/// checkpoint. A resumed run reads back the rows up to its step and continues them.
/// </summary>
internal sealed class MetricsLog
{
    public const string Header = "step,epoch,train_loss,val_loss,lr,tokens_per_s";
    private readonly List<MetricsRow> _rows = new();

    public IReadOnlyList<MetricsRow> Rows => _rows;

    public void Add(MetricsRow row) => _rows.Add(row);

    /// <summary>Puts the validation loss on the row of <paramref name="step"/> (the step that triggered the evaluation).</summary>
    public void SetValLoss(long step, double valLoss)
    {
        if (_rows.Count > 0 && _rows[^1].Step == step) _rows[^1] = _rows[^1] with { ValLoss = valLoss };
    }

    public string ToCsv()
    {
        var sb = new StringBuilder(Header).Append('\n');
        foreach (var r in _rows)
            sb.Append(string.Create(CultureInfo.InvariantCulture,
                $"{r.Step},{r.Epoch + 1},{r.TrainLoss:R},{(r.ValLoss is double v ? v.ToString("R", CultureInfo.InvariantCulture) : "")},{r.LearningRate:R},{r.TokensPerSecond:F0}\n"));
        return sb.ToString();
    }

    public void Save(string path) => AtomicFile.Write(path, "metrics file", Serializer());

    /// <summary>The CSV as it is now, written to a stream later (see <see cref="FileTransaction"/>).</summary>
    public Action<Stream> Serializer()
    {
        byte[] bytes = Encoding.UTF8.GetBytes(ToCsv());
        return s => s.Write(bytes);
    }

    /// <summary>The rows of an earlier run's file up to and including <paramref name="upToStep"/> (none if the file is missing).</summary>
    public static MetricsLog LoadUpTo(string path, long upToStep)
    {
        var log = new MetricsLog();
        if (!File.Exists(path)) return log;
        var lines = File.ReadAllLines(path);
        if (lines.Length == 0 || lines[0] != Header) throw new GpuLstmException($"metrics file '{path}' is not a gpulstm metrics file; move it away to resume");
        for (int i = 1; i < lines.Length; i++)
        {
            var c = lines[i].Split(',');
            static double D(string s) => double.Parse(s, CultureInfo.InvariantCulture);
            try
            {
                var row = new MetricsRow(long.Parse(c[0], CultureInfo.InvariantCulture), int.Parse(c[1], CultureInfo.InvariantCulture) - 1, D(c[2]),
                    c[3].Length == 0 ? null : D(c[3]), D(c[4]), D(c[5]));
                if (row.Step <= upToStep) log.Add(row);
            }
            catch (Exception e) when (e is FormatException or IndexOutOfRangeException or OverflowException)
            {
                throw new GpuLstmException($"metrics file '{path}' line {i + 1} is malformed; move it away to resume");
            }
        }
        return log;
    }
}
