namespace OrleansFeatures.Core.Definitions;

/// <summary>Where a definition came from, so errors can name the file, line and column.</summary>
public readonly record struct SourceLocation(string File, int Line, int Column)
{
    public static SourceLocation None { get; } = new("<none>", 0, 0);

    public override string ToString() => $"{File}:{Line}:{Column}";
}
