namespace GpuLstm.Runtime;

/// <summary>
/// A setting with a value that cannot work. <see cref="Setting"/> names it as the settings types do
/// (<c>nameof(AdamOptions.LearningRate)</c>), so a front end can say which of its own options it was: the
/// CLI prints "--lr: learning rate must be a positive number, got 0". The message itself names no option
/// of any front end.
/// </summary>
public sealed class SettingException : GpuLstmException
{
    public string Setting { get; }

    public SettingException(string setting, string message) : base(message) => Setting = setting;
}
