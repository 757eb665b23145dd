using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans;
using Orleans.Runtime;
using Orleans.Storage;
using OrleansFeatures.Core.Engine;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Grains.Definitions;
using OrleansFeatures.Grains.Diagnostics;
using OrleansFeatures.Grains.Ingestion;
using OrleansFeatures.Grains.Interfaces;
using OrleansFeatures.Grains.Serving;
using OrleansFeatures.Grains.State;

namespace OrleansFeatures.Grains;

/// <summary>
/// One entity's online features: applies events to every view of its entity type, persists before it
/// answers, and serves reads from memory, interleaved with applies (a read runs only while an apply awaits storage,
/// when every view is consistent). Thin by design: the engine does the arithmetic.
/// </summary>
public sealed partial class EntityGrain(
    DefinitionCatalog catalog,
    LocalEntityIndex localIndex,
    WarmEntityCache warmCache,
    WarmTier warmTier,
    TimeProvider clock,
    ILogger<EntityGrain> logger) : Grain, IEntityGrain, IInPlaceCheckpoint, IGrainMigrationParticipant
{
    // The key under which a stopping silo's activation tells the next one what its final write left in storage.
    private const string HandOverKey = "of.entity.handover";

    // Checkpoint receipts: this activation's identity (random) with the views' apply sequence.
    private readonly EntityViews _entity = new(Random.Shared.NextInt64(1, long.MaxValue));

    // One write, view sync or deactivation flush at a time: held across the storage await by the grain's turns and by a
    // partition ingester's checkpoint in place (IInPlaceCheckpoint), which runs outside them.
    private readonly SemaphoreSlim _syncLock = new(1, 1);

    // Set when a write failed: memory is ahead of storage until the activation goes and the next one reloads. Volatile:
    // a checkpoint in place may set it outside this grain's turns.
    private volatile bool _aheadOfStorage;
    private EntityStateStore _store = null!;
    private string _entityType = "";
    private string _entityId = "";
    private string _grainKey = "";

    // What the previous activation had written (its receipts are answered from these).
    private long _previousEpoch;
    private long _previousSequence;

    // On the activation a gracefully stopping silo handed over: what the previous activation's final write left in
    // storage, checked against what this one reads. On the stopping activation: what it hands over.
    private EntityHandOver? _handOver;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _grainKey = this.GetPrimaryKeyString();
        (_entityType, _entityId) = EntityKey.Parse(_grainKey);
        _entity.EntityType = _entityType;
        // Before storage is read, so before anything is applied: no silo serves a warm copy of this entity from now on.
        await warmTier.InvalidateAsync(_entityType, _entityId);
        _store = new EntityStateStore(
            ServiceProvider.GetRequiredKeyedService<IGrainStorage>(FeatureStoreStorage.Name), this.GetGrainId(), this.GetPrimaryKeyString(), logger,
            ServiceProvider.GetService<IngestionLane>());
        await _store.ReadAsync();
        _previousEpoch = _store.State.WrittenByEpoch;
        _previousSequence = _store.State.WrittenThroughSequence;
        if (_handOver is { } handOver)
        {
            // Handed over by a stopping silo after its final write: storage must hold that write, or this activation
            // would serve and apply on top of an older state than the one the previous activation acknowledged.
            if (handOver.WrittenByEpoch != _previousEpoch || handOver.WrittenThroughSequence != _previousSequence)
            {
                throw new InvalidOperationException(
                    $"entity {_grainKey} was handed over written by epoch {handOver.WrittenByEpoch} through apply {handOver.WrittenThroughSequence}, but storage holds epoch {_previousEpoch} through {_previousSequence}; retry");
            }

            LogHandedOver(logger, _grainKey, handOver.WrittenByEpoch, handOver.WrittenThroughSequence);
        }
        LogActivated(logger, this.GetPrimaryKeyString(), _entity.Epoch, _previousEpoch, _previousSequence);
        var definitions = catalog.Current.Version > 0 ? catalog.Current : await catalog.RefreshAsync(cancellationToken);
        await SyncViewsAsync(definitions);
        _entity.Checkpointer = this;
        localIndex.Add(_entityType, _entityId, _grainKey, _entity);
    }

    public async Task<EventOutcome[]> ApplyEvents(long registryVersion, string source, FeatureEvent[] events) =>
        (await ApplyAsync(registryVersion, source, events, persist: true)).Outcomes;

    public async Task<IngestReceipt> Ingest(long registryVersion, string source, FeatureEvent[] events)
    {
        var (outcomes, sequence) = await ApplyAsync(registryVersion, source, events, persist: false);
        return new IngestReceipt(outcomes, _entity.Epoch, sequence);
    }

    public async Task<bool> Checkpoint(long epoch, long sequence)
    {
        ThrowIfAheadOfStorage();
        if (epoch != _entity.Epoch)
        {
            // Applied by an earlier activation: durable only if that activation wrote it before it went away.
            var written = epoch == _previousEpoch && sequence <= _previousSequence;
            LogEarlierReceipt(logger, this.GetPrimaryKeyString(), epoch, sequence, written);
            return written;
        }

        if (sequence <= _entity.WrittenThrough)
        {
            return true;
        }

        await _syncLock.WaitAsync();
        try
        {
            ThrowIfAheadOfStorage();
            return await WriteThroughLockedAsync(sequence);
        }
        finally
        {
            _syncLock.Release();
        }
    }

    /// <summary>
    /// <see cref="Checkpoint"/> run by a partition ingester on this silo, outside this grain's turn: the same write
    /// through the same <see cref="EntityStateStore"/>, so one write, view sync or deactivation flush at a time
    /// (<see cref="_syncLock"/>), and only the apply sequence a write packed is marked written. Refused (null, the
    /// ingester calls the grain) for another activation's receipt and once this activation retired: from then on its
    /// deactivation's flush (or the next activation) answers, and no write of this activation can land after it went.
    /// </summary>
    async ValueTask<bool?> IInPlaceCheckpoint.TryCheckpointInPlaceAsync(long epoch, long sequence)
    {
        if (epoch != _entity.Epoch)
        {
            return null;
        }

        if (sequence <= _entity.WrittenThrough)
        {
            return true;
        }

        await _syncLock.WaitAsync();
        try
        {
            // Under the lock: deactivation retires the views before it waits for it, and a failed write retires them too.
            if (_aheadOfStorage || _entity.IsRetired)
            {
                return null;
            }

            return await WriteThroughLockedAsync(sequence);
        }
        finally
        {
            _syncLock.Release();
        }
    }

    /// <summary>Under <see cref="_syncLock"/>: writes what is unwritten; true when the apply <paramref name="sequence"/> is now durable.</summary>
    private async Task<bool> WriteThroughLockedAsync(long sequence)
    {
        if (_entity.HasUnwritten)
        {
            await PersistAsync();
        }

        return sequence <= _entity.WrittenThrough;
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        // From here on a lookup or an ingester's apply goes to the grain (and so to the next activation): an apply in
        // place either landed before this (and the write below holds it) or is refused and calls the grain. The leaving
        // marker is in place before the index entry goes, so no reader finds neither and reads storage meanwhile.
        _entity.Retire();
        var leaving = _aheadOfStorage ? null : warmCache.BeginLeaving(_entityType, _entityId);
        localIndex.Remove(_entityType, _entityId, _grainKey, _entity);

        // Ingested events not yet checkpointed are written before the activation goes; a checkpoint asked for later
        // finds them through the written epoch and sequence. Not after a failed write: that memory holds events whose
        // callers were told they failed, and writing it later made a retried push answer DUPLICATE.
        if (_aheadOfStorage)
        {
            return;
        }

        // Always under the lock, even with nothing unwritten: an ingester's checkpoint in place may be writing (outside
        // any turn of this grain), and the activation must not go, nor its warm copy be taken, until that write is done.
        try
        {
            await _syncLock.WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            AbandonWarmTier(leaving);
            throw;
        }

        try
        {
            if (_aheadOfStorage)
            {
                // That write failed: memory is ahead of storage, nothing of it is written or kept warm.
                AbandonWarmTier(leaving);
                return;
            }

            if (IsDirty)
            {
                await PersistAsync();
            }

            if (reason.ReasonCode == DeactivationReasonCode.ShuttingDown && !cancellationToken.IsCancellationRequested && AnotherSiloIsActive())
            {
                // The silo is stopping gracefully and everything applied is written: hand the entity over now, to a
                // silo placement picks among the active ones, instead of on its next call. Orleans moves the activation
                // once this method returns (live migration): calls queued here and calls that reach this silo later
                // are forwarded to the new activation, which reads the state just written. No warm copy stays on a
                // silo that is going away (the next activation's invalidation would not reach it: it is not active).
                AbandonWarmTier(leaving);
                _handOver = new EntityHandOver(_store.State.WrittenByEpoch, _store.State.WrittenThroughSequence);
                MigrateOnIdle();
                return;
            }

            EnterWarmTier(leaving);
        }
        catch (Exception exception)
        {
            // Logged by PersistAsync; the ingester's checkpoint finds the receipt unwritten and stops commits.
            AbandonWarmTier(leaving);
            LogDeactivationFlushFailed(logger, exception, this.GetPrimaryKeyString());
        }
        finally
        {
            _syncLock.Release();
        }
    }

    /// <summary>
    /// Leaves the read copy of exactly the state just written (or, with nothing unwritten, the state storage holds) in
    /// the silo's warm tier: the views are retired, so nothing is applied to them any more.
    /// </summary>
    private void EnterWarmTier(WarmEntityCache.Leaving? leaving)
    {
        if (leaving is null)
        {
            return;
        }

        WarmEntityCache.WarmView[] views;
        lock (_entity.Gate)
        {
            views = new WarmEntityCache.WarmView[_entity.Views.Count];
            var v = 0;
            foreach (var (name, view) in _entity.Views)
            {
                views[v++] = new WarmEntityCache.WarmView(name, view.State.View.Definition.Version, EngineStateMapper.PackForRead(view.State));
            }
        }

        warmCache.Complete(_entityType, _entityId, leaving, views);
    }

    /// <summary>
    /// Whether a silo other than this one is active, i.e. a stop can hand this entity over (with none, Orleans would
    /// fail to place it and log an error per entity: the last silo's entities just deactivate).
    /// </summary>
    private bool AnotherSiloIsActive()
    {
        var self = ServiceProvider.GetRequiredService<ILocalSiloDetails>().SiloAddress;
        foreach (var (silo, member) in ServiceProvider.GetRequiredService<IClusterMembershipService>().CurrentSnapshot.Members)
        {
            if (member.Status == SiloStatus.Active && !silo.Equals(self))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Called by Orleans as the activation leaves a stopping silo (after <see cref="OnDeactivateAsync"/>): what its final write left in storage.</summary>
    void IGrainMigrationParticipant.OnDehydrate(IDehydrationContext dehydrationContext)
    {
        if (_handOver is { } handOver && dehydrationContext.TryAddValue(HandOverKey, handOver))
        {
            FeatureStoreMetrics.EntitiesHandedOver.Add(1);
        }
    }

    /// <summary>Called by Orleans on the silo the entity was handed over to, before <see cref="OnActivateAsync"/>.</summary>
    void IGrainMigrationParticipant.OnRehydrate(IRehydrationContext rehydrationContext)
    {
        if (rehydrationContext.TryGetValue<EntityHandOver>(HandOverKey, out var handOver))
        {
            _handOver = handOver;
        }
    }

    private void AbandonWarmTier(WarmEntityCache.Leaving? leaving)
    {
        if (leaving is not null)
        {
            warmCache.Abandon(_entityType, _entityId, leaving);
        }
    }

    private bool IsDirty => _entity.HasUnwritten;

    private async Task<(EventOutcome[] Outcomes, long Sequence)> ApplyAsync(long registryVersion, string source, FeatureEvent[] events, bool persist)
    {
        var definitions = await catalog.EnsureAtLeastAsync(registryVersion);

        // Held until the state is written: a read interleaves with the write, and one that needs newer definitions
        // waits here rather than swap views while their seal or write is in flight.
        await _syncLock.WaitAsync();
        try
        {
            ThrowIfAheadOfStorage();
            if (definitions.Version != _entity.SyncedVersion)
            {
                await SyncViewsLockedAsync(definitions);
            }

            var outcomes = ApplyToViews(source, events, out var sequence);
            if (persist && IsDirty)
            {
                await PersistAsync();
            }

            return (outcomes, sequence);
        }
        finally
        {
            _syncLock.Release();
        }
    }

    private EventOutcome[] ApplyToViews(string source, FeatureEvent[] events, out long sequence)
    {
        var outcomes = new EventOutcome[events.Length];
        sequence = 0;
        var arrivalMs = clock.GetUtcNow().ToUnixTimeMilliseconds();
        for (var i = 0; i < events.Length; i++)
        {
            outcomes[i] = _entity.ToOutcome(_entity.Apply(source, events[i], arrivalMs, out _, out sequence), source);
        }

        return outcomes;
    }

    public async Task<FeatureValueDto[]> Read(long registryVersion, FeatureRefList features, long nowMs)
    {
        if (registryVersion > _entity.SyncedVersion)
        {
            await SyncViewsAsync(await catalog.EnsureAtLeastAsync(registryVersion));
        }

        var readings = new FeatureReading[features.Count];
        _entity.Read(features, nowMs, readings);
        var values = new FeatureValueDto[readings.Length];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = new FeatureValueDto(readings[i].Value, ToStatus(readings[i].Status), readings[i].EventTimeMs);
        }

        return values;
    }

    private static FeatureStatusKind ToStatus(ReadingStatus status) => status switch
    {
        ReadingStatus.Present => FeatureStatusKind.Present,
        ReadingStatus.Expired => FeatureStatusKind.Expired,
        _ => FeatureStatusKind.NotFound,
    };

    /// <summary>
    /// Aligns in-memory views with the definitions: restores persisted state of views whose version still
    /// matches (main state plus the segments it references), starts new views empty, and forgets views that were
    /// removed or replaced by a new version.
    /// </summary>
    private async Task SyncViewsAsync(ActiveDefinitions definitions)
    {
        if (definitions.Version == _entity.SyncedVersion)
        {
            return;
        }

        // Reads interleave with applies; restoring awaits storage, so one sync at a time.
        await _syncLock.WaitAsync();
        try
        {
            if (definitions.Version != _entity.SyncedVersion)
            {
                await SyncViewsLockedAsync(definitions);
            }
        }
        finally
        {
            _syncLock.Release();
        }
    }

    private async Task SyncViewsLockedAsync(ActiveDefinitions definitions)
    {
        // Views are rebound and restored outside their lock: applies in place wait for the grain until synced.
        _entity.BeginSync();
        var wanted = definitions.ViewsOfEntityType(_entityType);
        var keep = new HashSet<string>(StringComparer.Ordinal);
        foreach (var compiled in wanted)
        {
            var name = compiled.Definition.Name;
            keep.Add(name);
            if (_entity.TryGetView(name, out var live) && ReferenceEquals(live.State.View, compiled))
            {
                continue;
            }

            if (_entity.TryGetView(name, out live) && live.State.View.Definition.Version == compiled.Definition.Version)
            {
                // Same version, recompiled (a non-breaking change such as a new feature or TTL): carry state over.
                _entity.Set(name, live.With(EngineStateMapper.Rebind(live.State, compiled)));
                continue;
            }

            // Segment numbers continue after those of any stored state, even one of an older version: its
            // segments are deleted only once this view's next write no longer references them.
            _store.State.SeenSegments.TryGetValue(name, out var segments);
            var nextSegment = segments?.NextNumber ?? 0;
            if (_store.TryGetStoredView(name, out var packed))
            {
                if (_store.StoredViewVersion(name, packed) == compiled.Definition.Version)
                {
                    _entity.Set(name, await _store.RestoreAsync(name, compiled, packed, segments));
                    continue;
                }
            }

            _entity.Set(name, new LiveView(new FeatureViewState(compiled), nextSegment));
        }

        _entity.RemoveAllBut(keep);
        _entity.MarkSynced(definitions.Version);
    }

    /// <summary>Makes the applied events durable (<see cref="EntityStateStore.WriteAsync"/>); on failure deactivates, so the next call reloads the durable state.</summary>
    /// <summary>
    /// After a failed write this activation only waits to go: a call queued behind the failure fails too (retryable)
    /// instead of being answered from memory that storage does not hold, e.g. DUPLICATE for a retried push whose first
    /// attempt failed.
    /// </summary>
    private void ThrowIfAheadOfStorage()
    {
        if (_aheadOfStorage)
        {
            throw new InvalidOperationException($"entity {this.GetPrimaryKeyString()} failed to write its state and is reloading; retry");
        }
    }

    private async Task PersistAsync()
    {
        try
        {
            await _store.WriteAsync(_entity, _entity.Epoch);
        }
        catch (Exception exception)
        {
            // Memory is now ahead of storage. Deactivate so the next call reloads the durable state, and fail the
            // call so no event is acknowledged that is not durable.
            LogPersistFailed(logger, exception, this.GetPrimaryKeyString());
            _aheadOfStorage = true;
            _entity.Retire();
            localIndex.Remove(_entityType, _entityId, _grainKey, _entity);
            DeactivateOnIdle();
            throw;
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Entity {Key} activated as epoch {Epoch}; its state was written by epoch {WrittenBy} through apply {Through}")]
    private static partial void LogActivated(ILogger logger, string key, long epoch, long writtenBy, long through);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Entity {Key} handed over by a stopping silo, its state written by epoch {Epoch} through apply {Through}")]
    private static partial void LogHandedOver(ILogger logger, string key, long epoch, long through);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Entity {Key} asked to checkpoint a receipt of an earlier activation (epoch {Epoch}, apply {Sequence}): written {Written}")]
    private static partial void LogEarlierReceipt(ILogger logger, string key, long epoch, long sequence, bool written);

    [LoggerMessage(Level = LogLevel.Error, Message = "Entity {Key} failed to persist its state; deactivating so it reloads from storage")]
    private static partial void LogPersistFailed(ILogger logger, Exception exception, string key);

    [LoggerMessage(Level = LogLevel.Error, Message = "Entity {Key} could not write its ingested events while deactivating; they are replayed from the source")]
    private static partial void LogDeactivationFlushFailed(ILogger logger, Exception exception, string key);

}

/// <summary>What a gracefully stopping silo's activation of an entity left in storage when it handed the entity over.</summary>
[GenerateSerializer, Immutable, Alias("of.EntityHandOver")]
public sealed record EntityHandOver([property: Id(0)] long WrittenByEpoch, [property: Id(1)] long WrittenThroughSequence);
