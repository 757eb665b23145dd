namespace OrleansFeatures.Grains.Hosting;

/// <summary>Where a silo keeps cluster membership and grain state (<c>FeatureStore:Mode</c>).</summary>
public enum FeatureStoreMode
{
    /// <summary>One node: localhost clustering and the storage named by <c>FeatureStore:Storage</c> (SQLite by default).</summary>
    Embedded,

    /// <summary>A cluster: membership in an Azure Table, entity and registry state in Azure Storage (<c>FeatureStore:AzureStorage</c>).</summary>
    AzureStorage,
}

/// <summary>Which Azure Storage service holds grain state (<c>FeatureStore:AzureStorage:GrainStorage</c>).</summary>
public enum AzureGrainStorageKind
{
    /// <summary>One blob per grain state: no size limit, so a large entity state always fits (the default; docs/decisions/011).</summary>
    Blob,

    /// <summary>One table entity per grain state: Azure Table limits an entity to 1 MiB, so a state above ~0.9 MiB fails to write.</summary>
    Table,
}
