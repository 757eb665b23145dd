using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans;
using Orleans.Runtime;
using Orleans.Storage;
using OrleansFeatures.Core.Engine;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Grains.Definitions;
using OrleansFeatures.Grains.Diagnostics;
using OrleansFeatures.Grains.Interfaces;
using OrleansFeatures.Grains.State;

namespace OrleansFeatures.Grains;

/// <summary>
/// One entity's online features: applies events to every view of its entity type, persists before it
/// answers, and serves reads from memory, interleaved with applies (a read runs only while an apply awaits storage,
/// when every view is consistent). Thin by design: the engine does the arithmetic.
/// </summary>
public sealed partial class EntityGrain(
    [PersistentState("entity", FeatureStoreStorage.Name)] IPersistentState<EntityState> state,
    DefinitionCatalog catalog,
    ILogger<EntityGrain> logger) : Grain, IEntityGrain
{
    /// <summary>A view seals its open de-duplication ids into a segment once it holds this many (see PersistAsync).</summary>
    internal const int SealThreshold = 512;

    private readonly Dictionary<string, LiveView> _views = new(StringComparer.Ordinal);

    /// <summary>ETags of segment states this activation read or wrote, by state name; storage rejects stale ones.</summary>
    private readonly Dictionary<string, string?> _segmentETags = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _syncLock = new(1, 1);
    private IGrainStorage? _storage;
    private string _entityType = "";
    private long _syncedVersion = -1;

    // Checkpoint receipts: this activation's identity and apply count, and what the previous activation had written.
    private readonly long _epoch = Random.Shared.NextInt64(1, long.MaxValue);
    private long _applied;
    private long _previousEpoch;
    private long _previousSequence;

    private IGrainStorage Storage => _storage ??= ServiceProvider.GetRequiredKeyedService<IGrainStorage>(FeatureStoreStorage.Name);

    /// <summary>Name of the grain state holding segment <paramref name="number"/> of <paramref name="view"/>'s de-duplication ids.</summary>
    internal static string SegmentStateName(string view, int number) => $"entity.seen.{view}.{number}";

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        (_entityType, _) = EntityKey.Parse(this.GetPrimaryKeyString());
        _previousEpoch = state.State.WrittenByEpoch;
        _previousSequence = state.State.WrittenThroughSequence;
        var definitions = catalog.Current.Version > 0 ? catalog.Current : await catalog.RefreshAsync(cancellationToken);
        await SyncViewsAsync(definitions);
    }

    public Task<EventOutcome[]> ApplyEvents(long registryVersion, string source, FeatureEvent[] events) =>
        ApplyAsync(registryVersion, source, events, persist: true);

    public async Task<IngestReceipt> Ingest(long registryVersion, string source, FeatureEvent[] events)
    {
        var outcomes = await ApplyAsync(registryVersion, source, events, persist: false);
        return new IngestReceipt(outcomes, _epoch, _applied);
    }

    public async Task<bool> Checkpoint(long epoch, long sequence)
    {
        if (epoch != _epoch)
        {
            // Applied by an earlier activation: durable only if that activation wrote it before it went away.
            return epoch == _previousEpoch && sequence <= _previousSequence;
        }

        await _syncLock.WaitAsync();
        try
        {
            if (IsDirty)
            {
                await PersistAsync();
            }

            return true;
        }
        finally
        {
            _syncLock.Release();
        }
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        // Ingested events not yet checkpointed are written before the activation goes; a checkpoint asked for later
        // finds them through the written epoch and sequence.
        if (!IsDirty)
        {
            return;
        }

        await _syncLock.WaitAsync(cancellationToken);
        try
        {
            if (IsDirty)
            {
                await PersistAsync();
            }
        }
        catch (Exception exception)
        {
            // Logged by PersistAsync; the ingester's checkpoint finds the receipt unwritten and stops commits.
            LogDeactivationFlushFailed(logger, exception, this.GetPrimaryKeyString());
        }
        finally
        {
            _syncLock.Release();
        }
    }

    private bool IsDirty
    {
        get
        {
            foreach (var view in _views.Values)
            {
                if (view.Dirty)
                {
                    return true;
                }
            }

            return false;
        }
    }

    private async Task<EventOutcome[]> ApplyAsync(long registryVersion, string source, FeatureEvent[] events, bool persist)
    {
        var definitions = await catalog.EnsureAtLeastAsync(registryVersion);

        // Held until the state is written: a read interleaves with the write, and one that needs newer definitions
        // waits here rather than swap views while their seal or write is in flight.
        await _syncLock.WaitAsync();
        try
        {
            if (definitions.Version != _syncedVersion)
            {
                await SyncViewsLockedAsync(definitions);
            }

            var outcomes = ApplyToViews(source, events, out var changed);
            if (changed)
            {
                _applied++;
            }

            if (persist && IsDirty)
            {
                await PersistAsync();
            }

            return outcomes;
        }
        finally
        {
            _syncLock.Release();
        }
    }

    private EventOutcome[] ApplyToViews(string source, FeatureEvent[] events, out bool changed)
    {
        var outcomes = new EventOutcome[events.Length];
        changed = false;
        for (var i = 0; i < events.Length; i++)
        {
            var accepted = false;
            var late = false;
            var fed = false;
            foreach (var view in _views.Values)
            {
                if (!string.Equals(view.State.View.Definition.Source.Name, source, StringComparison.Ordinal))
                {
                    continue;
                }

                fed = true;
                switch (view.State.Apply(events[i]))
                {
                    case ApplyOutcome.Accepted:
                        accepted = true;
                        view.Dirty = true;
                        break;
                    case ApplyOutcome.Late:
                        late = true;
                        view.Dirty = true;
                        break;
                }
            }

            outcomes[i] = !fed ? new EventOutcome(EventOutcomeKind.Rejected, $"entity type '{_entityType}' has no feature view fed by source '{source}'")
                : accepted ? EventOutcome.Accepted
                : late ? new EventOutcome(EventOutcomeKind.Late, null)
                : EventOutcome.Duplicate;
            changed |= accepted || late;
        }

        return outcomes;
    }

    public async Task<FeatureValueDto[]> Read(long registryVersion, FeatureRefList features, long nowMs)
    {
        if (registryVersion > _syncedVersion)
        {
            await SyncViewsAsync(await catalog.EnsureAtLeastAsync(registryVersion));
        }

        var values = new FeatureValueDto[features.Count];
        for (var i = 0; i < values.Length; i++)
        {
            if (!_views.TryGetValue(features.Views[i], out var view) || !view.HasEvents)
            {
                values[i] = new FeatureValueDto(ScalarValue.Null, FeatureStatusKind.NotFound, 0);
                continue;
            }

            var index = view.State.View.IndexOf(features.Features[i]);
            if (index < 0)
            {
                values[i] = new FeatureValueDto(ScalarValue.Null, FeatureStatusKind.NotFound, 0);
                continue;
            }

            var reading = view.State.Read(index, nowMs);
            values[i] = new FeatureValueDto(reading.Value, ToStatus(reading.Status), reading.EventTimeMs);
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
        if (definitions.Version == _syncedVersion)
        {
            return;
        }

        // Reads interleave with applies; restoring awaits storage, so one sync at a time.
        await _syncLock.WaitAsync();
        try
        {
            if (definitions.Version != _syncedVersion)
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
        var wanted = definitions.ViewsOfEntityType(_entityType);
        var keep = new HashSet<string>(StringComparer.Ordinal);
        foreach (var compiled in wanted)
        {
            var name = compiled.Definition.Name;
            keep.Add(name);
            if (_views.TryGetValue(name, out var live) && ReferenceEquals(live.State.View, compiled))
            {
                continue;
            }

            if (_views.TryGetValue(name, out live) && live.State.View.Definition.Version == compiled.Definition.Version)
            {
                // Same version, recompiled (a non-breaking change such as a new feature or TTL): carry state over.
                _views[name] = live.With(EngineStateMapper.Rebind(live.State, compiled));
                continue;
            }

            // Segment numbers continue after those of any stored state, even one of an older version: its
            // segments are deleted only once this view's next write no longer references them.
            state.State.SeenSegments.TryGetValue(name, out var segments);
            var nextSegment = segments?.NextNumber ?? 0;
            if (state.State.Views.TryGetValue(name, out var packed))
            {
                if (EngineStateMapper.PackedViewVersion(packed) == compiled.Definition.Version)
                {
                    _views[name] = await RestoreAsync(name, compiled, packed, segments);
                    continue;
                }
            }

            _views[name] = new LiveView(new FeatureViewState(compiled), nextSegment);
        }

        foreach (var name in _views.Keys.ToList())
        {
            if (!keep.Contains(name))
            {
                _views.Remove(name);
            }
        }

        _syncedVersion = definitions.Version;
    }

    /// <summary>A view from its main state and the segments that state references; segments already expired are not read.</summary>
    private async Task<LiveView> RestoreAsync(string name, CompiledFeatureView compiled, byte[] packed, SeenSegmentList? segments)
    {
        var restored = EngineStateMapper.Unpack(compiled, packed);
        var live = new LiveView(restored, segments?.NextNumber ?? 0);
        if (segments is null)
        {
            return live;
        }

        live.Segments.AddRange(segments.Segments);
        var bound = restored.LatenessBound;
        var reads = new List<Task<SeenSegmentState>>();
        foreach (var segment in segments.Segments)
        {
            if (segment.MaxTimestampMs >= bound)
            {
                reads.Add(ReadSegmentAsync(name, segment.Number));
            }
        }

        foreach (var segment in await Task.WhenAll(reads))
        {
            restored.AddSealedSeenEvents(FeatureViewState.ReadSeenSegment(segment.Data));
        }

        return live;
    }

    private async Task<SeenSegmentState> ReadSegmentAsync(string view, int number)
    {
        var stateName = SegmentStateName(view, number);
        var stored = new GrainState<SeenSegmentState>(new SeenSegmentState());
        await Storage.ReadStateAsync(stateName, this.GetGrainId(), stored);
        if (!stored.RecordExists || stored.State is null)
        {
            // The main state is written only after its segments are durable, so this is lost or tampered data.
            // Refuse to activate rather than forget ids and count replays twice.
            throw new InvalidDataException($"entity {this.GetPrimaryKeyString()}: segment {stateName} referenced by its state is missing");
        }

        _segmentETags[stateName] = stored.ETag;
        return stored.State;
    }

    /// <summary>
    /// Makes the applied events durable. Commit-point order: (1) views with enough open ids seal them into a
    /// segment, written and awaited first; (2) the main state, which references the new segments and no longer holds
    /// their ids, is written: the commit point; (3) segments no longer referenced (expired, or of removed views) are
    /// deleted. A crash before (2) leaves an unreferenced segment, ignored on restore and overwritten by the next
    /// seal of the same number; a crash after (2) leaves garbage only, listed in the main state and deleted after a
    /// later write.
    /// </summary>
    private async Task PersistAsync()
    {
        try
        {
            await SealSegmentsAsync();
        }
        catch (Exception exception)
        {
            // Nothing was sealed in memory, so the ids are still written with the main state; fail the call all the
            // same, like a failed main write, so nothing is acknowledged on a storage that just failed.
            LogPersistFailed(logger, exception, this.GetPrimaryKeyString());
            DeactivateOnIdle();
            throw;
        }

        // Segments this write stops referencing, deleted once it is durable. Found per changed entry, not by
        // comparing every reference before and after: a busy view may reference a hundred segments.
        List<string>? dropped = null;
        foreach (var (name, view) in _views)
        {
            if (view.Dirty)
            {
                var bound = view.State.LatenessBound;
                view.Segments.RemoveAll(s => s.MaxTimestampMs < bound);
                state.State.Views[name] = EngineStateMapper.Pack(view.State);
                if (state.State.SeenSegments.TryGetValue(name, out var before))
                {
                    CollectDropped(name, before.Segments, view.Segments, ref dropped);
                }

                state.State.SeenSegments[name] = new SeenSegmentList { NextNumber = view.NextSegment, Segments = [.. view.Segments] };
            }
        }

        // Views removed from the definitions are dropped from storage on the next write.
        foreach (var name in state.State.Views.Keys.ToList())
        {
            if (!_views.ContainsKey(name))
            {
                state.State.Views.Remove(name);
            }
        }

        foreach (var name in state.State.SeenSegments.Keys.ToList())
        {
            if (!state.State.Views.ContainsKey(name))
            {
                CollectDropped(name, state.State.SeenSegments[name].Segments, [], ref dropped);
                state.State.SeenSegments.Remove(name);
            }
        }

        // Segments this write stops referencing are recorded in it, so a delete that fails (or a crash before it)
        // is retried after a later write instead of leaving the row for good.
        if (dropped is not null)
        {
            foreach (var stateName in dropped)
            {
                if (!state.State.SegmentsToDelete.Contains(stateName))
                {
                    state.State.SegmentsToDelete.Add(stateName);
                }
            }
        }

        state.State.WrittenByEpoch = _epoch;
        state.State.WrittenThroughSequence = _applied;
        try
        {
            await state.WriteStateAsync();
        }
        catch (Exception exception)
        {
            // Memory is now ahead of storage. Deactivate so the next call reloads the durable state, and fail the
            // call so no event is acknowledged that is not durable.
            LogPersistFailed(logger, exception, this.GetPrimaryKeyString());
            DeactivateOnIdle();
            throw;
        }

        foreach (var view in _views.Values)
        {
            view.Dirty = false;
        }

        if (state.State.SegmentsToDelete.Count > 0)
        {
            await DeleteSegmentsAsync(state.State.SegmentsToDelete);
        }
    }

    /// <summary>Writes a segment for every dirty view with enough open ids; seals them in memory only once all are durable.</summary>
    private async Task SealSegmentsAsync()
    {
        List<(LiveView View, int Count, long MaxTimestampMs, Task Write)>? seals = null;
        foreach (var (name, view) in _views)
        {
            if (!view.Dirty || view.State.OpenSeenCount < SealThreshold)
            {
                continue;
            }

            var data = view.State.EncodeSeenSegment(out var count, out var maxTimestamp);
            if (count > 0)
            {
                (seals ??= []).Add((view, count, maxTimestamp, WriteSegmentAsync(SegmentStateName(name, view.NextSegment), data)));
            }
        }

        if (seals is null)
        {
            return;
        }

        await Task.WhenAll(seals.Select(s => s.Write));
        foreach (var (view, count, maxTimestamp, _) in seals)
        {
            view.State.SealOpenSeenEvents(count);
            view.Segments.Add(new SeenSegmentRef { Number = view.NextSegment, MaxTimestampMs = maxTimestamp });
            view.NextSegment++;
        }
    }

    private async Task WriteSegmentAsync(string stateName, byte[] data)
    {
        // A name reused after its view was removed and added again may still wait for its delete: it now holds live
        // ids, so it must not be deleted (the main write that references it stores the list without it).
        state.State.SegmentsToDelete.Remove(stateName);

        // An unreferenced segment of this number may exist (written before a crash, or its delete failed): take its
        // ETag, or storage refuses the write as stale.
        var etag = await SegmentETagAsync(stateName);
        var segment = new GrainState<SeenSegmentState>(new SeenSegmentState { Data = data }) { ETag = etag };
        await Storage.WriteStateAsync(stateName, this.GetGrainId(), segment);
        _segmentETags[stateName] = segment.ETag;
    }

    /// <summary>Deletes unreferenced segments, removing each deleted one from <paramref name="pending"/>; the next write stores what is left.</summary>
    private async Task DeleteSegmentsAsync(List<string> pending)
    {
        foreach (var stateName in pending.ToList())
        {
            try
            {
                var segment = new GrainState<SeenSegmentState>(new SeenSegmentState()) { ETag = await SegmentETagAsync(stateName) };
                await Storage.ClearStateAsync(stateName, this.GetGrainId(), segment);
                _segmentETags.Remove(stateName);
                pending.Remove(stateName);
            }
            catch (Exception exception)
            {
                // The events are durable and the segment unreferenced: a leftover row for now, retried after the next write.
                _segmentETags.Remove(stateName);
                LogSegmentDeleteFailed(logger, exception, this.GetPrimaryKeyString(), stateName);
            }
        }
    }

    private async Task<string?> SegmentETagAsync(string stateName)
    {
        if (_segmentETags.TryGetValue(stateName, out var etag))
        {
            return etag;
        }

        var stored = new GrainState<SeenSegmentState>(new SeenSegmentState());
        await Storage.ReadStateAsync(stateName, this.GetGrainId(), stored);
        return stored.RecordExists ? stored.ETag : null;
    }

    /// <summary>
    /// Adds the state names of segments in <paramref name="before"/> but not in <paramref name="after"/>. Both are
    /// in segment-number order: numbers only grow, and expiry removes without reordering.
    /// </summary>
    private static void CollectDropped(string view, List<SeenSegmentRef> before, List<SeenSegmentRef> after, ref List<string>? dropped)
    {
        var kept = 0;
        foreach (var segment in before)
        {
            while (kept < after.Count && after[kept].Number < segment.Number)
            {
                kept++;
            }

            if (kept < after.Count && after[kept].Number == segment.Number)
            {
                continue;
            }

            (dropped ??= []).Add(SegmentStateName(view, segment.Number));
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Entity {Key} failed to persist its state; deactivating so it reloads from storage")]
    private static partial void LogPersistFailed(ILogger logger, Exception exception, string key);

    [LoggerMessage(Level = LogLevel.Error, Message = "Entity {Key} could not write its ingested events while deactivating; they are replayed from the source")]
    private static partial void LogDeactivationFlushFailed(ILogger logger, Exception exception, string key);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Entity {Key} could not delete its unreferenced segment {Segment}; retried after its next write")]
    private static partial void LogSegmentDeleteFailed(ILogger logger, Exception exception, string key, string segment);

    private sealed class LiveView(FeatureViewState state, int nextSegment)
    {
        public FeatureViewState State { get; } = state;

        public bool Dirty { get; set; }

        public bool HasEvents => State.AcceptedCount > 0;

        /// <summary>Sealed segments the view's ids rely on besides its open ids (written to the main state with them).</summary>
        public List<SeenSegmentRef> Segments { get; private init; } = [];

        public int NextSegment { get; set; } = nextSegment;

        /// <summary>The same view with its state moved onto a recompiled view; segments and dirtiness carry over.</summary>
        public LiveView With(FeatureViewState rebound) => new(rebound, NextSegment) { Dirty = Dirty, Segments = Segments };
    }
}
