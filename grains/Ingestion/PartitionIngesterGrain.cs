using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans;
using Orleans.Placement;
using Orleans.Runtime;
using Orleans.Streams;
using Orleans.Streams.Core;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Grains.Diagnostics;
using OrleansFeatures.Grains.Interfaces;

namespace OrleansFeatures.Grains.Ingestion;

/// <summary>
/// The partition → entity step shared by every stream transport: a delivery of one partition's stream (everything
/// pulled since the previous delivery, joined by the queue cache) is grouped by entity, and each entity grain gets
/// all of its events in one call, a bounded number of calls in flight. The delivery completes only once every
/// entity call has returned, that is, once every event of it is in durable entity state; only then may the
/// transport commit the partition's offsets. Placed on the silo that pulls the partition.
/// </summary>
[ImplicitStreamSubscription(IngestedEvent.Namespace)]
[PreferLocalPlacement]
public sealed partial class PartitionIngesterGrain(
    IOptions<IngestionOptions> options,
    ILogger<PartitionIngesterGrain> logger) : Grain, IPartitionIngesterGrain, IStreamSubscriptionObserver, IAsyncBatchObserver<IngestedEvent>
{
    private static readonly KeyValuePair<string, object?> StreamPath = new("path", "stream");

    public async Task OnSubscribed(IStreamSubscriptionHandleFactory handleFactory)
    {
        // Implicit subscriptions must be resumed with an observer, or Orleans drops their batches.
        await handleFactory.Create<IngestedEvent>().ResumeAsync(this);
    }

    public async Task OnNextAsync(IList<SequentialItem<IngestedEvent>> items)
    {
        var events = new FeatureEvent?[items.Count];
        var dispatch = new EntityDispatch();
        long registryVersion = 0;
        for (var i = 0; i < items.Count; i++)
        {
            var ingested = items[i].Item;
            events[i] = ingested.Event;
            // Calls carry the newest version of the delivery: a grain catches up to it, and an event is never applied
            // with definitions older than the ones it was routed with.
            registryVersion = Math.Max(registryVersion, ingested.RegistryVersion);
            foreach (var key in ingested.EntityKeys)
            {
                dispatch.Add(key, ingested.Source, i);
            }
        }

        var result = await dispatch.RunAsync(GrainFactory, registryVersion, events, options.Value.MaxEntityCallsInFlight, CancellationToken.None);
        FeatureStoreMetrics.PartitionDeliveries.Add(1);
        FeatureStoreMetrics.PartitionEntityCalls.Add(dispatch.Entities);
        Count(result.Outcomes);
        if (result.Failures.Count > 0)
        {
            var (grainKey, error) = result.Failures[0];
            LogEntitiesFailed(logger, error, this.GetPrimaryKeyString(), result.Failures.Count, dispatch.Entities, grainKey);
            // The delivery fails whole and Orleans retries it: entities that did apply absorb the replay as
            // duplicates, and the partition's offsets never pass an event that is not durable.
            throw new InvalidOperationException($"partition {this.GetPrimaryKeyString()}: {result.Failures.Count} of {dispatch.Entities} entity calls failed; first: {error.GetType().Name}");
        }
    }

    public Task OnCompletedAsync() => Task.CompletedTask;

    public Task OnErrorAsync(Exception ex)
    {
        LogStreamError(logger, ex, this.GetPrimaryKeyString());
        return Task.CompletedTask;
    }

    private static void Count(OutcomeMerge[] outcomes)
    {
        long accepted = 0, duplicate = 0, late = 0, rejected = 0;
        foreach (var merged in outcomes)
        {
            if (!merged.Reached || merged.Failed)
            {
                continue;
            }

            switch (merged.ToOutcome().Kind)
            {
                case EventOutcomeKind.Accepted: accepted++; break;
                case EventOutcomeKind.Duplicate: duplicate++; break;
                case EventOutcomeKind.Late: late++; break;
                default: rejected++; break;
            }
        }

        if (accepted > 0) FeatureStoreMetrics.EventsAccepted.Add(accepted, StreamPath);
        if (duplicate > 0) FeatureStoreMetrics.EventsDuplicate.Add(duplicate, StreamPath);
        if (late > 0) FeatureStoreMetrics.EventsLate.Add(late, StreamPath);
        if (rejected > 0) FeatureStoreMetrics.EventsRejected.Add(rejected, StreamPath);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Partition {Partition}: its stream reported an error")]
    private static partial void LogStreamError(ILogger logger, Exception exception, string partition);

    [LoggerMessage(Level = LogLevel.Error, Message = "Partition {Partition}: {Failed} of {Entities} entity calls failed (first: {GrainKey}); the delivery is retried")]
    private static partial void LogEntitiesFailed(ILogger logger, Exception exception, string partition, int failed, int entities, string grainKey);
}
