using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
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
using OrleansFeatures.Grains.Serving;
using OrleansFeatures.Streaming.Kafka;

namespace OrleansFeatures.Grains.Ingestion;

/// <summary>
/// The partition → entity step shared by every stream transport, as Orleans wiring: it subscribes to one partition's
/// stream, groups each delivery (everything pulled since the previous one) by entity and dispatches it
/// (<see cref="EntityDispatch"/>: in place for entities active here, one call each for the others), counts the
/// outcomes, and hands durability to plain types: <see cref="CommitGateLease"/> (the receiver's commit gate, when the
/// receiver runs on this silo) and <see cref="PartitionCheckpoints"/> (checkpointing with its replay and
/// back-pressure). Without a gate here each entity writes before its call returns, and a delivery completes only once
/// durable. Placed on the silo that pulls the partition.
/// </summary>
[ImplicitStreamSubscription(IngestedEvent.Namespace)]
[PreferLocalPlacement]
public sealed partial class PartitionIngesterGrain(
    IOptions<IngestionOptions> options,
    IServiceProvider services,
    ILogger<PartitionIngesterGrain> logger) : Grain, IPartitionIngesterGrain, IStreamSubscriptionObserver, IAsyncBatchObserver<IngestedEvent>, ICheckpointedEntities
{
    /// <summary>How long a delivery that is written before it returns retries its failed entities before it fails.</summary>
    private static readonly TimeSpan SyncRetryBudget = TimeSpan.FromSeconds(20);

    /// <summary>The back-off of a delivery written before it returns: 100 ms doubling to 2 s, within <see cref="SyncRetryBudget"/>.</summary>
    private static readonly RetryBackoff SyncRetry = new(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(2));

    /// <summary>How long a deactivating ingester keeps trying to finish its checkpoint before it gives up.</summary>
    private static readonly TimeSpan DeactivationGrace = TimeSpan.FromSeconds(10);

    private StreamId? _streamId;
    private SiloAddress? _silo;
    private CommitGateLease _gate = null!;
    private PartitionCheckpoints _checkpoints = null!;
    private IngestionLane _lane = null!;
    private LocalEntityIndex? _localEntities;
    private TimeProvider _clock = TimeProvider.System;

    private IngestionOptions Options => options.Value;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _silo = services.GetRequiredService<ILocalSiloDetails>().SiloAddress;
        _lane = services.GetRequiredService<IngestionLane>();
        _clock = services.GetService<TimeProvider>() ?? TimeProvider.System;
        _localEntities = Options.ApplyInPlace ? services.GetRequiredService<LocalEntityIndex>() : null;
        _gate = new CommitGateLease(FindLocalGate);
        _checkpoints = new PartitionCheckpoints(this.GetPrimaryKeyString(), this, _gate, Options, PartitionCheckpoints.EntityRetry, TimeProvider.System, logger);
        // A quiet partition still gets its last deliveries checkpointed within about one interval.
        this.RegisterGrainTimer(CheckpointIfDueAsync, Options.CheckpointInterval, Options.CheckpointInterval);
        return Task.CompletedTask;
    }

    public async Task OnSubscribed(IStreamSubscriptionHandleFactory handleFactory)
    {
        _streamId = handleFactory.StreamId;
        // Implicit subscriptions must be resumed with an observer, or Orleans drops their batches.
        await handleFactory.Create<IngestedEvent>().ResumeAsync(this);
    }

    public async Task OnNextAsync(IList<SequentialItem<IngestedEvent>> items)
    {
        // Read by another silo's receiver (the partition is moving between silos and this ingester stayed): that
        // receiver commits the delivery as soon as it returns, and no gate here holds it back, so it is written now.
        var readHere = items.Count == 0 || items[0].Item.ReadBy is not { } readBy || readBy.Equals(_silo);
        if (_gate.IsClosed)
        {
            // The partition's receiver on this silo stopped (the partition moved): what is applied here and not yet
            // written is made durable now, and later deliveries use whatever gate the stream has on this silo, if any.
            LogGateClosed(logger, this.GetPrimaryKeyString(), _checkpoints.Unwritten);
            await _checkpoints.FlushAsync();
            _gate.Drop();
        }

        if (readHere && _gate.TryHold())
        {
            LogGateHeld(logger, this.GetPrimaryKeyString(), _checkpoints.Unwritten);
        }

        var events = new FeatureEvent?[items.Count];
        var arrivedMs = new long[items.Count];
        var dispatch = new EntityDispatch();
        long registryVersion = 0;
        long through = -1;
        for (var i = 0; i < items.Count; i++)
        {
            var ingested = items[i].Item;
            events[i] = ingested.Event;
            arrivedMs[i] = ingested.ArrivedMs;
            through = Math.Max(through, items[i].Token.SequenceNumber);
            // Calls carry the newest version of the delivery: a grain catches up to it, and an event is never applied
            // with definitions older than the ones it was routed with.
            registryVersion = Math.Max(registryVersion, ingested.RegistryVersion);
            foreach (var key in ingested.EntityKeys)
            {
                dispatch.Add(key, ingested.Source, i);
            }
        }

        var checkpointed = _gate.IsHeld && readHere;
        var freshness = IngestionFreshness.ForDelivery(arrivedMs);
        LogDelivery(logger, this.GetPrimaryKeyString(), items.Count, items.Count > 0 ? items[0].Token.SequenceNumber : -1, through, dispatch.Entities, checkpointed);
        // Checkpointed: entities active on this silo apply in place, on one of the silo's ingestion workers; their
        // receipts mean what a grain's do, so the checkpoint is unchanged.
        var result = await dispatch.RunAsync(
            GrainFactory, registryVersion, events, Options.MaxEntityCallsInFlight, CancellationToken.None, durable: !checkpointed, freshness,
            applyInPlace: checkpointed ? _localEntities : null, lane: _lane, clock: _clock);
        FeatureStoreMetrics.PartitionDeliveries.Add(1);
        FeatureStoreMetrics.PartitionEntityCalls.Add(dispatch.Entities - result.AppliedInPlace);
        FeatureStoreMetrics.PartitionAppliesInPlace.Add(result.AppliedInPlace);
        Count(result.Outcomes);
        if (result.Receipts is { } receipts)
        {
            _checkpoints.Keep(receipts, registryVersion);
        }

        if (result.Failures.Count > 0)
        {
            var (grainKey, error) = result.Failures[0];
            LogEntitiesFailed(logger, error, this.GetPrimaryKeyString(), result.Failures.Count, dispatch.Entities, grainKey);
            if (!checkpointed)
            {
                await RetryDurablyAsync(dispatch, result, events, registryVersion, freshness);
            }

            // Checkpointed: the failed entities' events are kept unapplied, and the checkpoint applies them again
            // (retrying until the entity is reachable, e.g. once a dead silo is declared dead) before anything after
            // them is committed. Failing the delivery instead had Orleans give up on it after MaxEventDeliveryTime.
        }

        if (!checkpointed)
        {
            if (!readHere && !_gate.IsHeld && !_gate.ReceiverHere)
            {
                // The partition's receiver is on another silo for good: deactivate, so its next delivery activates
                // this grain there (preferred local placement) and it can checkpoint instead of writing every delivery.
                LogMovingToReader(logger, this.GetPrimaryKeyString());
                DeactivateOnIdle();
            }

            return;
        }

        await _checkpoints.AfterDeliveryAsync(through);
    }

    /// <summary>
    /// Each delivery written before it returns (no local commit gate): entities whose call failed are called again here,
    /// with back-off, for up to <see cref="SyncRetryBudget"/>; an entity on a silo that just died becomes reachable once
    /// the silo is declared dead. Failing the delivery at once left the retries to Orleans, which drops the batch after
    /// <c>MaxEventDeliveryTime</c>. Past the budget the delivery fails, and Orleans' retries and commit block take over.
    /// </summary>
    private async Task RetryDurablyAsync(EntityDispatch dispatch, DispatchResult result, FeatureEvent?[] events, long registryVersion, IngestionFreshness freshness)
    {
        var started = Stopwatch.GetTimestamp();
        for (var attempt = 0; result.Failures.Count > 0 && Stopwatch.GetElapsedTime(started) < SyncRetryBudget; attempt++)
        {
            await Task.Delay(SyncRetry.Delay(attempt));
            dispatch = dispatch.Only(result.Failures.Select(f => f.GrainKey));
            result = await dispatch.RunAsync(GrainFactory, registryVersion, events, Options.MaxEntityCallsInFlight, CancellationToken.None, durable: true, freshness);
        }

        if (result.Failures.Count > 0)
        {
            var (_, error) = result.Failures[0];
            // The delivery fails whole and Orleans retries it: entities that did apply absorb the replay as
            // duplicates, and the partition's offsets never pass an event that is not durable.
            throw new InvalidOperationException($"partition {this.GetPrimaryKeyString()}: {result.Failures.Count} of {dispatch.Entities} entity calls still failing after {SyncRetryBudget.TotalSeconds:0} s; first: {error.GetType().Name}");
        }
    }

    public Task OnCompletedAsync() => Task.CompletedTask;

    public Task OnErrorAsync(Exception ex)
    {
        LogStreamError(logger, ex, this.GetPrimaryKeyString());
        return Task.CompletedTask;
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        if (!_gate.IsHeld)
        {
            return;
        }

        using (_checkpoints.StopAfter(DeactivationGrace, cancellationToken))
        {
            await _checkpoints.FlushAsync();
        }

        // Later deliveries go to a new activation, which holds the gate again on its first delivery.
        _gate.Release();
    }

    Task<IngestReceipt> ICheckpointedEntities.Ingest(string grainKey, long registryVersion, string source, FeatureEvent[] events) =>
        EntityGrains.Get(GrainFactory, grainKey).Ingest(registryVersion, source, events);

    /// <summary>
    /// An entity active on this silo (with applies in place on) is checkpointed in place: its activation's write runs
    /// from here, without a <see cref="IEntityGrain.Checkpoint"/> call (its request, response, invokers and
    /// continuations were about a quarter of the allocation per entity write; docs/benchmarks.md). The grain answers
    /// when the entity is elsewhere, or its activation refuses (another activation's receipt, deactivating).
    /// </summary>
    ValueTask<bool> ICheckpointedEntities.Checkpoint(string grainKey, long epoch, long sequence) =>
        _localEntities is { } local && local.TryGetByGrainKey(grainKey, out var views) && views.Epoch == epoch && views.Checkpointer is { } owner
            ? CheckpointInPlaceAsync(owner, grainKey, epoch, sequence)
            : new(EntityGrains.Get(GrainFactory, grainKey).Checkpoint(epoch, sequence));

    private async ValueTask<bool> CheckpointInPlaceAsync(IInPlaceCheckpoint owner, string grainKey, long epoch, long sequence)
    {
        if (await owner.TryCheckpointInPlaceAsync(epoch, sequence) is { } written)
        {
            FeatureStoreMetrics.CheckpointsInPlace.Add(1);
            return written;
        }

        return await EntityGrains.Get(GrainFactory, grainKey).Checkpoint(epoch, sequence);
    }

    /// <summary>The commit gate of this partition's receiver on this silo, when it runs here.</summary>
    private IStreamCommitGate? FindLocalGate() =>
        _streamId is { } streamId && services.GetService<StreamCommitGates>() is { } gates && gates.TryGet(streamId, out var gate) ? gate : null;

    private Task CheckpointIfDueAsync(CancellationToken cancellationToken)
    {
        _checkpoints.StartIfDue(force: false);
        return Task.CompletedTask;
    }

    /// <summary>
    /// Counts the delivery's outcomes once (<see cref="OutcomeTally"/>). An event whose entity call failed is not an
    /// outcome yet: the checkpoint (or the retry of a delivery written before it returns) applies it again.
    /// </summary>
    private static void Count(OutcomeMerge[] outcomes)
    {
        var tally = new OutcomeTally();
        foreach (var merged in outcomes)
        {
            if (merged.Reached && !merged.Failed)
            {
                tally.Add(merged.ToResult().Status);
            }
        }

        tally.Record(OutcomeTally.StreamPath);
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Partition {Partition}: delivery of {Items} events (sequence {First}..{Through}) to {Entities} entities; checkpointed: {Checkpointed}")]
    private static partial void LogDelivery(ILogger logger, string partition, int items, long first, long through, int entities, bool checkpointed);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Partition {Partition}: holds the commit gate of its receiver on this silo ({Unwritten} entities unwritten)")]
    private static partial void LogGateHeld(ILogger logger, string partition, int unwritten);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Partition {Partition}: its receiver on this silo stopped; writing {Unwritten} entities before going on")]
    private static partial void LogGateClosed(ILogger logger, string partition, int unwritten);

    [LoggerMessage(Level = LogLevel.Information, Message = "Partition {Partition}: read by another silo's receiver; deactivating so the next delivery activates this ingester beside it")]
    private static partial void LogMovingToReader(ILogger logger, string partition);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Partition {Partition}: its stream reported an error")]
    private static partial void LogStreamError(ILogger logger, Exception exception, string partition);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Partition {Partition}: {Failed} of {Entities} entity calls failed (first: {GrainKey}); their events are applied again by the next checkpoint (or the delivery is retried when each delivery is written)")]
    private static partial void LogEntitiesFailed(ILogger logger, Exception exception, string partition, int failed, int entities, string grainKey);
}
