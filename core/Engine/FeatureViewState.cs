using System.Buffers;
using OrleansFeatures.Core.Definitions;
using OrleansFeatures.Core.Events;

namespace OrleansFeatures.Core.Engine;

/// <summary>
/// The online state of one entity for one feature view: applies events on event time and answers reads at any
/// query time not earlier than <c>watermark − allowed lateness</c>. See <c>core/Engine/README.md</c>.
/// </summary>
public sealed partial class FeatureViewState
{
    /// <summary>Default bound on de-duplication ids kept per view state.</summary>
    public const int DefaultMaxSeenEvents = 100_000;

    private readonly FeatureState[] _features;
    private readonly Dictionary<string, long> _seen = new(StringComparer.Ordinal);
    private readonly PriorityQueue<string, long> _seenByTime = new();

    /// <summary>Ids accepted since the last seal, in order: the only ids <see cref="WriteTo"/> persists.</summary>
    private readonly List<SeenEvent> _open = [];

    /// <summary>The persisted encoding of <c>_open[0.._openEncoded)</c>, kept between writes (see <c>WriteOpenSeenEvents</c>).</summary>
    private ArrayBufferWriter<byte>? _openEncoding;
    private int _openEncoded;

    // Set from EncodeSeenSegment until SealOpenSeenEvents or AbandonSeal: the segment's ids are _open[0..count), so
    // meanwhile open ids are only appended (applies may run while the segment is being stored).
    private bool _sealPending;
    private readonly int _maxSeenEvents;

    public FeatureViewState(CompiledFeatureView view, int maxSeenEvents = DefaultMaxSeenEvents)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxSeenEvents, 1);
        View = view;
        _maxSeenEvents = maxSeenEvents;
        _features = new FeatureState[view.Features.Count];
        for (var i = 0; i < _features.Length; i++)
        {
            _features[i] = new FeatureState(view.Features[i]);
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

    /// <summary>Number of event ids currently kept for de-duplication.</summary>
    public int SeenEventCount => _seen.Count;

    /// <summary>
    /// Ids accepted since the last seal (<see cref="SealOpenSeenEvents"/>): the ids the next <see cref="WriteTo"/>
    /// persists, less any that have fallen behind the lateness bound meanwhile.
    /// </summary>
    public int OpenSeenCount => _open.Count;

    /// <summary>Events older than this are dropped as late.</summary>
    public long LatenessBound => Math.Max(
        Watermark == long.MinValue ? long.MinValue : Watermark - View.AllowedLatenessMs,
        DedupHorizon);

    /// <summary>Applies an event taken to have arrived at its own event time (a replay without arrival times).</summary>
    public ApplyOutcome Apply(FeatureEvent featureEvent) => Apply(featureEvent, featureEvent.TimestampMs);

    /// <summary>
    /// Applies an event that arrived at <paramref name="arrivalMs"/> (the applier's clock, Unix ms). The watermark
    /// moves to at most the arrival time, so an event ahead of its arrival never makes an on-time event late.
    /// </summary>
    public ApplyOutcome Apply(FeatureEvent featureEvent, long arrivalMs)
    {
        var timestamp = featureEvent.TimestampMs;
        if (timestamp < LatenessBound)
        {
            LateCount++;
            return ApplyOutcome.Late;
        }

        if (_seen.ContainsKey(featureEvent.EventId))
        {
            DuplicateCount++;
            return ApplyOutcome.Duplicate;
        }

        AcceptedCount++;
        foreach (var feature in _features)
        {
            feature.Apply(featureEvent);
        }

        _seen.Add(featureEvent.EventId, timestamp);
        _seenByTime.Enqueue(featureEvent.EventId, timestamp);
        _open.Add(new SeenEvent(featureEvent.EventId, timestamp));
        // An event ahead of its arrival (a producer's clock running fast, a scheduled event) moves the watermark
        // only to its arrival: otherwise everything arriving on time after it would be late until the clock caught up.
        var progress = Math.Min(timestamp, arrivalMs);
        if (progress > Watermark)
        {
            Watermark = progress;
            Evict();
        }

        if (_seen.Count > _maxSeenEvents)
        {
            ShrinkSeenEvents();
        }

        if (_open.Count > (2 * _seen.Count) + 64)
        {
            // Never sealed (an engine used without segments): drop expired open ids so the list stays bounded.
            DropExpiredOpenIds();
        }

        return ApplyOutcome.Accepted;
    }

    public FeatureReading Read(int featureIndex, long nowMs)
    {
        if (AcceptedCount == 0)
        {
            return new FeatureReading(ScalarValue.Null, ReadingStatus.NotFound, 0);
        }

        var reading = _features[featureIndex].Read(nowMs);
        if (View.TtlMs is { } ttl && reading.Status == ReadingStatus.Present)
        {
            // Empty windows still age: their freshness is that of the view's newest event.
            var age = reading.EventTimeMs > 0 ? reading.EventTimeMs : Watermark;
            if (age < nowMs - ttl)
            {
                return new FeatureReading(ScalarValue.Null, ReadingStatus.Expired, reading.EventTimeMs);
            }
        }

        return reading;
    }

    public FeatureViewSnapshot ToSnapshot()
    {
        var seen = new List<SeenEvent>(_seen.Count);
        foreach (var (id, timestamp) in _seen)
        {
            seen.Add(new SeenEvent(id, timestamp));
        }

        var features = new List<FeatureSnapshot>(_features.Length);
        foreach (var feature in _features)
        {
            features.Add(feature.ToSnapshot());
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
    public static FeatureViewState Restore(CompiledFeatureView view, FeatureViewSnapshot snapshot, IEnumerable<SeenEvent> sealedSeenEvents, int maxSeenEvents = DefaultMaxSeenEvents)
    {
        var state = new FeatureViewState(view, maxSeenEvents)
        {
            Watermark = snapshot.Watermark,
            DedupHorizon = snapshot.DedupHorizon,
            AcceptedCount = snapshot.Accepted,
            DuplicateCount = snapshot.Duplicates,
            LateCount = snapshot.Late,
        };
        foreach (var seen in snapshot.SeenEvents)
        {
            if (state._seen.TryAdd(seen.EventId, seen.TimestampMs))
            {
                state._seenByTime.Enqueue(seen.EventId, seen.TimestampMs);
                state._open.Add(seen);
            }
        }

        state.AddSealedSeenEvents(sealedSeenEvents);

        foreach (var feature in snapshot.Features)
        {
            var index = view.IndexOf(feature.Name);
            if (index >= 0 && string.Equals(view.Features[index].Signature, feature.Signature, StringComparison.Ordinal))
            {
                state._features[index].Restore(feature);
            }
        }

        return state;
    }

    /// <summary>
    /// Adds ids of sealed segments to the de-duplication set (not to the open ids): part of a restore, before any
    /// event is applied. Ids older than the lateness bound are skipped.
    /// </summary>
    public void AddSealedSeenEvents(IEnumerable<SeenEvent> sealedSeenEvents)
    {
        var bound = LatenessBound;
        foreach (var seen in sealedSeenEvents)
        {
            if (seen.TimestampMs >= bound && _seen.TryAdd(seen.EventId, seen.TimestampMs))
            {
                _seenByTime.Enqueue(seen.EventId, seen.TimestampMs);
            }
        }

        if (_seen.Count > _maxSeenEvents)
        {
            ShrinkSeenEvents();
        }
    }

    /// <summary>
    /// The same state on a recompiled view of the same version (a non-breaking definition change); open and sealed
    /// ids stay as they are, so sealed segments remain valid.
    /// </summary>
    public FeatureViewState Rebind(CompiledFeatureView view)
    {
        var rebound = Restore(view, ToSnapshot(), _maxSeenEvents);
        rebound._open.Clear();
        rebound._open.AddRange(_open);
        return rebound;
    }

    private void DropExpiredOpenIds()
    {
        if (_sealPending)
        {
            return;
        }

        var bound = LatenessBound;
        var kept = 0;
        for (var i = 0; i < _open.Count; i++)
        {
            if (_open[i].TimestampMs >= bound)
            {
                _open[kept++] = _open[i];
            }
        }

        if (kept < _open.Count)
        {
            _open.RemoveRange(kept, _open.Count - kept);
            ForgetEncodedOpenIds();
        }
    }

    /// <summary>Drops ids and tiles that no read at or after <see cref="LatenessBound"/> can need.</summary>
    private void Evict()
    {
        var bound = LatenessBound;
        while (_seenByTime.TryPeek(out var id, out var timestamp) && timestamp < bound)
        {
            _seenByTime.Dequeue();
            _seen.Remove(id);
        }

        foreach (var feature in _features)
        {
            feature.Evict(bound);
        }
    }

    private void ShrinkSeenEvents()
    {
        // Over the bound: forget the oldest ids and declare everything at or before them late, so a forgotten id
        // can never be applied twice. Costs dropped events only for entities busier than the bound.
        while (_seen.Count > _maxSeenEvents && _seenByTime.TryDequeue(out var id, out var timestamp))
        {
            _seen.Remove(id);
            DedupHorizon = Math.Max(DedupHorizon, timestamp + 1);
        }

        Evict();
    }

    /// <summary>State of one feature: a latest value, or a sparse sorted list of non-empty tiles.</summary>
    private sealed partial class FeatureState(CompiledFeature feature)
    {
        // Tiles sorted by index in _tiles[0.._tileCount): an array grown 1, 2, 4, … rather than a List (whose first
        // growth is to 4): a million entities × 20 features mostly hold one or two tiles each (docs/benchmarks.md, "Memory").
        private Tile[] _tiles = [];
        private int _tileCount;
        private ScalarValue _latest;
        private long _latestTimestamp = long.MinValue;

        public void Apply(FeatureEvent featureEvent)
        {
            if (feature.Filter is { } filter && !filter.Evaluate(featureEvent.Fields))
            {
                return;
            }

            if (feature.Aggregation == AggregationKind.Latest)
            {
                // Greatest event time wins; on a tie the later applied event wins.
                if (feature.Field is { } latestField
                    && featureEvent.Fields.TryGetValue(latestField, out var value)
                    && !value.IsNull
                    && featureEvent.TimestampMs >= _latestTimestamp)
                {
                    _latest = value;
                    _latestTimestamp = featureEvent.TimestampMs;
                }

                return;
            }

            double number = 0;
            if (feature.Aggregation != AggregationKind.Count
                && (feature.Field is not { } field
                    || !featureEvent.Fields.TryGetValue(field, out var fieldValue)
                    || !fieldValue.TryGetNumber(out number)
                    || !(Math.Abs(number) <= EventLimits.MaxNumberMagnitude)))
            {
                return;
            }

            var index = FloorDiv(featureEvent.TimestampMs, feature.TileMs);
            var position = Find(index);
            if (position < _tileCount && _tiles[position].Index == index)
            {
                _tiles[position].Add(number, featureEvent.TimestampMs);
            }
            else
            {
                var tile = Tile.Create(index);
                tile.Add(number, featureEvent.TimestampMs);
                InsertTile(position, tile);
            }
        }

        private void InsertTile(int position, Tile tile)
        {
            if (_tileCount == _tiles.Length)
            {
                var grown = new Tile[_tileCount == 0 ? 1 : _tileCount * 2];
                Array.Copy(_tiles, grown, _tileCount);
                _tiles = grown;
            }

            Array.Copy(_tiles, position, _tiles, position + 1, _tileCount - position);
            _tiles[position] = tile;
            _tileCount++;
        }

        public FeatureReading Read(long nowMs)
        {
            if (feature.Aggregation == AggregationKind.Latest)
            {
                return _latestTimestamp == long.MinValue
                    ? new FeatureReading(ScalarValue.Null, ReadingStatus.NotFound, 0)
                    : new FeatureReading(_latest, ReadingStatus.Present, _latestTimestamp);
            }

            var high = FloorDiv(nowMs, feature.TileMs);
            var low = high - feature.TilesPerWindow + 1;
            long count = 0;
            double sum = 0, min = double.PositiveInfinity, max = double.NegativeInfinity;
            var newest = 0L;
            for (var i = Find(low); i < _tileCount; i++)
            {
                ref readonly var tile = ref _tiles[i];
                if (tile.Index > high)
                {
                    break;
                }

                count += tile.Count;
                sum += tile.Sum;
                if (tile.Min < min) min = tile.Min;
                if (tile.Max > max) max = tile.Max;
                if (tile.MaxTimestampMs > newest) newest = tile.MaxTimestampMs;
            }

            return feature.Aggregation switch
            {
                AggregationKind.Count => new FeatureReading(ScalarValue.FromInt64(count), ReadingStatus.Present, newest),
                AggregationKind.Sum => new FeatureReading(ScalarValue.FromDouble(sum), ReadingStatus.Present, newest),
                _ when count == 0 => new FeatureReading(ScalarValue.Null, ReadingStatus.NotFound, 0),
                AggregationKind.Mean => new FeatureReading(ScalarValue.FromDouble(sum / count), ReadingStatus.Present, newest),
                AggregationKind.Min => new FeatureReading(ScalarValue.FromDouble(min), ReadingStatus.Present, newest),
                _ => new FeatureReading(ScalarValue.FromDouble(max), ReadingStatus.Present, newest),
            };
        }

        public void Evict(long latenessBound)
        {
            if (!feature.IsWindowed || _tileCount == 0 || latenessBound == long.MinValue)
            {
                return;
            }

            // The earliest query time still answered exactly is latenessBound; its window starts at this tile.
            var firstNeeded = FloorDiv(latenessBound, feature.TileMs) - feature.TilesPerWindow + 1;
            var drop = Find(firstNeeded);
            if (drop > 0)
            {
                var kept = _tileCount - drop;
                if (kept <= _tiles.Length / 4)
                {
                    // Mostly evicted (a burst aged out): give the memory back.
                    _tiles = kept == 0 ? [] : _tiles.AsSpan(drop, kept).ToArray();
                }
                else
                {
                    Array.Copy(_tiles, drop, _tiles, 0, kept);
                    Array.Clear(_tiles, kept, _tileCount - kept);
                }

                _tileCount = kept;
            }
        }

        public FeatureSnapshot ToSnapshot() => new()
        {
            Name = feature.Name,
            Signature = feature.Signature,
            LatestValue = _latest,
            LatestTimestampMs = _latestTimestamp,
            Tiles = [.. _tiles.AsSpan(0, _tileCount)],
        };

        public void Restore(FeatureSnapshot snapshot)
        {
            _latest = snapshot.LatestValue;
            _latestTimestamp = snapshot.LatestTimestampMs;
            _tiles = [.. snapshot.Tiles];
            _tileCount = _tiles.Length;
        }

        /// <summary>Position of the first tile whose index is at least <paramref name="index"/>.</summary>
        private int Find(long index)
        {
            // Events mostly arrive in order: check the end before searching.
            var count = _tileCount;
            if (count == 0 || _tiles[count - 1].Index < index)
            {
                return count;
            }

            int lo = 0, hi = count - 1;
            while (lo < hi)
            {
                var mid = (lo + hi) >>> 1;
                if (_tiles[mid].Index < index)
                {
                    lo = mid + 1;
                }
                else
                {
                    hi = mid;
                }
            }

            return lo;
        }

        private static long FloorDiv(long value, long divisor)
        {
            var quotient = Math.DivRem(value, divisor, out var remainder);
            return remainder < 0 ? quotient - 1 : quotient;
        }
    }
}
