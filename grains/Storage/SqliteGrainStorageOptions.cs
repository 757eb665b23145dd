using Orleans;
using Orleans.Storage;

namespace OrleansFeatures.Grains.Storage;

/// <summary>Settings for <see cref="SqliteGrainStorage"/>, bound from <c>FeatureStore:Storage:Sqlite</c>.</summary>
public sealed class SqliteGrainStorageOptions : IStorageProviderSerializerOptions
{
    /// <summary>Path of the database file; its folder is created if missing.</summary>
    public string DatabasePath { get; set; } = "data/orleansfeatures.db";

    /// <summary>
    /// Most writes committed in one transaction. Writes that arrive while a commit is in flight are grouped
    /// into the next one, so one fsync serves many grains.
    /// </summary>
    public int MaxWritesPerCommit { get; set; } = 512;

    /// <summary>Silo lifecycle stage at which the database is opened.</summary>
    public int InitStage { get; set; } = ServiceLifecycleStage.ApplicationServices;

    public IGrainStorageSerializer GrainStorageSerializer { get; set; } = null!;
}
