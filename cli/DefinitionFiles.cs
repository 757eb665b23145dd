using OrleansFeatures.Core.Definitions;

namespace OrleansFeatures.Cli;

/// <summary>Definition documents from files and folders (every .yaml and .yml below a folder, in name order).</summary>
public static class DefinitionFiles
{
    public static List<DefinitionDocument> Read(IReadOnlyList<string> paths)
    {
        var documents = new List<DefinitionDocument>();
        foreach (var path in paths)
        {
            if (Directory.Exists(path))
            {
                foreach (var file in Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories)
                    .Where(f => Path.GetExtension(f) is ".yaml" or ".yml")
                    .Order(StringComparer.Ordinal))
                {
                    documents.Add(new DefinitionDocument(file, File.ReadAllText(file)));
                }
            }
            else if (File.Exists(path))
            {
                documents.Add(new DefinitionDocument(path, File.ReadAllText(path)));
            }
            else
            {
                throw new FileNotFoundException($"{path}: no such file or folder", path);
            }
        }

        if (documents.Count == 0)
        {
            throw new FileNotFoundException($"no .yaml or .yml definition files in {string.Join(", ", paths)}");
        }

        return documents;
    }
}
