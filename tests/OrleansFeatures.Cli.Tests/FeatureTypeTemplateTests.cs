using System.Diagnostics;
using OrleansFeatures.TestInfrastructure;

namespace OrleansFeatures.Cli.Tests;

/// <summary>The <c>dotnet new</c> template of a feature type (sdk/templates/featuretype) makes one class and one test that pass.</summary>
public sealed class FeatureTypeTemplateTests
{
    [Fact]
    public async Task The_template_makes_a_feature_type_whose_conformance_test_passes()
    {
        using var temp = new TempDirectory();
        var hive = Path.Combine(temp.Path, "hive");
        var template = Path.Combine(RepositoryPaths.Root, "sdk", "templates", "featuretype");
        var sdk = Path.Combine(RepositoryPaths.Root, "sdk", "OrleansFeatures.Sdk", "OrleansFeatures.Sdk.csproj");
        await DotnetAsync(temp.Path, "new", "install", template, "--debug:custom-hive", hive);

        await DotnetAsync(temp.Path, "new", "orleansfeatures-featuretype", "-n", "Momentum", "-o", "momentum", "--typeName", "momentum_test", "--sdkPath", sdk, "--debug:custom-hive", hive);

        var project = Path.Combine(temp.Path, "momentum");
        Assert.True(File.Exists(Path.Combine(project, "Momentum", "MomentumFeatureType.cs")));
        Assert.Contains("\"momentum_test\"", await File.ReadAllTextAsync(Path.Combine(project, "Momentum", "MomentumFeatureType.cs")), StringComparison.Ordinal);
        var test = await DotnetAsync(project, "test", Path.Combine(project, "Momentum.Tests", "Momentum.Tests.csproj"));
        Assert.Contains("Passed!", test, StringComparison.Ordinal);
        Assert.Contains("Passed:     2", test, StringComparison.Ordinal);
    }

    private static async Task<string> DotnetAsync(string directory, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        // The generated projects live outside the repository: no central package management or shared build settings.
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(8));
        var text = $"{await output}\n{await error}";
        Assert.True(process.ExitCode == 0, $"dotnet {string.Join(' ', args)} exited {process.ExitCode}:\n{text}");
        return text;
    }
}
