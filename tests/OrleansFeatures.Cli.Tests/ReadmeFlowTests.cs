using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using OrleansFeatures.TestInfrastructure;

namespace OrleansFeatures.Cli.Tests;

/// <summary>
/// The README's product-team flow, read from README.md and run by bash line for line against a real gateway: if a
/// command there stops working, or the README drifts from what works, this fails.
/// </summary>
public sealed class ReadmeFlowTests
{
    private const string Heading = "## From a definition to a served, trained feature (product teams)";
    private const string Alias = "alias ofs='dotnet run --project cli --'";

    [Fact]
    public async Task The_readme_product_team_commands_run_as_written_and_serve_the_backfilled_history()
    {
        var lines = ReadmeCommands();
        Assert.StartsWith(Alias, lines[0], StringComparison.Ordinal);

        using var temp = new TempDirectory();
        await using var gateway = new GatewayProcess(Path.Combine(temp.Path, "store"));
        Directory.CreateDirectory(Path.Combine(temp.Path, "store"));
        await gateway.StartAsync();

        // A copy of what the commands read, so nothing is written into the repository; `dotnet run --project cli`
        // is the built ofs.dll here (the alias is the one line not run verbatim: it would build the CLI again).
        var work = Path.Combine(temp.Path, "repo");
        CopyFolder(RepositoryPaths.ExampleDefinitions, Path.Combine(work, "examples", "definitions"));
        var ofs = Path.Combine(RepositoryPaths.Root, "cli", "bin", RepositoryPaths.Configuration, "net10.0", "ofs.dll");
        var script = string.Join('\n', ["set -euo pipefail", "shopt -s expand_aliases", $"alias ofs='dotnet {ofs}'", .. lines.Skip(1), ""]);

        var (code, output) = await RunBashAsync(work, script, gateway.GrpcAddress.ToString());

        Assert.True(code == 0, $"exit {code}\n{output}");
        Assert.Matches(@"done: 20,000 row\(s\); accepted 20,000, duplicate 0, late 0, rejected 0", output);
        Assert.True(File.Exists(Path.Combine(work, "train.parquet")), output);
        Assert.Contains("fan-1", output, StringComparison.Ordinal);

        // The training-set summary accounts for every routed event: replayed, or why not.
        var summary = Regex.Match(output, @"(?<routed>[\d,]+) reach an entity of the service's type, of which (?<replayed>[\d,]+) replayed and (?<not>[\d,]+) not: (?<after>[\d,]+) arrived after their entity's last label row, (?<without>[\d,]+) are of entities");
        Assert.True(summary.Success, output);
        long Count(string name) => long.Parse(summary.Groups[name].Value, NumberStyles.AllowThousands, CultureInfo.InvariantCulture);
        Assert.Equal(20_000, Count("routed"));
        Assert.Equal(Count("routed"), Count("replayed") + Count("not"));
        Assert.Equal(Count("not"), Count("after") + Count("without"));
        Assert.True(Count("after") > 0, output);
    }

    [Fact]
    public void The_readme_test_command_names_the_set_up_that_installs_what_the_tests_need_and_ci_runs_it()
    {
        var readme = File.ReadAllText(Path.Combine(RepositoryPaths.Root, "README.md"));
        var quickstart = readme[readme.IndexOf("## Quickstart", StringComparison.Ordinal)..readme.IndexOf("## What is here", StringComparison.Ordinal)];
        var setup = File.ReadAllText(Path.Combine(RepositoryPaths.Root, ".ci", "setup"));
        var run = File.ReadAllText(Path.Combine(RepositoryPaths.Root, ".ci", "run"));

        Assert.Contains("dotnet test OrleansFeatures.sln", quickstart, StringComparison.Ordinal);
        Assert.Contains(".ci/setup", quickstart, StringComparison.Ordinal);
        Assert.Contains(".ci/setup", run, StringComparison.Ordinal);
        foreach (var needed in new[] { "azurite", "kubernetes-client", "python3-grpcio", "python3-protobuf", "python3-numpy" })
        {
            Assert.Contains(needed, setup, StringComparison.Ordinal);
        }

        foreach (var named in new[] { "Azurite", "kubectl", "python3-grpcio", "python3-protobuf", "python3-numpy" })
        {
            Assert.Contains(named, quickstart, StringComparison.Ordinal);
        }
    }

    /// <summary>The lines of the section's bash block, continuation lines joined.</summary>
    private static List<string> ReadmeCommands()
    {
        var readme = File.ReadAllText(Path.Combine(RepositoryPaths.Root, "README.md"));
        var section = readme[readme.IndexOf(Heading, StringComparison.Ordinal)..];
        var start = section.IndexOf("```bash\n", StringComparison.Ordinal) + "```bash\n".Length;
        var block = section[start..section.IndexOf("\n```", start, StringComparison.Ordinal)];
        return [.. block.Replace("\\\n", "\\\u0001", StringComparison.Ordinal).Split('\n')
            .Select(line => line.Replace("\\\u0001", "\\\n", StringComparison.Ordinal))
            .Where(line => line.Trim().Length > 0)];
    }

    private static async Task<(int Code, string Output)> RunBashAsync(string directory, string script, string address)
    {
        var start = new ProcessStartInfo("bash")
        {
            WorkingDirectory = directory,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.Environment["OFS_ADDRESS"] = address;
        using var process = Process.Start(start)!;
        await process.StandardInput.WriteAsync(script);
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout + await stderr);
    }

    private static void CopyFolder(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from))
        {
            File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
        }
    }
}
