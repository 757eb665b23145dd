namespace OrleansFeatures.Offline.Files;

/// <summary>The file formats the offline path reads: JSON lines, CSV with a header row, and Parquet.</summary>
public enum TableFormat
{
    JsonLines,
    Csv,
    Parquet,
}

/// <summary>Finds the files of a dataset (one file, or every data file of a folder in name order) and their formats.</summary>
public static class TableFiles
{
    public static TableFormat FormatOf(string path) => Path.GetExtension(path).ToLowerInvariant() switch
    {
        ".jsonl" or ".ndjson" or ".json" => TableFormat.JsonLines,
        ".csv" => TableFormat.Csv,
        ".parquet" or ".pq" => TableFormat.Parquet,
        var other => throw new InvalidDataException($"{path}: unknown file type '{other}' (expected .jsonl, .ndjson, .csv or .parquet)"),
    };

    /// <summary>The file itself, or the data files of a folder (recursively, ordinal name order, so a replay is repeatable).</summary>
    public static IReadOnlyList<string> Expand(string path)
    {
        if (File.Exists(path))
        {
            return [path];
        }

        if (!Directory.Exists(path))
        {
            throw new FileNotFoundException($"{path}: no such file or folder", path);
        }

        var files = Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories)
            .Where(f => Path.GetExtension(f).ToLowerInvariant() is ".jsonl" or ".ndjson" or ".json" or ".csv" or ".parquet" or ".pq")
            .Order(StringComparer.Ordinal)
            .ToList();
        if (files.Count == 0)
        {
            throw new FileNotFoundException($"{path}: the folder holds no .jsonl, .ndjson, .csv or .parquet file", path);
        }

        return files;
    }
}
