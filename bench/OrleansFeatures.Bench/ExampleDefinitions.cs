using OrleansFeatures.TestInfrastructure;
using OrleansFeatures.V1;

/// <summary>The repository's example definitions as one apply request, as every benchmark starts with them.</summary>
internal static class ExampleDefinitions
{
    public static async Task<ApplyDefinitionsRequest> RequestAsync()
    {
        var apply = new ApplyDefinitionsRequest();
        foreach (var path in Directory.GetFiles(RepositoryPaths.ExampleDefinitions, "*.yaml").Order(StringComparer.Ordinal))
        {
            apply.Documents.Add(new DefinitionDocument { Name = Path.GetFileName(path), Yaml = await File.ReadAllTextAsync(path) });
        }

        return apply;
    }
}
