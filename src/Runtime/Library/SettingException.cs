namespace GpuLstm;

/// <summary>
/// A setting with a value that cannot work. <see cref="Setting"/> names it as the settings types do
/// (<c>nameof(AdamOptions.LearningRate)</c>), so a front end can say which of its own options it was: the
/// CLI prints "--lr: learning rate must be a positive number, got 0". The message itself names no option
/// of any front end.
/// </summary>
public sealed class SettingException : GpuLstmException
{
    public string Setting { get; }

    /// <summary>The words that name the setting in <see cref="Exception.Message"/> ("the hidden size"), which a front end may replace with its own name for it ("--hidden"); null when the message has none.</summary>
    public string? Subject { get; }

    public SettingException(string setting, string message, string? subject = null) : base(message)
    {
        Setting = setting;
        Subject = subject;
    }
}
