namespace OrleansFeatures.Core.Definitions;

/// <summary>One problem in a definition file, located precisely enough to fix without searching.</summary>
/// <param name="Field">Path of the offending field, e.g. <c>feature_views[0].features[2].window</c>.</param>
public sealed record DefinitionError(string File, int Line, int Column, string Field, string Message)
{
    public override string ToString() => $"{File}:{Line}:{Column} {Field}: {Message}";
}

/// <summary>Either a validated <see cref="DefinitionSet"/> or every error found.</summary>
public sealed record DefinitionLoadResult(DefinitionSet? Set, IReadOnlyList<DefinitionError> Errors)
{
    public bool Succeeded => Set is not null;
}
