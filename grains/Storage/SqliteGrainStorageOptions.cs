using Orleans;
using Orleans.Storage;

namespace OrleansFeatures.Grains.Storage;

/// <summary>Settings for <see cref="SqliteGrainStorage"/>, bound from <c>FeatureStore:Sqlite</c>.</summary>
public sealed class SqliteGrainStorageOptions : IStorageProviderSerializerOptions
{
    /// <summary>Path of the database file; its folder is created if missing.</summary>
    public string DatabasePath { get; set; } = "data/orleansfeatures.db";

    /// <summary>
    /// Most writes committed in one transaction. Writes that arrive while a commit is in flight are grouped
    /// into the next one, so one fsync serves many grains.
    /// </summary>
    public int MaxWritesPerCommit { get; set; } = 512;

    /// <summary>
    /// SQLite's page cache per connection, in MiB. The writer looks up every row it writes: with SQLite's 2 MiB
    /// default, entity states beyond a few thousand are read back from the file on every write.
    /// </summary>
    public int CacheSizeMiB { get; set; } = 64;

    /// <summary>
    /// How much of the file SQLite reads through a memory map instead of read calls, in MiB (0 turns it off).
    /// Writes still go through the WAL with <c>synchronous=FULL</c>.
    /// </summary>
    public int MemoryMapSizeMiB { get; set; } = 256;

    /// <summary>Silo lifecycle stage at which the database is opened.</summary>
    public int InitStage { get; set; } = ServiceLifecycleStage.ApplicationServices;

    public IGrainStorageSerializer GrainStorageSerializer { get; set; } = null!;
}
