using OrleansFeatures.Core.Definitions;
using OrleansFeatures.Core.Events;

namespace OrleansFeatures.Core.Engine;

/// <summary>
/// The online state of one entity for one feature view: applies events on event time and answers reads at any
/// query time not earlier than <c>watermark − allowed lateness</c>. See <c>core/Engine/README.md</c>.
/// <para>
/// Kept compact (a million entities stay in memory): no object per feature. The windowed features' tiles live in
/// shared tile lists (<see cref="TileLayout"/>: one <c>long[]</c> per list, holding only the numbers its features
/// read), the latest features' values in one struct array, and the retained event ids as 16-byte hashes
/// (<see cref="SeenIds"/>) in a struct field.
/// </para>
/// </summary>
public sealed partial class FeatureViewState
{
    /// <summary>Default bound on de-duplication ids kept per view state.</summary>
    public const int DefaultMaxSeenEvents = 100_000;

    private readonly TileLayout _layout;
    private readonly TileList[] _tiles;
    private readonly LatestValue[] _latest;
    private SeenIds _seen = new();

    // Set from EncodeSeenSegment until SealOpenSeenEvents or AbandonSeal: the segment's ids are the first `count` open
    // ids, so meanwhile open ids are only appended (applies may run while the segment is being stored).
    private bool _sealPending;
    private readonly int _maxSeenEvents;

    public FeatureViewState(CompiledFeatureView view, int maxSeenEvents = DefaultMaxSeenEvents)
        : this(view, view.Layout, maxSeenEvents)
    {
    }

    private FeatureViewState(CompiledFeatureView view, TileLayout layout, int maxSeenEvents)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxSeenEvents, 1);
        View = view;
        _maxSeenEvents = maxSeenEvents;
        _layout = layout;
        _tiles = layout.Groups.Length == 0 ? [] : new TileList[layout.Groups.Length];
        _latest = layout.LatestCount == 0 ? [] : new LatestValue[layout.LatestCount];
        for (var i = 0; i < _latest.Length; i++)
        {
            _latest[i].TimestampMs = long.MinValue;
        }
    }

    public CompiledFeatureView View { get; }

    /// <summary>
    /// Greatest progress applied, an event's progress being the earlier of its event time and its arrival time;
    /// <see cref="long.MinValue"/> before the first event.
    /// </summary>
    public long Watermark { get; private set; } = long.MinValue;

    /// <summary>Events older than this are late because their ids may have been evicted from the de-duplication set.</summary>
    public long DedupHorizon { get; private set; } = long.MinValue;

    public long AcceptedCount { get; private set; }

    public long DuplicateCount { get; private set; }

    public long LateCount { get; private set; }

    /// <summary>Number of event ids currently retained for de-duplication (at or after the lateness bound).</summary>
    public int SeenEventCount => _seen.CountLive(LatenessBound, out _);

    /// <summary>
    /// Ids accepted since the last seal (<see cref="SealOpenSeenEvents"/>): the ids the next <see cref="WriteTo"/>
    /// persists, less any that have fallen behind the lateness bound meanwhile.
    /// </summary>
    public int OpenSeenCount => _seen.OpenCount;

    /// <summary>Sealed runs of ids held in memory (one per sealed segment still live).</summary>
    public int SealedRunCount => _seen.RunCount;

    /// <summary>Events older than this are dropped as late.</summary>
    public long LatenessBound => Math.Max(
        Watermark == long.MinValue ? long.MinValue : Watermark - View.AllowedLatenessMs,
        DedupHorizon);

    /// <summary>The 64-bit hash an event id is retained as (XXH3 of its UTF-16 code units); see <c>core/Engine/README.md</c> for collisions.</summary>
    public static ulong HashEventId(string eventId) => SeenIds.Hash(eventId);

    /// <summary>Applies an event taken to have arrived at its own event time (a replay without arrival times).</summary>
    public ApplyOutcome Apply(FeatureEvent featureEvent) => Apply(featureEvent, featureEvent.TimestampMs);

    /// <summary>
    /// Applies an event that arrived at <paramref name="arrivalMs"/> (the applier's clock, Unix ms). The watermark
    /// moves to at most the arrival time, so an event ahead of its arrival never makes an on-time event late.
    /// </summary>
    public ApplyOutcome Apply(FeatureEvent featureEvent, long arrivalMs)
    {
        var timestamp = featureEvent.TimestampMs;
        var bound = LatenessBound;
        if (timestamp < bound)
        {
            LateCount++;
            return ApplyOutcome.Late;
        }

        var hash = SeenIds.Hash(featureEvent.EventId);
        if (_seen.Contains(hash, bound))
        {
            DuplicateCount++;
            return ApplyOutcome.Duplicate;
        }

        AcceptedCount++;
        ApplyToTiles(featureEvent);
        _seen.AddOpen(new SeenId(hash, timestamp));
        // An event ahead of its arrival (a producer's clock running fast, a scheduled event) moves the watermark
        // only to its arrival: otherwise everything arriving on time after it would be late until the clock caught up.
        var progress = Math.Min(timestamp, arrivalMs);
        if (progress > Watermark)
        {
            Watermark = progress;
            Evict();
        }

        if (_seen.Held > _maxSeenEvents)
        {
            ShrinkSeenEvents();
        }

        if (!_sealPending)
        {
            // Never sealed (an engine used without segments): drop expired open ids so the list stays bounded.
            _seen.CompactOpenIfDue(LatenessBound);
        }

        return ApplyOutcome.Accepted;
    }

    private void ApplyToTiles(FeatureEvent featureEvent)
    {
        var groups = _layout.Groups;
        for (var g = 0; g < groups.Length; g++)
        {
            var shape = groups[g];
            if (shape.Filter is { } filter && !filter.Evaluate(featureEvent.Fields))
            {
                continue;
            }

            double number = 0;
            var value = ScalarValue.Null;
            // A numbers list keeps the field's value too: a feature type receives the int64 or double as sent.
            if (shape.Input == TileInput.Numbers
                && (shape.Field is not { } field
                    || !featureEvent.Fields.TryGetValue(field, out value)
                    || !value.TryGetNumber(out number)
                    || !(Math.Abs(number) <= EventLimits.MaxNumberMagnitude)))
            {
                continue;
            }

            if (shape.Input == TileInput.Values
                && (shape.Field is not { } valueField
                    || !featureEvent.Fields.TryGetValue(valueField, out value)
                    || value.IsNull
                    || (value.Kind == ScalarKind.Double && !(Math.Abs(value.AsDouble) <= EventLimits.MaxNumberMagnitude))))
            {
                continue;
            }

            _tiles[g].Add(shape, FloorDiv(featureEvent.TimestampMs, shape.TileMs), number, value, featureEvent.TimestampMs);
        }

        var features = View.Features;
        var slots = _layout.Slots;
        for (var i = 0; i < slots.Length; i++)
        {
            if (slots[i] >= 0)
            {
                continue;
            }

            // Greatest event time wins; on a tie the later applied event wins.
            var feature = features[i];
            ref var latest = ref _latest[~slots[i]];
            if ((feature.Filter is not { } filter || filter.Evaluate(featureEvent.Fields))
                && feature.Field is { } latestField
                && featureEvent.Fields.TryGetValue(latestField, out var value)
                && !value.IsNull
                && featureEvent.TimestampMs >= latest.TimestampMs)
            {
                latest.Value = value;
                latest.TimestampMs = featureEvent.TimestampMs;
            }
        }
    }

    public FeatureReading Read(int featureIndex, long nowMs) =>
        AcceptedCount == 0 ? WindowAggregate.NotFound : WindowAggregate.Expire(View, Watermark, ReadFeature(featureIndex, nowMs), nowMs);

    private FeatureReading ReadFeature(int featureIndex, long nowMs)
    {
        var slot = _layout.Slots[featureIndex];
        if (slot < 0)
        {
            ref readonly var latest = ref _latest[~slot];
            return latest.TimestampMs == long.MinValue
                ? WindowAggregate.NotFound
                : new FeatureReading(latest.Value, ReadingStatus.Present, latest.TimestampMs);
        }

        var feature = View.Features[featureIndex];
        var shape = _layout.Groups[slot];
        ref readonly var list = ref _tiles[slot];
        var high = FloorDiv(nowMs, shape.TileMs);
        var low = high - feature.TilesPerWindow + 1;
        var stride = shape.Stride;
        var data = list.Data;
        var aggregate = new WindowAggregate(feature.Aggregation, feature.LastN, feature.FeatureType);
        try
        {
            for (var at = list.Find(low, stride) * stride; at < list.Count * stride; at += stride)
            {
                if (data![at + TileGroupShape.IndexAt] > high)
                {
                    break;
                }

                if (shape.HasExtras)
                {
                    // Before Add: a first value is its window's first tile's (the fold has counted nothing yet).
                    ref readonly var extra = ref list.Extras![at / stride];
                    if (feature.Aggregation == AggregationKind.First) aggregate.AddFirst(extra.First);
                    if (feature.Aggregation == AggregationKind.CountDistinct) aggregate.AddDistinct(extra.Distinct!);
                    if (feature.Aggregation == AggregationKind.LastN && extra.Last is { } last)
                    {
                        foreach (var kept in last.Items)
                        {
                            aggregate.AddLast(kept.Value);
                        }
                    }

                    if (feature.Aggregation == AggregationKind.Plugin) aggregate.AddPlugin(extra.Plugin!);
                }

                aggregate.Add(data[at + TileGroupShape.CountAt], data[at + TileGroupShape.NewestAt], data.AsSpan(at + TileGroupShape.NumbersAt, stride - TileGroupShape.NumbersAt), shape.Columns);
            }

            return aggregate.Result();
        }
        finally
        {
            aggregate.Dispose();
        }
    }

    public FeatureViewSnapshot ToSnapshot()
    {
        var seen = new List<SeenId>(_seen.OpenCount);
        _seen.CopyLive(LatenessBound, seen);
        var features = new List<FeatureSnapshot>(View.Features.Count);
        for (var i = 0; i < View.Features.Count; i++)
        {
            var slot = _layout.Slots[i];
            var feature = View.Features[i];
            features.Add(slot < 0
                ? new FeatureSnapshot { Name = feature.Name, Signature = feature.Signature, LatestValue = _latest[~slot].Value, LatestTimestampMs = _latest[~slot].TimestampMs }
                : new FeatureSnapshot { Name = feature.Name, Signature = feature.Signature, TileGroup = slot });
        }

        var groups = new List<TileGroupSnapshot>(_tiles.Length);
        for (var g = 0; g < _tiles.Length; g++)
        {
            var shape = _layout.Groups[g];
            groups.Add(new TileGroupSnapshot { Columns = shape.Columns, PluginFormat = shape.Plugin?.StateFormat ?? 0, Tiles = _tiles[g].ToTiles(shape) });
        }

        return new FeatureViewSnapshot
        {
            ViewVersion = View.Definition.Version,
            Watermark = Watermark,
            DedupHorizon = DedupHorizon,
            Accepted = AcceptedCount,
            Duplicates = DuplicateCount,
            Late = LateCount,
            SeenEvents = seen,
            Features = features,
            TileGroups = groups,
        };
    }

    /// <summary>
    /// Rebuilds state from a snapshot. Features are matched by name; a feature whose signature changed, or that is
    /// new, starts empty (it counts events from now on). The snapshot's ids become open ids (see
    /// <see cref="OpenSeenCount"/>): they are written again by the next <see cref="WriteTo"/> until sealed.
    /// </summary>
    public static FeatureViewState Restore(CompiledFeatureView view, FeatureViewSnapshot snapshot, int maxSeenEvents = DefaultMaxSeenEvents) =>
        Restore(view, snapshot, sealedSeenEvents: [], maxSeenEvents);

    /// <summary>
    /// Rebuilds state from a persisted main snapshot (whose ids are the open ones) plus the ids of the segments
    /// sealed before it (<see cref="ReadSeenSegment"/>). Sealed ids older than the lateness bound are skipped: an
    /// event that old is late, so its id is never consulted.
    /// </summary>
    public static FeatureViewState Restore(CompiledFeatureView view, FeatureViewSnapshot snapshot, IEnumerable<SeenId> sealedSeenEvents, int maxSeenEvents = DefaultMaxSeenEvents)
    {
        var state = RestoreFeatures(view, snapshot, maxSeenEvents);
        foreach (var seen in snapshot.SeenEvents)
        {
            if (!state._seen.Contains(seen.IdHash, long.MinValue))
            {
                state._seen.AddOpen(seen);
            }
        }

        state.AddSealedSeenEvents(sealedSeenEvents);
        return state;
    }

    /// <summary>Counters, watermark, tiles and latest values from a snapshot, with no ids; features matched by name and signature.</summary>
    private static FeatureViewState RestoreFeatures(CompiledFeatureView view, FeatureViewSnapshot snapshot, int maxSeenEvents)
    {
        // Each feature of the view whose state carries over: the snapshot feature it continues.
        var sources = new FeatureSnapshot?[view.Features.Count];
        foreach (var stored in snapshot.Features)
        {
            var index = view.IndexOf(stored.Name);
            if (index >= 0 && string.Equals(view.Features[index].Signature, stored.Signature, StringComparison.Ordinal))
            {
                sources[index] = stored;
            }
        }

        // A feature that starts empty must not share a tile list with one that continues (nor two that continue
        // different stored lists): the layout splits such lists for this state.
        var layout = TileLayout.ForRestore(view.Features, i => sources[i]?.TileGroup ?? -1, view.Layout);
        var state = new FeatureViewState(view, layout, maxSeenEvents)
        {
            Watermark = snapshot.Watermark,
            DedupHorizon = snapshot.DedupHorizon,
            AcceptedCount = snapshot.Accepted,
            DuplicateCount = snapshot.Duplicates,
            LateCount = snapshot.Late,
        };
        for (var i = 0; i < sources.Length; i++)
        {
            if (sources[i] is not { } source)
            {
                continue;
            }

            var slot = layout.Slots[i];
            if (slot < 0)
            {
                state._latest[~slot] = new LatestValue { Value = source.LatestValue, TimestampMs = source.LatestTimestampMs };
            }
            else if (state._tiles[slot].Count == 0 && source.TileGroup >= 0 && source.TileGroup < snapshot.TileGroups.Count)
            {
                var stored = snapshot.TileGroups[source.TileGroup];
                state._tiles[slot] = TileList.From(layout.Groups[slot], stored.Tiles, stored.PluginFormat);
            }
        }

        return state;
    }

    /// <summary>
    /// Adds ids of sealed segments to the de-duplication set (not to the open ids): part of a restore, before any
    /// event is applied. Ids older than the lateness bound are skipped. Call once per segment: each call is one run.
    /// </summary>
    public void AddSealedSeenEvents(IEnumerable<SeenId> sealedSeenEvents)
    {
        var ids = sealedSeenEvents as SeenId[] ?? [.. sealedSeenEvents];
        _seen.AddRun(ids, LatenessBound, dedupe: true);
        if (_seen.Held > _maxSeenEvents)
        {
            ShrinkSeenEvents();
        }
    }

    /// <summary>
    /// The same state on a recompiled view of the same version (a non-breaking definition change); open and sealed
    /// ids stay as they are, so sealed segments remain valid. This state must not be used afterwards.
    /// </summary>
    public FeatureViewState Rebind(CompiledFeatureView view)
    {
        var rebound = RestoreFeatures(view, ToSnapshot(), _maxSeenEvents);
        rebound._seen = _seen;
        rebound._sealPending = _sealPending;
        return rebound;
    }

    private void DropExpiredOpenIds()
    {
        if (!_sealPending)
        {
            _seen.DropExpiredOpen(LatenessBound);
        }
    }

    /// <summary>Drops ids and tiles that no read at or after <see cref="LatenessBound"/> can need.</summary>
    private void Evict()
    {
        var bound = LatenessBound;
        if (bound == long.MinValue)
        {
            return;
        }

        _seen.DropExpiredRuns(bound);
        var groups = _layout.Groups;
        for (var g = 0; g < groups.Length; g++)
        {
            // The earliest query time still answered exactly is the bound; its widest window starts at this tile.
            _tiles[g].EvictBefore(FloorDiv(bound, groups[g].TileMs) - groups[g].TilesPerWindow + 1, groups[g].Stride);
        }
    }

    private void ShrinkSeenEvents()
    {
        // Over the bound: forget the oldest ids and declare everything at or before them late, so a forgotten id
        // can never be applied twice. Costs dropped events only for entities busier than the bound. A scan of the
        // ids, so it runs only when the ids held (live or not yet dropped) exceed the bound.
        while (_seen.CountLive(LatenessBound, out var oldest) > _maxSeenEvents)
        {
            DedupHorizon = Math.Max(DedupHorizon, oldest + 1);
        }

        Evict();
        var bound = LatenessBound;
        _seen.CompactRuns(bound);
        if (!_sealPending)
        {
            _seen.DropExpiredOpen(bound);
        }
    }

    internal static long FloorDiv(long value, long divisor)
    {
        var quotient = Math.DivRem(value, divisor, out var remainder);
        return remainder < 0 ? quotient - 1 : quotient;
    }

    /// <summary>A latest feature's value and its event time (<see cref="long.MinValue"/> before any).</summary>
    private struct LatestValue
    {
        public ScalarValue Value;
        public long TimestampMs;
    }
}
