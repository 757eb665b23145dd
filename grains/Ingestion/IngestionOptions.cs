using Microsoft.Extensions.Options;
using OrleansFeatures.Streaming.Kafka;

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

    /// <summary>
    /// Ingestion worker threads per silo (<see cref="IngestionLane"/>): dedicated threads, not the .NET thread pool that
    /// serves requests, that run ingestion's CPU work (applying deliveries in place, packing and serializing entity
    /// writes). Default half the cores (at least 1), so requests keep the rest.
    /// </summary>
    public int Workers { get; set; } = DefaultWorkers;

    /// <summary>
    /// How many nice steps below the process's own OS priority the lane's workers and the Kafka consume threads run
    /// (Linux): when the cores are contended the kernel runs request handling first. 0 keeps them at the process's
    /// priority. Raising a nice value needs no privilege; where it fails, a warning is logged and counted.
    /// </summary>
    public int WorkerNice { get; set; } = DefaultWorkerNice;

    public const int DefaultWorkerNice = 10;

    /// <summary>
    /// True (default): a partition ingester applies events to entities active on its own silo without a grain call,
    /// under the entity's views lock (<c>docs/architecture.md</c>, "The ingestion lane"). False calls every entity's
    /// grain, kept to measure the difference.
    /// </summary>
    public bool ApplyInPlace { get; set; } = true;

    public static int DefaultWorkers => Math.Max(1, Environment.ProcessorCount / 2);

    /// <summary>Largest accepted <see cref="Workers"/>.</summary>
    public const int MaxWorkers = 1024;
}

/// <summary>Refuses, at start-up, an ingestion setting that could not work (a zero limit would deadlock checkpoints), naming the setting.</summary>
public sealed class IngestionOptionsValidator : IValidateOptions<IngestionOptions>
{
    public ValidateOptionsResult Validate(string? name, IngestionOptions options)
    {
        List<string>? failures = null;
        if (!options.ProducesToKafka && !string.Equals(options.Mode, "Direct", StringComparison.OrdinalIgnoreCase))
        {
            (failures ??= []).Add($"FeatureStore:Ingestion:Mode is '{options.Mode}'; it must be Direct or Kafka");
        }

        if (options.Workers is < 1 or > IngestionOptions.MaxWorkers)
        {
            (failures ??= []).Add($"FeatureStore:Ingestion:Workers is {options.Workers}; it must be between 1 and {IngestionOptions.MaxWorkers}");
        }

        if (options.WorkerNice is < 0 or > ThreadNice.Max)
        {
            (failures ??= []).Add($"FeatureStore:Ingestion:WorkerNice is {options.WorkerNice}; it must be between 0 and {ThreadNice.Max}");
        }

        if (options.MaxEntityCallsInFlight < 1)
        {
            (failures ??= []).Add($"FeatureStore:Ingestion:MaxEntityCallsInFlight is {options.MaxEntityCallsInFlight}; it must be at least 1");
        }

        if (options.MaxUncheckpointedEntities < 1)
        {
            (failures ??= []).Add($"FeatureStore:Ingestion:MaxUncheckpointedEntities is {options.MaxUncheckpointedEntities}; it must be at least 1");
        }

        if (options.CheckpointInterval <= TimeSpan.Zero)
        {
            (failures ??= []).Add($"FeatureStore:Ingestion:CheckpointInterval is {options.CheckpointInterval}; it must be positive");
        }

        return failures is null ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
