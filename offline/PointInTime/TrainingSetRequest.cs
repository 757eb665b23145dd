using OrleansFeatures.Core.Engine;
using OrleansFeatures.Core.Definitions;
using OrleansFeatures.Core.Events;

namespace OrleansFeatures.Offline.PointInTime;

/// <summary>The historical events of one definition source: a file or a folder of table files, or Event Hubs Capture <c>.avro</c> files.</summary>
public sealed record EventInput(string Source, string Path);

/// <summary>What to build: a feature service's features for every row of an entity table, from historical events.</summary>
public sealed class TrainingSetRequest
{
    public required DefinitionSet Definitions { get; init; }

    /// <summary>The C# feature types the definitions may name (<c>ofs training-set --feature-types</c>): the same assemblies the silos load.</summary>
    public FeatureTypeCatalog FeatureTypes { get; init; } = FeatureTypeCatalog.Empty;

    public required string FeatureService { get; init; }

    /// <summary>One input per source that feeds the service's views.</summary>
    public required IReadOnlyList<EventInput> Events { get; init; }

    /// <summary>Entity keys, an <see cref="TimestampColumn"/> per row, and any label columns.</summary>
    public required string EntityTable { get; init; }

    /// <summary>The Parquet file written.</summary>
    public required string Output { get; init; }

    /// <summary>The entity table's key column; default: the entity type's key field.</summary>
    public string? KeyColumn { get; init; }

    public string TimestampColumn { get; init; } = "event_timestamp";

    /// <summary>
    /// An event column holding the time the store received the event (Unix ms or ISO-8601). When null, every event is
    /// taken to have arrived at its event time (docs/offline.md, "Arrival time").
    /// </summary>
    public string? ArrivalField { get; init; }

    /// <summary>Hash partitions by entity key: each is loaded, sorted and replayed on its own, so memory follows the largest.</summary>
    public int Partitions { get; init; } = 32;

    /// <summary>Partitions replayed at once (each on its own core, each holding its events in memory).</summary>
    public int Parallelism { get; init; } = Math.Max(1, Math.Min(2, Environment.ProcessorCount));

    /// <summary>Where spill files go; default: a new folder under the system temp path, deleted afterwards.</summary>
    public string? TempDirectory { get; init; }

    /// <summary>The admission rules of the online store (key, id and string lengths; finite numbers).</summary>
    public EventLimits Limits { get; init; } = new();

    /// <summary>
    /// Only the entity keys of this hash shard: events and rows of other keys are read and dropped, and the output holds
    /// the shard's rows in entity-table order (docs/offline.md, "Sharded runs"). Null: every key.
    /// </summary>
    public EntityShard? Shard { get; init; }

    /// <summary>Rows per Parquet row group of the output.</summary>
    public int RowGroupSize { get; init; } = 100_000;

    public IProgress<TrainingSetProgress>? Progress { get; init; }
}

/// <summary>Where a build is: a phase and how far through it (total null when unknown).</summary>
public readonly record struct TrainingSetProgress(string Phase, long Done, long? Total);
