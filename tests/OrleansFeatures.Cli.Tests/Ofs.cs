using System.Text.Json;

namespace OrleansFeatures.Cli.Tests;

/// <summary>Runs <c>ofs</c> in-process, as its Program does, and captures the exit code, stdout and stderr.</summary>
internal static class Ofs
{
    public static async Task<OfsRun> RunAsync(params string[] args) => await RunAsync(CancellationToken.None, args);

    public static async Task<OfsRun> RunAsync(CancellationToken cancellationToken, params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = await OfsCommand.RunAsync(args, output, error, interactive: false, cancellationToken);
        return new OfsRun(code, output.ToString(), error.ToString());
    }
}

internal sealed record OfsRun(int ExitCode, string Output, string Error)
{
    public JsonElement Json => JsonDocument.Parse(Output).RootElement;

    public override string ToString() => $"exit {ExitCode}\nstdout:\n{Output}\nstderr:\n{Error}";
}
