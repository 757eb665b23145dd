using OrleansFeatures.Core.Events;

namespace OrleansFeatures.Offline.Files;

/// <summary>
/// One row of a table file: its fields by name (nulls absent), where it came from (file and 1-based line or row
/// number, for error messages), or why it could not be read. The field dictionary is reused for the next row.
/// </summary>
public readonly record struct TableRow(IReadOnlyDictionary<string, ScalarValue> Fields, string File, long Row, string? Error)
{
    public string Where => $"{File}:{Row}";

    /// <summary>The file's columns in header (CSV) or schema (Parquet) order; null for JSON lines, which have none.</summary>
    public IReadOnlyList<string>? Columns { get; init; }
}
