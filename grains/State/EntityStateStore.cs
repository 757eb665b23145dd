using Microsoft.Extensions.Logging;
using Orleans;
using Orleans.Runtime;
using Orleans.Storage;
using OrleansFeatures.Core.Engine;
using OrleansFeatures.Grains.Diagnostics;
using OrleansFeatures.Grains.Ingestion;
using OrleansFeatures.Grains.Serving;

namespace OrleansFeatures.Grains.State;

/// <summary>
/// One entity's durable state and its commit protocol: the main state (<see cref="EntityState"/>, the commit record)
/// plus sealed de-duplication segments stored as their own grain states, written in commit-point order with ETags.
/// Owned by the entity grain and called from its turns or from a partition ingester's checkpoint in place, always under
/// the grain's write lock (events may be applied to the views meanwhile, see <see cref="WriteAsync"/>); works on any <see cref="IGrainStorage"/>, so it is tested
/// without a cluster (<c>EntityStateStoreTests</c>). The order and why a crash anywhere is safe:
/// <c>docs/architecture.md</c>, "Durability". Given the silo's <see cref="IngestionLane"/>, a write packs and serializes
/// the state on one of its worker threads (below request handling in priority) while the caller waits; the storage
/// write itself is awaited off the lane.
/// </summary>
internal sealed partial class EntityStateStore(IGrainStorage storage, GrainId grainId, string key, ILogger logger, IngestionLane? lane = null)
{
    /// <summary>A view seals its open de-duplication ids into a segment once it holds this many (see <see cref="WriteAsync"/>).</summary>
    internal const int SealThreshold = 512;

    /// <summary>Name of the main grain state.</summary>
    internal const string MainStateName = "entity";

    private readonly GrainState<EntityState> _main = new(new EntityState());

    /// <summary>
    /// Stands in <see cref="EntityState.Views"/> for a view's bytes once they are written or restored: its live view
    /// is their source and is packed again at the next write, so an active entity does not keep a second copy of its
    /// state (~1.6 KB for 20 features; docs/benchmarks.md, "Memory"). Never stored: every write replaces it.
    /// </summary>
    private static readonly byte[] Released = new byte[1];

    /// <summary>ETags of segment states read or written, by state name; storage rejects stale ones.</summary>
    /// <summary>Created with the first segment: most entities never seal one, and an empty dictionary is ~80 bytes each.</summary>
    private Dictionary<string, string?>? _segmentETags;

    /// <summary>The main state as last read or written.</summary>
    public EntityState State => Main;

    private EntityState Main => _main.State ??= new EntityState();

    /// <summary>Name of the grain state holding segment <paramref name="number"/> of <paramref name="view"/>'s de-duplication ids.</summary>
    internal static string SegmentStateName(string view, int number) => $"entity.seen.{view}.{number}";

    /// <summary>Reads the main state (an entity never written reads as empty).</summary>
    public async Task ReadAsync()
    {
        await storage.ReadStateAsync(MainStateName, grainId, _main);
    }

    /// <summary>
    /// The stored bytes of view <paramref name="name"/> that no live view holds: false when none are stored, or when
    /// they were released because a live view of theirs is their source (<see cref="Released"/>).
    /// </summary>
    public bool TryGetStoredView(string name, out byte[] packed) =>
        Main.Views.TryGetValue(name, out packed!) && !ReferenceEquals(packed, Released);

    /// <summary>
    /// The view version stored view bytes were written for. Bytes in a packed format this version does not read (a
    /// later release's, or a corrupt row) fail the activation with an error naming the entity, the view and the format,
    /// rather than being read as something else or silently started empty.
    /// </summary>
    public int StoredViewVersion(string name, byte[] packed)
    {
        try
        {
            return EngineStateMapper.PackedViewVersion(packed);
        }
        catch (InvalidDataException exception)
        {
            throw new InvalidDataException($"entity {key}: the stored state of view '{name}' cannot be read ({exception.Message}); the entity does not activate", exception);
        }
    }

    /// <summary>A view from its main state and the segments that state references; segments already expired are not read.</summary>
    public async Task<LiveView> RestoreAsync(string name, CompiledFeatureView compiled, byte[] packed, SeenSegmentList? segments)
    {
        var live = await RestoreViewAsync(name, compiled, packed, segments);
        Main.Views[name] = Released;
        return live;
    }

    private async Task<LiveView> RestoreViewAsync(string name, CompiledFeatureView compiled, byte[] packed, SeenSegmentList? segments)
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
        await storage.ReadStateAsync(stateName, grainId, stored);
        if (!stored.RecordExists || stored.State is null)
        {
            // The main state is written only after its segments are durable, so this is lost or tampered data.
            // Refuse to activate rather than forget ids and count replays twice.
            throw new InvalidDataException($"entity {key}: segment {stateName} referenced by its state is missing");
        }

        (_segmentETags ??= new(StringComparer.Ordinal))[stateName] = stored.ETag;
        return stored.State;
    }

    /// <summary>
    /// Makes the applied events durable. Commit-point order: (1) views with enough open ids seal them into a
    /// segment, written and awaited first; (2) the main state, which references the new segments and no longer holds
    /// their ids, is written: the commit point; (3) segments no longer referenced (expired, or of removed views) are
    /// deleted. A crash before (2) leaves an unreferenced segment, ignored on restore and overwritten by the next
    /// seal of the same number; a crash after (2) leaves garbage only, listed in the main state and deleted after a
    /// later write.
    /// <para>
    /// Events may be applied to <paramref name="entity"/> while this awaits (by the grain's reads' interleaving, or by
    /// an ingester applying in place): the views are encoded and packed under the entity's lock, with the apply
    /// sequence they hold, and only that sequence is marked written; an apply after the pack stays unwritten for the
    /// next write. The caller runs one write (or view sync) at a time per entity.
    /// </para>
    /// </summary>
    public async Task WriteAsync(EntityViews entity, long epoch)
    {
        // Entity writes go to IGrainStorage directly, not through Orleans' traced state bridge: this span puts the
        // write under the trace of the push or stream delivery that caused it.
        using var activity = FeatureStoreTracing.Source.StartActivity("entity state write");
        // A failed seal leaves nothing sealed in memory, so the ids are still written with the main state; the write
        // fails all the same, like a failed main write, so nothing is acknowledged on a storage that just failed.
        await SealSegmentsAsync(entity);

        // The commit point. A failure here leaves memory ahead of storage: the caller must not acknowledge anything
        // and must reload (the entity grain deactivates).
        var views = entity.Views;
        long sequence;
        try
        {
            Task write;
            (write, sequence) = lane is null
                ? PackAndStartWrite(entity, epoch)
                : await lane.RunAsync(static s => s.Store.PackAndStartWrite(s.Entity, s.Epoch), (Store: this, Entity: entity, Epoch: epoch));
            await write;
        }
        catch
        {
            lock (entity.Gate)
            {
                foreach (var (_, view) in views)
                {
                    view.Packed = false;
                }
            }

            throw;
        }

        // The views packed above are marked on the views themselves (no list per write); the same dictionary is walked,
        // so a view added meanwhile was not packed and is not marked.
        lock (entity.Gate)
        {
            foreach (var (name, view) in views)
            {
                if (view.Packed)
                {
                    view.Packed = false;
                    view.WrittenAt = Math.Max(view.WrittenAt, sequence);
                    Main.Views[name] = Released;
                }
            }

            entity.MarkWrittenLocked(sequence);
        }

        if (Main.SegmentsToDelete.Count > 0)
        {
            await DeleteSegmentsAsync(Main.SegmentsToDelete);
        }
    }

    /// <summary>
    /// Packs the views under the entity's lock into the main state (with the apply sequence they hold) and starts its
    /// write, which serializes it: the CPU of a write, run on the ingestion lane when there is one. Returns the write
    /// to await and the sequence it makes durable.
    /// </summary>
    private (Task Write, long Sequence) PackAndStartWrite(EntityViews entity, long epoch)
    {
        // Segments this write stops referencing, deleted once it is durable. Found per changed entry, not by
        // comparing every reference before and after: a busy view may reference a hundred segments.
        List<string>? dropped = null;
        var views = entity.Views;
        long sequence;
        lock (entity.Gate)
        {
            sequence = entity.AppliedSequenceLocked;
            foreach (var (name, view) in views)
            {
                if (!view.Dirty && Main.Views.TryGetValue(name, out var kept) && ReferenceEquals(kept, Released))
                {
                    // Unchanged since written or restored: the same state packed again.
                    Main.Views[name] = EngineStateMapper.Pack(view.State);
                    view.Packed = true;
                }
                else if (view.Dirty)
                {
                    view.Packed = true;
                    RemoveExpiredSegments(view.Segments, view.State.LatenessBound);
                    Main.Views[name] = EngineStateMapper.Pack(view.State);
                    if (Main.SeenSegments.TryGetValue(name, out var before))
                    {
                        CollectDropped(name, before.Segments, view.Segments, ref dropped);
                    }

                    if (view.Segments.Count == 0 && view.NextSegment == 0)
                    {
                        // Never sealed: no entry (a missing entry restores as none, numbering from 0).
                        Main.SeenSegments.Remove(name);
                    }
                    else
                    {
                        Main.SeenSegments[name] = new SeenSegmentList { NextNumber = view.NextSegment, Segments = [.. view.Segments] };
                    }
                }
            }
        }

        // Views removed from the definitions are dropped from storage on the next write. (Removing while enumerating a
        // Dictionary is allowed; going through .Keys would cache a KeyCollection object on each entity's dictionary.)
        foreach (var (name, _) in Main.Views)
        {
            if (!views.ContainsKey(name))
            {
                Main.Views.Remove(name);
            }
        }

        foreach (var (name, list) in Main.SeenSegments)
        {
            if (!Main.Views.ContainsKey(name))
            {
                CollectDropped(name, list.Segments, [], ref dropped);
                Main.SeenSegments.Remove(name);
            }
        }

        // Segments this write stops referencing are recorded in it, so a delete that fails (or a crash before it)
        // is retried after a later write instead of leaving the row for good.
        if (dropped is not null)
        {
            foreach (var stateName in dropped)
            {
                if (!Main.SegmentsToDelete.Contains(stateName))
                {
                    Main.SegmentsToDelete.Add(stateName);
                }
            }
        }

        Main.WrittenByEpoch = epoch;
        Main.WrittenThroughSequence = sequence;
        // Started here (the storage serializes the state before its first await), awaited by the caller.
        return (storage.WriteStateAsync(MainStateName, grainId, _main), sequence);
    }

    /// <summary>
    /// Writes a segment for every dirty view with enough open ids; seals them in memory only once all are durable.
    /// The ids are encoded under the entity's lock, and the view keeps its open ids append-only until the seal (or
    /// its abandonment), so the first <c>count</c> open ids are still the segment's when it is sealed.
    /// </summary>
    private async Task SealSegmentsAsync(EntityViews entity)
    {
        List<(LiveView View, int Count, long MaxTimestampMs, string StateName, byte[] Data)>? seals = null;
        lock (entity.Gate)
        {
            foreach (var (name, view) in entity.Views)
            {
                if (!view.Dirty || view.State.OpenSeenCount < SealThreshold)
                {
                    continue;
                }

                var data = view.State.EncodeSeenSegment(out var count, out var maxTimestamp);
                if (count == 0)
                {
                    view.State.AbandonSeal();
                    continue;
                }

                (seals ??= []).Add((view, count, maxTimestamp, SegmentStateName(name, view.NextSegment), data));
            }
        }

        if (seals is null)
        {
            return;
        }

        try
        {
            var writes = new Task[seals.Count];
            for (var i = 0; i < writes.Length; i++)
            {
                writes[i] = WriteSegmentAsync(seals[i].StateName, seals[i].Data);
            }

            await Task.WhenAll(writes);
        }
        catch
        {
            lock (entity.Gate)
            {
                foreach (var seal in seals)
                {
                    seal.View.State.AbandonSeal();
                }
            }

            throw;
        }

        lock (entity.Gate)
        {
            foreach (var (view, count, maxTimestamp, _, _) in seals)
            {
                view.State.SealOpenSeenEvents(count);
                view.Segments.Add(new SeenSegmentRef { Number = view.NextSegment, MaxTimestampMs = maxTimestamp });
                view.NextSegment++;
            }
        }
    }

    private async Task WriteSegmentAsync(string stateName, byte[] data)
    {
        // A name reused after its view was removed and added again may still wait for its delete: it now holds live
        // ids, so it must not be deleted (the main write that references it stores the list without it).
        Main.SegmentsToDelete.Remove(stateName);

        // An unreferenced segment of this number may exist (written before a crash, or its delete failed): take its
        // ETag, or storage refuses the write as stale.
        var etag = await SegmentETagAsync(stateName);
        var segment = new GrainState<SeenSegmentState>(new SeenSegmentState { Data = data }) { ETag = etag };
        await storage.WriteStateAsync(stateName, grainId, segment);
        (_segmentETags ??= new(StringComparer.Ordinal))[stateName] = segment.ETag;
    }

    /// <summary>Deletes unreferenced segments, removing each deleted one from <paramref name="pending"/>; the next write stores what is left.</summary>
    private async Task DeleteSegmentsAsync(List<string> pending)
    {
        foreach (var stateName in pending.ToList())
        {
            try
            {
                var segment = new GrainState<SeenSegmentState>(new SeenSegmentState()) { ETag = await SegmentETagAsync(stateName) };
                await storage.ClearStateAsync(stateName, grainId, segment);
                _segmentETags?.Remove(stateName);
                pending.Remove(stateName);
            }
            catch (Exception exception)
            {
                // The events are durable and the segment unreferenced: a leftover row for now, retried after the next write.
                _segmentETags?.Remove(stateName);
                LogSegmentDeleteFailed(logger, exception, key, stateName);
            }
        }
    }

    private async Task<string?> SegmentETagAsync(string stateName)
    {
        if (_segmentETags is not null && _segmentETags.TryGetValue(stateName, out var etag))
        {
            return etag;
        }

        var stored = new GrainState<SeenSegmentState>(new SeenSegmentState());
        await storage.ReadStateAsync(stateName, grainId, stored);
        return stored.RecordExists ? stored.ETag : null;
    }

    /// <summary>Drops segments whose ids are all older than the lateness bound (a loop: a predicate would be a closure per write).</summary>
    private static void RemoveExpiredSegments(List<SeenSegmentRef> segments, long bound)
    {
        var kept = 0;
        for (var i = 0; i < segments.Count; i++)
        {
            if (segments[i].MaxTimestampMs >= bound)
            {
                segments[kept++] = segments[i];
            }
        }

        segments.RemoveRange(kept, segments.Count - kept);
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

    [LoggerMessage(Level = LogLevel.Warning, Message = "Entity {Key} could not delete its unreferenced segment {Segment}; retried after its next write")]
    private static partial void LogSegmentDeleteFailed(ILogger logger, Exception exception, string key, string segment);
}

/// <summary>A feature view's live state in an entity grain, with what its next write needs.</summary>
internal sealed class LiveView(FeatureViewState state, int nextSegment)
{
    public FeatureViewState State { get; } = state;

    /// <summary>The entity's apply sequence at this view's newest change (0: none since created or restored).</summary>
    public long ChangedAt { get; set; }

    /// <summary>The apply sequence this view's last durable write covered.</summary>
    public long WrittenAt { get; set; }

    /// <summary>Packed by the write in progress, which marks it written once durable (set and cleared under the entity's lock).</summary>
    public bool Packed { get; set; }

    /// <summary>Changed after the state its last write packed (read under the entity's lock).</summary>
    public bool Dirty => ChangedAt > WrittenAt;

    public bool HasEvents => State.AcceptedCount > 0;

    /// <summary>Sealed segments the view's ids rely on besides its open ids (written to the main state with them).</summary>
    public List<SeenSegmentRef> Segments { get; private init; } = [];

    public int NextSegment { get; set; } = nextSegment;

    /// <summary>The same view with its state moved onto a recompiled view; segments and dirtiness carry over.</summary>
    public LiveView With(FeatureViewState rebound) => new(rebound, NextSegment) { ChangedAt = ChangedAt, WrittenAt = WrittenAt, Segments = Segments };
}
