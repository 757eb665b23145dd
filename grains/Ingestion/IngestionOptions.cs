namespace OrleansFeatures.Grains.Ingestion;

/// <summary>How events reach entity grains: the push mode, and how partition ingesters call and checkpoint entities (<c>FeatureStore:Ingestion</c>).</summary>
public sealed class IngestionOptions
{
    /// <summary>
    /// <c>Direct</c> (default): the push API calls entity grains and answers once state is durable.
    /// <c>Kafka</c>: the push API writes each valid event to its source topic and answers once the broker has it;
    /// grains then apply it from the topic, so all ingestion shares one ordered, replayable path.
    /// </summary>
    public string Mode { get; set; } = "Direct";

    public bool ProducesToKafka => string.Equals(Mode, "Kafka", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// Entity grain calls one partition's ingester keeps in flight while it applies a delivery. Enough to keep both
    /// cores busy while calls wait for their state writes; bounded so a delivery touching 50,000 entities does not
    /// flood the silo's scheduler ahead of lookups.
    /// </summary>
    public int MaxEntityCallsInFlight { get; set; } = 512;

    /// <summary>
    /// How often a stream partition's ingester makes the entities it touched durable (at most one write per entity per
    /// interval). Events are servable before; the partition's offsets are committed after. Also the bulk of the
    /// longest replay after a crash (<c>docs/durability.md</c>).
    /// </summary>
    public TimeSpan CheckpointInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Entities one partition may have applied but not yet written; past it a checkpoint starts at once, and deliveries wait for the one in flight.</summary>
    public int MaxUncheckpointedEntities { get; set; } = 100_000;
}
