using OrleansFeatures.Core.Definitions;
using OrleansFeatures.Core.Events;

namespace OrleansFeatures.Core.Engine;

/// <summary>
/// One windowed feature's reading, folded from the tiles in its window in index order: the one rule both the live
/// state (<see cref="FeatureViewState.Read"/>) and the packed form (<see cref="PackedViewReader"/>) read through, so
/// a reading from bytes equals the active one bit for bit. Organized by tile kind: an aggregation reads the tile's
/// count, newest time and at most one number (<see cref="TileGroupShape.ColumnsOf"/>); a new kind is one more column
/// and one more case here.
/// </summary>
internal struct WindowAggregate(AggregationKind aggregation)
{
    private long _count;
    private long _newest;
    private double _sum;
    private double _min = double.PositiveInfinity;
    private double _max = double.NegativeInfinity;

    /// <summary>Folds in one tile: its event count, newest event time and the number <paramref name="aggregation"/> reads (0 for a count).</summary>
    public void Add(long count, long newestMs, double number)
    {
        _count += count;
        if (newestMs > _newest) _newest = newestMs;
        switch (aggregation)
        {
            case AggregationKind.Sum or AggregationKind.Mean:
                _sum += number;
                break;
            case AggregationKind.Min:
                _min = Math.Min(_min, number);
                break;
            case AggregationKind.Max:
                _max = Math.Max(_max, number);
                break;
        }
    }

    public readonly FeatureReading Result() => aggregation switch
    {
        AggregationKind.Count => new FeatureReading(ScalarValue.FromInt64(_count), ReadingStatus.Present, _newest),
        AggregationKind.Sum => new FeatureReading(ScalarValue.FromDouble(_sum), ReadingStatus.Present, _newest),
        _ when _count == 0 => new FeatureReading(ScalarValue.Null, ReadingStatus.NotFound, 0),
        AggregationKind.Mean => new FeatureReading(ScalarValue.FromDouble(_sum / _count), ReadingStatus.Present, _newest),
        AggregationKind.Min => new FeatureReading(ScalarValue.FromDouble(_min), ReadingStatus.Present, _newest),
        _ => new FeatureReading(ScalarValue.FromDouble(_max), ReadingStatus.Present, _newest),
    };

    /// <summary>A feature of a view state that has accepted no event, or with no value in its window.</summary>
    public static FeatureReading NotFound => new(ScalarValue.Null, ReadingStatus.NotFound, 0);

    /// <summary>
    /// The TTL rule, applied to a raw reading of a view state that has accepted events, with watermark
    /// <paramref name="watermark"/>: Expired when the view has a TTL and the value's event time (an empty window's: the
    /// watermark) is older than <c>now − ttl</c>.
    /// </summary>
    public static FeatureReading Expire(CompiledFeatureView view, long watermark, FeatureReading reading, long nowMs)
    {
        if (view.TtlMs is { } ttl && reading.Status == ReadingStatus.Present)
        {
            // Empty windows still age: their freshness is that of the view's newest event.
            var age = reading.EventTimeMs > 0 ? reading.EventTimeMs : watermark;
            if (age < nowMs - ttl)
            {
                return new FeatureReading(ScalarValue.Null, ReadingStatus.Expired, reading.EventTimeMs);
            }
        }

        return reading;
    }
}
