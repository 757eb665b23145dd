namespace OrleansFeatures.Grains.Interfaces;

/// <summary>
/// The durable, versioned registry of definitions. One activation per cluster (key <see cref="DefaultKey"/>).
/// Every apply replaces the whole set of definition documents, so the registry always equals a reviewed folder.
/// </summary>
public interface IRegistryGrain : IGrainWithStringKey
{
    const string DefaultKey = "default";

    /// <summary>Validates and plans <paramref name="documents"/>; applies them unless <paramref name="dryRun"/> or the plan is rejected.</summary>
    /// <param name="expectedVersion">
    /// When given, the registry version the caller read and based its documents on: if the registry is at another
    /// version nothing is validated or applied and the result has <see cref="RegistryApplyResult.VersionConflict"/>
    /// set, so of concurrent appliers that read the same version exactly one wins. Null applies over any version.
    /// </param>
    Task<RegistryApplyResult> Apply(List<DefinitionDocumentDto> documents, bool dryRun, long? expectedVersion = null);

    /// <summary>The current version and its documents.</summary>
    [Orleans.Concurrency.ReadOnly]
    Task<RegistrySnapshot> GetSnapshot();

    [Orleans.Concurrency.ReadOnly]
    Task<long> GetVersion();

    /// <summary>
    /// A silo's report of the C# feature types it loaded at start (<c>FeatureStore:FeatureTypes:Directory</c>): every
    /// silo sends one once it has started. An apply naming a type some active silo did not report is refused.
    /// </summary>
    Task ReportFeatureTypes(SiloFeatureTypes report);

    /// <summary>Every active silo of the cluster with the feature types it reported (<see cref="SiloFeatureTypes.Reported"/> false for a silo that has not yet).</summary>
    Task<List<SiloFeatureTypes>> GetFeatureTypes();
}

/// <summary>The C# feature types (<c>name@version</c>) one silo loaded.</summary>
/// <param name="Silo">The silo's address (<c>SiloAddress.ToParsableString()</c>), new at every start.</param>
/// <param name="Name">The silo's name (a pod's name under Kubernetes).</param>
/// <param name="Reported">False for an active silo that has not reported yet: it counts as having loaded none.</param>
[GenerateSerializer, Immutable, Alias("of.SiloFeatureTypes")]
public sealed record SiloFeatureTypes(
    [property: Id(0)] string Silo,
    [property: Id(1)] string Name,
    [property: Id(2)] IReadOnlyList<string> Types,
    [property: Id(3)] bool Reported = true);

[GenerateSerializer, Immutable, Alias("of.DefinitionDocument")]
public sealed record DefinitionDocumentDto([property: Id(0)] string Name, [property: Id(1)] string Yaml);

[GenerateSerializer, Immutable, Alias("of.RegistrySnapshot")]
public sealed record RegistrySnapshot(
    [property: Id(0)] long Version,
    [property: Id(1)] DateTimeOffset AppliedAt,
    [property: Id(2)] IReadOnlyList<DefinitionDocumentDto> Documents);

[GenerateSerializer, Immutable, Alias("of.DefinitionErrorDto")]
public sealed record DefinitionErrorDto(
    [property: Id(0)] string File,
    [property: Id(1)] int Line,
    [property: Id(2)] int Column,
    [property: Id(3)] string Field,
    [property: Id(4)] string Message,
    [property: Id(5)] string Text);

[GenerateSerializer, Immutable, Alias("of.DefinitionChangeDto")]
public sealed record DefinitionChangeDto(
    [property: Id(0)] string Kind,
    [property: Id(1)] string ObjectType,
    [property: Id(2)] string Name,
    [property: Id(3)] string Description,
    [property: Id(4)] bool Breaking);

/// <summary>What an apply (or a dry run) found and did.</summary>
/// <param name="Applied">True when the registry now holds the submitted documents as <paramref name="Version"/>.</param>
/// <param name="Version">The registry version after the call (unchanged when not applied).</param>
/// <param name="Errors">Validation errors; any error means nothing was applied.</param>
/// <param name="Changes">The plan: added, changed and removed objects.</param>
/// <param name="Rejections">Breaking changes that were refused, each with its reason.</param>
[GenerateSerializer, Immutable, Alias("of.RegistryApplyResult")]
public sealed record RegistryApplyResult(
    [property: Id(0)] bool Applied,
    [property: Id(1)] long Version,
    [property: Id(2)] IReadOnlyList<DefinitionErrorDto> Errors,
    [property: Id(3)] IReadOnlyList<DefinitionChangeDto> Changes,
    [property: Id(4)] IReadOnlyList<string> Rejections)
{
    /// <summary>True when the caller expected another registry version than <see cref="Version"/>; nothing was checked or applied.</summary>
    [Id(5)]
    public bool VersionConflict { get; init; }
}
