using System.Text.Encodings.Web;
using System.Text.Json;

namespace OrleansFeatures.Cli;

/// <summary>Where a command writes: results to <see cref="Out"/> (text or one JSON document), diagnostics and progress to <see cref="Error"/>.</summary>
public sealed class CliOutput(TextWriter output, TextWriter error, bool json, bool interactive)
{
    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public TextWriter Out { get; } = output;

    public TextWriter Error { get; } = error;

    public bool Json { get; } = json;

    /// <summary>True when stderr is a terminal: progress redraws one line instead of printing one every few seconds.</summary>
    public bool Interactive { get; } = interactive;

    public void WriteJson(object value) => Out.WriteLine(JsonSerializer.Serialize(value, JsonOptions));

    public void Line(string text)
    {
        if (!Json)
        {
            Out.WriteLine(text);
        }
    }

    public ProgressLine Progress(string what) => new(Error, what, Interactive);
}
