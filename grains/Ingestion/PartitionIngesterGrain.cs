using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
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
/// The partition → entity step shared by every stream transport. A delivery of one partition's stream (everything
/// pulled since the previous delivery, joined by the queue cache) is grouped by entity, and each entity grain gets all
/// of its events in one call, a bounded number of calls in flight.
/// <para>
/// Durability is decoupled from delivery when the partition's receiver runs on this silo (its commit gate is found):
/// entities apply events in memory (servable at once) and this grain checkpoints every entity it touched at most once
/// per <see cref="IngestionOptions.CheckpointInterval"/>, many writes per storage transaction, then reports the
/// partition durable up to the last delivery before the checkpoint began; only then may the receiver commit those
/// offsets. Otherwise each entity writes before its call returns, and a delivery completes only once durable.
/// </para>
/// Placed on the silo that pulls the partition.
/// </summary>
[ImplicitStreamSubscription(IngestedEvent.Namespace)]
[PreferLocalPlacement]
public sealed partial class PartitionIngesterGrain(
    IOptions<IngestionOptions> options,
    IServiceProvider services,
    ILogger<PartitionIngesterGrain> logger) : Grain, IPartitionIngesterGrain, IStreamSubscriptionObserver, IAsyncBatchObserver<IngestedEvent>
{
    /// <summary>How long a delivery that is written before it returns retries its failed entities before it fails.</summary>
    private static readonly TimeSpan SyncRetryBudget = TimeSpan.FromSeconds(20);

    /// <summary>Longest wait between two attempts to make an entity durable.</summary>
    private static readonly TimeSpan MaxRetryDelay = TimeSpan.FromSeconds(5);

    /// <summary>How long a deactivating ingester keeps trying to finish its checkpoint before it gives up.</summary>
    private static readonly TimeSpan DeactivationGrace = TimeSpan.FromSeconds(10);

    // Cancelled when the activation goes: retries stop, and what is not durable stays uncommitted.
    private readonly CancellationTokenSource _stopping = new();

    private static readonly KeyValuePair<string, object?> StreamPath = new("path", "stream");

    // Entities applied in memory since the last checkpoint began: the newest receipt of each, and the events, kept
    // until durable so an entity that lost them (its silo died, its write failed) gets them again.
    private Dictionary<string, UnwrittenEntity> _unwritten = new(StringComparer.Ordinal);
    private long _appliedThrough = -1;
    private IStreamCommitGate? _gate;
    private bool _failed;
    private Task? _checkpoint;
    private long _lastCheckpoint = Stopwatch.GetTimestamp();
    private StreamId? _streamId;
    private SiloAddress? _silo;

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
        if (_gate is { IsClosed: true })
        {
            // The partition's receiver on this silo stopped (the partition moved): what is applied here and not yet
            // written is made durable now, and later deliveries use whatever gate the stream has on this silo, if any.
            LogGateClosed(logger, this.GetPrimaryKeyString(), _unwritten.Count);
            await FlushAsync();
            _gate = null;
            _failed = false;
        }

        if (readHere)
        {
            ResolveGate();
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

        var checkpointed = _gate is not null && readHere;
        var freshness = IngestionFreshness.ForDelivery(arrivedMs);
        LogDelivery(logger, this.GetPrimaryKeyString(), items.Count, items.Count > 0 ? items[0].Token.SequenceNumber : -1, through, dispatch.Entities, checkpointed);
        // Checkpointed: entities active on this silo apply in place, on one of the silo's ingestion workers; their
        // receipts mean what a grain's do, so the checkpoint below is unchanged.
        var result = await dispatch.RunAsync(
            GrainFactory, registryVersion, events, Options.MaxEntityCallsInFlight, CancellationToken.None, durable: !checkpointed, freshness,
            applyInPlace: checkpointed ? _localEntities : null, lane: _lane, clock: _clock);
        FeatureStoreMetrics.PartitionDeliveries.Add(1);
        FeatureStoreMetrics.PartitionEntityCalls.Add(dispatch.Entities - result.AppliedInPlace);
        FeatureStoreMetrics.PartitionAppliesInPlace.Add(result.AppliedInPlace);
        Count(result.Outcomes);
        if (result.Receipts is { } receipts)
        {
            foreach (var batch in receipts)
            {
                if (!_unwritten.TryGetValue(batch.GrainKey, out var entity))
                {
                    _unwritten[batch.GrainKey] = entity = new UnwrittenEntity();
                }

                entity.Add(batch, registryVersion);
            }
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
            if (!readHere && _gate is null && !HasReceiverHere())
            {
                // The partition's receiver is on another silo for good: deactivate, so its next delivery activates
                // this grain there (preferred local placement) and it can checkpoint instead of writing every delivery.
                LogMovingToReader(logger, this.GetPrimaryKeyString());
                DeactivateOnIdle();
            }

            return;
        }

        _appliedThrough = Math.Max(_appliedThrough, through);

        if (_checkpoint is { IsCompleted: false } running && _unwritten.Count >= Options.MaxUncheckpointedEntities)
        {
            // Back-pressure: the replay window and the memory ahead of storage stay bounded.
            await running;
        }

        StartCheckpointIfDue(force: _unwritten.Count >= Options.MaxUncheckpointedEntities);
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
        var delay = TimeSpan.FromMilliseconds(100);
        while (result.Failures.Count > 0 && Stopwatch.GetElapsedTime(started) < SyncRetryBudget)
        {
            await Task.Delay(delay);
            delay = TimeSpan.FromMilliseconds(Math.Min(2_000, delay.TotalMilliseconds * 2));
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
        if (_gate is null)
        {
            return;
        }

        _stopping.CancelAfter(DeactivationGrace);
        using (cancellationToken.Register(_stopping.Cancel))
        {
            await FlushAsync();
        }

        // Later deliveries go to a new activation, which holds the gate again on its first delivery.
        _gate.Release();
    }

    private async Task FlushAsync()
    {
        if (_checkpoint is { } running)
        {
            await running;
        }

        if (_unwritten.Count > 0 && !_failed)
        {
            await CheckpointAsync();
        }
    }

    private void ResolveGate()
    {
        // Looked up on every delivery while there is none: the partition's receiver may come (back) to this silo.
        if (_gate is not null)
        {
            return;
        }

        if (TryGetLocalGate(out var gate))
        {
            // Before this first delivery returns, so none of its batches is committed on delivery alone. Sequence
            // numbers reported to a gate are those of its own receiver's deliveries: a new receiver replays from the
            // committed offset, below what an earlier receiver delivered.
            gate.Hold();
            LogGateHeld(logger, this.GetPrimaryKeyString(), _unwritten.Count);
            _gate = gate;
            _appliedThrough = -1;
        }
    }

    private bool HasReceiverHere() => TryGetLocalGate(out var gate) && !gate.IsClosed;

    /// <summary>The commit gate of this partition's receiver on this silo, when it runs here.</summary>
    private bool TryGetLocalGate([NotNullWhen(true)] out IStreamCommitGate? gate)
    {
        gate = null;
        return _streamId is { } streamId && services.GetService<StreamCommitGates>() is { } gates && gates.TryGet(streamId, out gate);
    }

    private Task CheckpointIfDueAsync(CancellationToken cancellationToken)
    {
        StartCheckpointIfDue(force: false);
        return Task.CompletedTask;
    }

    private void StartCheckpointIfDue(bool force)
    {
        if (_gate is null || _failed || _unwritten.Count == 0 || _checkpoint is { IsCompleted: false })
        {
            return;
        }

        if (force || Stopwatch.GetElapsedTime(_lastCheckpoint) >= Options.CheckpointInterval)
        {
            // Not awaited: deliveries go on while the entities write (their continuations run on this grain's turns).
            _checkpoint = CheckpointAsync();
        }
    }

    /// <summary>
    /// Writes every entity applied since the previous checkpoint began (one call each, bounded in flight; the storage
    /// groups the writes into few transactions), then reports the partition durable through the last delivery applied
    /// before this began. An entity whose activation went away without writing (its silo died) or whose write failed
    /// gets its kept events again and is checkpointed again; only an entity that still cannot be made durable after
    /// retries stops the partition's commits (until the receiver restarts and replays).
    /// </summary>
    private async Task CheckpointAsync()
    {
        _lastCheckpoint = Stopwatch.GetTimestamp();
        var entities = _unwritten;
        var through = _appliedThrough;
        _unwritten = new Dictionary<string, UnwrittenEntity>(Math.Max(16, entities.Count), StringComparer.Ordinal);
        var started = Stopwatch.GetTimestamp();
        var lost = 0;
        string? firstLost = null;
        Exception? firstError = null;
        // Not on the ingestion lane: a checkpoint mostly waits for storage, and a lane worker held across those waits
        // made deliveries queue behind fsyncs and cut write grouping (docs/benchmarks.md, issue #22).
        using (var slots = new SemaphoreSlim(Options.MaxEntityCallsInFlight))
        {
            var calls = new List<Task>(entities.Count);
            foreach (var (grainKey, entity) in entities)
            {
                await slots.WaitAsync();
                calls.Add(WriteAsync(grainKey, entity));
            }

            await Task.WhenAll(calls);

            async Task WriteAsync(string grainKey, UnwrittenEntity entity)
            {
                try
                {
                    if (await MakeDurableAsync(grainKey, entity) is { } error)
                    {
                        lost++;
                        firstLost ??= grainKey;
                        firstError ??= error;
                    }
                }
                finally
                {
                    slots.Release();
                }
            }
        }

        FeatureStoreMetrics.Checkpoints.Add(1);
        FeatureStoreMetrics.CheckpointDuration.Record(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        if (lost > 0)
        {
            _failed = true;
            FeatureStoreMetrics.CheckpointFailures.Add(1);
            LogCheckpointFailed(logger, firstError, this.GetPrimaryKeyString(), lost, entities.Count, firstLost!);
            _gate!.Fail();
            return;
        }

        LogCheckpointed(logger, this.GetPrimaryKeyString(), entities.Count, through, _gate!.IsClosed);
        if (through >= 0)
        {
            _gate!.Durable(through);
        }
    }

    /// <summary>
    /// Checkpoints one entity, giving it its kept events again when it lost them, and retrying with back-off until it
    /// is durable: while storage or the entity's silo is down, this checkpoint stays in flight, deliveries continue up
    /// to <see cref="IngestionOptions.MaxUncheckpointedEntities"/>, and nothing after it is committed. Null once durable;
    /// the last error if the activation is going away first.
    /// </summary>
    private async Task<Exception?> MakeDurableAsync(string grainKey, UnwrittenEntity entity)
    {
        var grain = EntityGrains.Get(GrainFactory, grainKey);
        Exception error = new InvalidOperationException($"entity {grainKey} lost events it had applied before they were written");
        for (var attempt = 0; ; attempt++)
        {
            if (_stopping.IsCancellationRequested)
            {
                return error;
            }

            try
            {
                if (attempt > 0 || entity.NeedsReapply)
                {
                    // The activation that applied them is gone unwritten (its silo died), or its write failed and it
                    // deactivated: a new activation loads the durable state and applies the kept events again (what it
                    // already holds counts as duplicate).
                    FeatureStoreMetrics.CheckpointReplays.Add(1);
                    if ((attempt & (attempt - 1)) == 0)
                    {
                        LogReplayingEntity(logger, error, this.GetPrimaryKeyString(), grainKey, entity.EventCount, attempt);
                    }

                    var receipts = new List<IngestReceipt>(entity.Batches.Count);
                    foreach (var (source, version, events) in entity.Batches)
                    {
                        receipts.Add(await grain.Ingest(version, source, events));
                    }

                    if (!entity.Reapplied(receipts))
                    {
                        // The entity reactivated part-way: every batch again, into one activation, after the back-off.
                        throw new InvalidOperationException($"entity {grainKey} reactivated while its events were applied again");
                    }
                }

                if (await grain.Checkpoint(entity.Epoch, entity.Sequence))
                {
                    return null;
                }
            }
            catch (Exception exception)
            {
                error = exception;
                try
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(MaxRetryDelay.TotalMilliseconds, 100 << Math.Min(attempt, 10))), _stopping.Token);
                }
                catch (OperationCanceledException)
                {
                    return error;
                }
            }
        }
    }

    private static void Count(OutcomeMerge[] outcomes)
    {
        var tally = new OutcomeTally();
        foreach (var merged in outcomes)
        {
            if (merged.Reached && !merged.Failed)
            {
                tally.Add(merged.ToOutcome().Kind);
            }
        }

        tally.Record(StreamPath);
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Partition {Partition}: delivery of {Items} events (sequence {First}..{Through}) to {Entities} entities; checkpointed: {Checkpointed}")]
    private static partial void LogDelivery(ILogger logger, string partition, int items, long first, long through, int entities, bool checkpointed);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Partition {Partition}: holds the commit gate of its receiver on this silo ({Unwritten} entities unwritten)")]
    private static partial void LogGateHeld(ILogger logger, string partition, int unwritten);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Partition {Partition}: its receiver on this silo stopped; writing {Unwritten} entities before going on")]
    private static partial void LogGateClosed(ILogger logger, string partition, int unwritten);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Partition {Partition}: checkpointed {Entities} entities, durable through sequence {Through} (gate closed: {Closed})")]
    private static partial void LogCheckpointed(ILogger logger, string partition, int entities, long through, bool closed);

    [LoggerMessage(Level = LogLevel.Information, Message = "Partition {Partition}: read by another silo's receiver; deactivating so the next delivery activates this ingester beside it")]
    private static partial void LogMovingToReader(ILogger logger, string partition);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Partition {Partition}: its stream reported an error")]
    private static partial void LogStreamError(ILogger logger, Exception exception, string partition);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Partition {Partition}: {Failed} of {Entities} entity calls failed (first: {GrainKey}); their events are applied again by the next checkpoint (or the delivery is retried when each delivery is written)")]
    private static partial void LogEntitiesFailed(ILogger logger, Exception exception, string partition, int failed, int entities, string grainKey);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Partition {Partition}: entity {GrainKey} lost {Events} applied events before they were written (activation gone or write failed); applying them again (attempt {Attempt}; logged at attempts 1, 2, 4, 8, ...)")]
    private static partial void LogReplayingEntity(ILogger logger, Exception? exception, string partition, string grainKey, int events, int attempt);

    [LoggerMessage(Level = LogLevel.Critical, Message = "Partition {Partition}: the deactivating ingester could not make {Lost} of {Entities} entities durable (first: {GrainKey}); commits stop before them and the partition's next reader replays them")]
    private static partial void LogCheckpointFailed(ILogger logger, Exception? exception, string partition, int lost, int entities, string grainKey);
}

/// <summary>An entity's events applied since the last checkpoint began, and the receipt of its newest apply.</summary>
internal sealed class UnwrittenEntity
{
    public List<(string Source, long RegistryVersion, FeatureEvent[] Events)> Batches { get; } = [];

    public long Epoch { get; set; }

    public long Sequence { get; set; }

    public int EventCount { get; private set; }

    /// <summary>Some kept events were never applied (their call failed): the checkpoint applies them all again first.</summary>
    public bool NeedsReapply { get; private set; }

    public void Add(IngestedBatch batch, long registryVersion)
    {
        Batches.Add((batch.Source, registryVersion, batch.Events));
        EventCount += batch.Events.Length;
        if (batch.Epoch == 0)
        {
            NeedsReapply = true;
            return;
        }

        if (Epoch != 0 && batch.Epoch != Epoch)
        {
            // Another activation applied this batch: the one that applied the earlier batches went away (its silo
            // died, or it deactivated), and the newest receipt says nothing about what that one wrote. Checkpointing
            // only the newest receipt lost the earlier batches for good; apply them all again to the new activation,
            // which counts whatever it already loaded from storage as duplicate.
            NeedsReapply = true;
        }

        // Receipts of one activation may arrive out of order (an entity fed by two sources gets two calls at once):
        // the checkpoint must prove the newest apply, as Checkpoint answers a receipt already written without writing.
        Sequence = batch.Epoch == Epoch ? Math.Max(Sequence, batch.Sequence) : batch.Sequence;
        Epoch = batch.Epoch;
    }

    /// <summary>
    /// Records the receipts of applying every kept batch again; false when they did not all land in one activation
    /// (it changed during the replay), so the replay must run again before one receipt can stand for all of them.
    /// </summary>
    public bool Reapplied(IReadOnlyList<IngestReceipt> receipts)
    {
        var epoch = receipts[0].Epoch;
        for (var i = 1; i < receipts.Count; i++)
        {
            if (receipts[i].Epoch != epoch)
            {
                return false;
            }
        }

        Epoch = epoch;
        Sequence = receipts[^1].Sequence;
        NeedsReapply = false;
        return true;
    }
}
