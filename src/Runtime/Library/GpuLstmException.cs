namespace GpuLstm;

/// <summary>
/// A problem the user can fix (bad input, a missing file, an unknown device). The CLI prints its message
/// as one line and exits non-zero; any other exception is a bug.
/// </summary>
public class GpuLstmException : Exception
{
    public GpuLstmException(string message) : base(message) { }
    public GpuLstmException(string message, Exception inner) : base(message, inner) { }
}
