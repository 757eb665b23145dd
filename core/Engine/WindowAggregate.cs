using System.Numerics;
using OrleansFeatures.Core.Definitions;
using OrleansFeatures.Core.Events;

namespace OrleansFeatures.Core.Engine;

/// <summary>
/// One windowed feature's reading, folded from the tiles in its window in index order: the one rule both the live
/// state (<see cref="FeatureViewState.Read"/>) and the packed form (<see cref="PackedViewReader"/>) read through, so
/// a reading from bytes equals the active one bit for bit. Organized by tile kind: an aggregation reads the tile's
/// count, newest time and the numbers of its columns (<see cref="TileGroupShape.ColumnsOf"/>), which both forms hold in
/// column-bit order; a new kind is one more column bit there and one more case here.
/// </summary>
internal struct WindowAggregate(AggregationKind aggregation)
{
    private long _count;
    private long _newest;
    private double _sum;
    private double _min = double.PositiveInfinity;
    private double _max = double.NegativeInfinity;

    /// <summary>
    /// Folds in one tile: its event count, newest event time and the numbers its list holds (<paramref name="numbers"/>,
    /// as double bits, one per bit of <paramref name="columns"/> in bit order).
    /// </summary>
    public void Add(long count, long newestMs, ReadOnlySpan<long> numbers, byte columns)
    {
        _count += count;
        if (newestMs > _newest) _newest = newestMs;
        switch (aggregation)
        {
            case AggregationKind.Sum or AggregationKind.Mean:
                _sum += Number(numbers, columns, TileGroupShape.HasSum);
                break;
            case AggregationKind.Min:
                _min = Math.Min(_min, Number(numbers, columns, TileGroupShape.HasMin));
                break;
            case AggregationKind.Max:
                _max = Math.Max(_max, Number(numbers, columns, TileGroupShape.HasMax));
                break;
        }
    }

    private static double Number(ReadOnlySpan<long> numbers, byte columns, byte column) =>
        BitConverter.Int64BitsToDouble(numbers[BitOperations.PopCount((uint)(columns & (column - 1)))]);

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
