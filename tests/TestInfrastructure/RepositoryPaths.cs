namespace OrleansFeatures.TestInfrastructure;

/// <summary>Finds the repository and build outputs from a running test.</summary>
public static class RepositoryPaths
{
    /// <summary>The folder holding OrleansFeatures.sln, found by walking up from the test binaries.</summary>
    public static string Root { get; } = FindRoot();

    public static string ExampleDefinitions => Path.Combine(Root, "examples", "definitions");

    /// <summary>Debug or Release: whichever configuration the running tests were built in.</summary>
    public static string Configuration
    {
        get
        {
            var parts = AppContext.BaseDirectory.Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries);
            var bin = Array.LastIndexOf(parts, "bin");
            return bin >= 0 && bin + 1 < parts.Length ? parts[bin + 1] : "Debug";
        }
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "OrleansFeatures.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"no OrleansFeatures.sln above {AppContext.BaseDirectory}");
    }
}
