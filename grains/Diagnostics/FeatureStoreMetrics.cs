using System.Diagnostics.Metrics;

namespace OrleansFeatures.Grains.Diagnostics;

/// <summary>Every instrument of the feature store, on the one <c>OrleansFeatures</c> meter.</summary>
public static class FeatureStoreMetrics
{
    public const string MeterName = "OrleansFeatures";

    public static readonly Meter Meter = new(MeterName);

    public static readonly Counter<long> EventsAccepted = Meter.CreateCounter<long>(InstrumentNames.EventsAccepted, "{event}", "Events applied to entity state (durable before a push answers; on the stream path, made durable by the next checkpoint)");
    public static readonly Counter<long> EventsDuplicate = Meter.CreateCounter<long>(InstrumentNames.EventsDuplicate, "{event}", "Events ignored because their id was already applied");
    public static readonly Counter<long> EventsLate = Meter.CreateCounter<long>(InstrumentNames.EventsLate, "{event}", "Events dropped because they were older than the allowed lateness");
    public static readonly Counter<long> EventsRejected = Meter.CreateCounter<long>(InstrumentNames.EventsRejected, "{event}", "Events rejected by validation (reason in the response and the log)");
    public static readonly Counter<long> EventsFailed = Meter.CreateCounter<long>(InstrumentNames.EventsFailed, "{event}", "Pushed events known not to be applied (in Kafka mode: the broker refused them); the caller retries them");
    public static readonly Counter<long> EventsUnknownOutcome = Meter.CreateCounter<long>(InstrumentNames.EventsUnknownOutcome, "{event}", "Pushed events whose entity call or produce failed after it may have acted; the caller retries them with the same ids");
    public static readonly Counter<long> FeatureReads = Meter.CreateCounter<long>(InstrumentNames.FeatureReads, "{feature}", "Feature values served");
    public static readonly Counter<long> EntityReadsLocal = Meter.CreateCounter<long>(InstrumentNames.EntityReadsLocal, "{entity}", "Entity reads served from this silo's memory without a grain call");
    public static readonly Counter<long> EntityReadsByGrainCall = Meter.CreateCounter<long>(InstrumentNames.EntityReadsByGrainCall, "{entity}", "Entity reads that needed a grain call (not activated here, or behind the request's registry version)");
    public static readonly Counter<long> WarmReads = Meter.CreateCounter<long>(InstrumentNames.WarmReads, "{entity}", "Entity reads served from this silo's warm tier (packed state of a deactivated entity), without activating it");
    public static readonly Counter<long> WarmEntered = Meter.CreateCounter<long>(InstrumentNames.WarmEntered, "{entity}", "Entities that entered this silo's warm tier when they deactivated");
    public static readonly Counter<long> WarmEvicted = Meter.CreateCounter<long>(InstrumentNames.WarmEvicted, "{entity}", "Warm entities evicted to keep the warm tier within FeatureStore:Serving:WarmTierMiB");
    public static readonly Counter<long> WarmInvalidated = Meter.CreateCounter<long>(InstrumentNames.WarmInvalidated, "{entity}", "Warm entities removed because they were activated again (here or on another silo)");
    public static readonly Counter<long> WarmRemoteInvalidations = Meter.CreateCounter<long>(InstrumentNames.WarmRemoteInvalidations, "{call}", "Calls an activation made to other silos to drop their warm copy of its entity");
    public static readonly Counter<long> ColdStorageReads = Meter.CreateCounter<long>(InstrumentNames.ColdStorageReads, "{entity}", "Entity reads answered from storage without activating the entity (neither active nor warm), batched per request");
    public static readonly Counter<long> DurableFallbackReads = Meter.CreateCounter<long>(InstrumentNames.DurableFallbackReads, "{entity}", "Entity reads answered from durable state, marked stale, because the entity's grain failed with a cluster failure or did not answer in time (tag reason)");
    public static readonly Counter<long> DurableFallbackFailures = Meter.CreateCounter<long>(InstrumentNames.DurableFallbackFailures, "{entity}", "Entity reads whose grain could not answer and whose durable state could not be read either (the read then waited for the grain)");
    public static readonly Counter<long> StaleAnswers = Meter.CreateCounter<long>(InstrumentNames.StaleAnswers, "{answer}", "Lookups (tag rpc) answered with at least one entity read from durable state and marked stale");
    public static readonly Counter<long> EntitiesHandedOver = Meter.CreateCounter<long>(InstrumentNames.EntitiesHandedOver, "{entity}", "Entities a gracefully stopping silo handed over to another silo (written, then moved there live before their next call)");
    public static readonly Counter<long> StorageFailures = Meter.CreateCounter<long>(InstrumentNames.StorageFailures, "{commit}", "Grain storage commits that failed");
    public static readonly Histogram<double> StorageCommitDuration = Meter.CreateHistogram<double>(InstrumentNames.StorageCommitDuration, "ms", "Time to commit one group of grain state writes");
    public static readonly Histogram<int> StorageWritesPerCommit = Meter.CreateHistogram<int>(InstrumentNames.StorageWritesPerCommit, "{write}", "Grain state writes grouped into one commit");
    public static readonly Counter<long> PartitionDeliveries = Meter.CreateCounter<long>(InstrumentNames.PartitionDeliveries, "{delivery}", "Deliveries of a stream partition to its ingester");
    public static readonly Counter<long> PartitionEntityCalls = Meter.CreateCounter<long>(InstrumentNames.PartitionEntityCalls, "{call}", "Entity grain calls made by partition ingesters (one per entity and source per delivery)");
    public static readonly Counter<long> PartitionAppliesInPlace = Meter.CreateCounter<long>(InstrumentNames.PartitionAppliesInPlace, "{apply}", "Entity batches a partition ingester applied in place, without a grain call (the entity was active on its silo)");
    public static readonly Histogram<double> IngestionLaneWait = Meter.CreateHistogram<double>(InstrumentNames.IngestionLaneWait, "ms", "Time a work item of the silo's ingestion lane waited from being queued to starting on a worker thread");
    public static readonly Histogram<double> IngestionLaneQueueFullWait = Meter.CreateHistogram<double>(InstrumentNames.IngestionLaneQueueFullWait, "ms", "Time ingestion work waited for room in the ingestion lane's bounded queue (recorded only when it was full)");
    public static readonly Counter<long> IngestionLaneFailures = Meter.CreateCounter<long>(InstrumentNames.IngestionLaneFailures, "{item}", "Ingestion lane work items that threw (the exception goes to the awaiting caller)");
    public static readonly Counter<long> IngestionLanePriorityFailures = Meter.CreateCounter<long>(InstrumentNames.IngestionLanePriorityFailures, "{thread}", "Ingestion lane worker threads whose lower OS priority (FeatureStore:Ingestion:WorkerNice) could not be set; they run at the process's priority");
    public static readonly Counter<long> Checkpoints = Meter.CreateCounter<long>(InstrumentNames.Checkpoints, "{checkpoint}", "Partition checkpoints (every entity a partition touched made durable)");
    public static readonly Counter<long> CheckpointFailures = Meter.CreateCounter<long>(InstrumentNames.CheckpointFailures, "{checkpoint}", "Partition checkpoints that could not make every entity durable; the partition's commits stop until restart");
    public static readonly Counter<long> CheckpointsInPlace = Meter.CreateCounter<long>(InstrumentNames.CheckpointsInPlace, "{entity}", "Entities a partition checkpoint made durable in place, without a grain call (the entity was active on its silo)");
    public static readonly Counter<long> CheckpointReplays = Meter.CreateCounter<long>(InstrumentNames.CheckpointReplays, "{entity}", "Entities that lost applied events before a checkpoint (activation gone, write failed) and got them again from their ingester");
    public static readonly Histogram<double> CheckpointDuration = Meter.CreateHistogram<double>(InstrumentNames.CheckpointDuration, "ms", "Time to make every entity of one partition checkpoint durable");
    public static readonly Counter<long> BackgroundFailures = Meter.CreateCounter<long>(InstrumentNames.BackgroundFailures, "{failure}", "Failures in background loops (definition refresh, demo generator)");

    /// <summary>Bucket bounds (seconds) around the freshness targets: 50 ms for pushes, 250 ms through a topic.</summary>
    private static readonly InstrumentAdvice<double> FreshnessBuckets = new()
    {
        HistogramBucketBoundaries = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    };

    public static readonly Histogram<double> IngestFreshness = Meter.CreateHistogram(InstrumentNames.IngestFreshness, "s", "Delay from an event's arrival at the store (push received; topic or hub timestamp) to its entity serving it; one observation per entity call", tags: null, advice: FreshnessBuckets);

    /// <summary>Bucket bounds (seconds) of one Azure Storage request, from a local emulator to a throttled account.</summary>
    private static readonly InstrumentAdvice<double> StorageRequestBuckets = new()
    {
        HistogramBucketBoundaries = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    };

    public static readonly Counter<long> AzureStorageRequests = Meter.CreateCounter<long>(InstrumentNames.AzureStorageRequests, "{request}", "Azure Table and Blob requests of grain state and membership (one per SDK operation, retries included)");
    public static readonly Counter<long> AzureStorageFailures = Meter.CreateCounter<long>(InstrumentNames.AzureStorageFailures, "{request}", "Azure Table and Blob requests that failed: no answer, a 5xx, 408 or 429 after the SDK's retries");
    public static readonly Histogram<double> AzureStorageDuration = Meter.CreateHistogram(InstrumentNames.AzureStorageDuration, "s", "Time of one Azure Table or Blob request, the SDK's retries included", tags: null, advice: StorageRequestBuckets);

    // Every warm tier in the process (one per silo; test clusters host several), summed on scrape.
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<Serving.WarmEntityCache, object?> WarmTiers = new();

    public static readonly ObservableGauge<long> WarmBytes = Meter.CreateObservableGauge(
        InstrumentNames.WarmBytes, () => SumWarmTiers(c => c.Bytes), "By", "Estimated bytes held by the warm tier (packed states of deactivated entities)");

    public static readonly ObservableGauge<long> WarmEntities = Meter.CreateObservableGauge(
        InstrumentNames.WarmEntities, () => SumWarmTiers(c => c.Count), "{entity}", "Entities held by the warm tier");

    internal static void RegisterWarmTier(Serving.WarmEntityCache cache) => WarmTiers.AddOrUpdate(cache, null);

    private static long SumWarmTiers(Func<Serving.WarmEntityCache, long> measure)
    {
        long sum = 0;
        foreach (var (cache, _) in WarmTiers)
        {
            sum += measure(cache);
        }

        return sum;
    }

    /// <summary>
    /// Records 0 on the counters that alerts divide or sum but that only move on trouble, so their series exist from
    /// start-up (an alert over a missing series silently never fires). Call once the metrics exporter is listening.
    /// </summary>
    public static void RecordZeroForAlertedCounters()
    {
        EventsRejected.Add(0);
        StorageFailures.Add(0);
        CheckpointFailures.Add(0);
        CheckpointReplays.Add(0);
        AzureStorageFailures.Add(0);
    }
}

/// <summary>Instrument names in one place, so dashboards and alerts have one list to follow.</summary>
public static class InstrumentNames
{
    public const string EventsAccepted = "orleansfeatures.events.accepted";
    public const string EventsDuplicate = "orleansfeatures.events.duplicate";
    public const string EventsLate = "orleansfeatures.events.late";
    public const string EventsRejected = "orleansfeatures.events.rejected";
    public const string EventsFailed = "orleansfeatures.events.failed";
    public const string EventsUnknownOutcome = "orleansfeatures.events.unknown_outcome";
    public const string FeatureReads = "orleansfeatures.features.read";
    public const string EntityReadsLocal = "orleansfeatures.entity_reads.local";
    public const string EntityReadsByGrainCall = "orleansfeatures.entity_reads.grain_call";
    public const string WarmReads = "orleansfeatures.warm.reads";
    public const string WarmEntered = "orleansfeatures.warm.entered";
    public const string WarmEvicted = "orleansfeatures.warm.evicted";
    public const string WarmInvalidated = "orleansfeatures.warm.invalidated";
    public const string WarmRemoteInvalidations = "orleansfeatures.warm.remote_invalidations";
    public const string WarmBytes = "orleansfeatures.warm.bytes";
    public const string WarmEntities = "orleansfeatures.warm.entities";
    public const string ColdStorageReads = "orleansfeatures.entity_reads.cold_storage";
    public const string DurableFallbackReads = "orleansfeatures.entity_reads.stale";
    public const string DurableFallbackFailures = "orleansfeatures.entity_reads.stale_failures";
    public const string StaleAnswers = "orleansfeatures.lookups.stale";
    public const string EntitiesHandedOver = "orleansfeatures.entities.handed_over";
    public const string StorageFailures = "orleansfeatures.storage.failures";
    public const string StorageCommitDuration = "orleansfeatures.storage.commit.duration";
    public const string StorageWritesPerCommit = "orleansfeatures.storage.commit.writes";
    public const string PartitionDeliveries = "orleansfeatures.ingest.deliveries";
    public const string PartitionEntityCalls = "orleansfeatures.ingest.entity_calls";
    public const string PartitionAppliesInPlace = "orleansfeatures.ingest.applies_in_place";
    public const string IngestionLaneWait = "orleansfeatures.ingest.lane.wait";
    public const string IngestionLaneQueueFullWait = "orleansfeatures.ingest.lane.queue_full_wait";
    public const string IngestionLaneFailures = "orleansfeatures.ingest.lane.failures";
    public const string IngestionLanePriorityFailures = "orleansfeatures.ingest.lane.priority_failures";
    public const string Checkpoints = "orleansfeatures.ingest.checkpoints";
    public const string CheckpointFailures = "orleansfeatures.ingest.checkpoint.failures";
    public const string CheckpointReplays = "orleansfeatures.ingest.checkpoint.replays";
    public const string CheckpointsInPlace = "orleansfeatures.ingest.checkpoint.in_place";
    public const string CheckpointDuration = "orleansfeatures.ingest.checkpoint.duration";
    public const string BackgroundFailures = "orleansfeatures.background.failures";
    public const string IngestFreshness = "orleansfeatures.ingest.freshness";
    public const string AzureStorageRequests = "orleansfeatures.azure_storage.requests";
    public const string AzureStorageFailures = "orleansfeatures.azure_storage.failures";
    public const string AzureStorageDuration = "orleansfeatures.azure_storage.duration";
}
