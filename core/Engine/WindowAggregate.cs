using System.Numerics;
using OrleansFeatures.Core.Definitions;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Sdk;

namespace OrleansFeatures.Core.Engine;

/// <summary>
/// One windowed feature's reading, folded from the tiles in its window in index order: the one rule both the live
/// state (<see cref="FeatureViewState.Read"/>) and the packed form (<see cref="PackedViewReader"/>) read through, so
/// a reading from bytes equals the active one bit for bit. Organized by tile kind: an aggregation reads the tile's
/// count, newest time and the numbers of its columns (<see cref="TileGroupShape.ColumnsOf"/>), which both forms hold in
/// column-bit order (sum, min, max one number each, the variance moments two: mean and √M2); first and count_distinct
/// also read the tile's value and sketch (<see cref="AddFirst"/>, <see cref="AddDistinct"/>), which the live state
/// keeps in <see cref="TileList.Extras"/> and the read copy writes after the numbers. A new kind is one more column
/// bit there and one more case here. A count_distinct fold rents buffers: <see cref="Dispose"/> it. A last_n fold
/// (<see cref="AddLast"/>) keeps the last <c>lastN</c> values it is given in a ring.
/// </summary>
internal struct WindowAggregate(AggregationKind aggregation, int lastN = 0, IFeatureType? featureType = null) : IDisposable
{
    private long _count;
    private long _newest;
    private double _sum;
    private double _min = double.PositiveInfinity;
    private double _max = double.NegativeInfinity;
    private double _mean;
    private double _rootM2;
    private ScalarValue _first = ScalarValue.Null;
    private DistinctSketch.Union _distinct;
    private object? _plugin;

    // last_n: the last `lastN` values given, in a ring (_lastAdded counts every one given).
    private ScalarValue[]? _last;
    private long _lastAdded;

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
            case AggregationKind.Variance or AggregationKind.Stddev:
                // Chan et al.'s pairwise merge of (count, mean, M2), as stable as Welford within a tile:
                // M2 = M2a + M2b + delta²·na·nb/n, on roots (hypotenuses) so it never overflows.
                var tileMean = Number(numbers, columns, TileGroupShape.HasMoments);
                var tileRootM2 = BitConverter.Int64BitsToDouble(numbers[At(columns, TileGroupShape.HasMoments) + 1]);
                var before = _count - count;
                var delta = tileMean - _mean;
                _mean += delta * count / _count;
                var spread = Math.Abs(delta) * Math.Sqrt((double)before * count / _count);
                _rootM2 = double.Hypot(double.Hypot(_rootM2, tileRootM2), spread);
                break;
        }
    }

    /// <summary>
    /// The value of the tile <see cref="Add"/> folds in next, for first: call it before that <see cref="Add"/>. Tiles
    /// come in time order, so the window's first value is its first tile's.
    /// </summary>
    public void AddFirst(in ScalarValue first)
    {
        if (_count == 0)
        {
            _first = first;
        }
    }

    /// <summary>The sketch of a tile in the window, for count_distinct.</summary>
    public void AddDistinct(DistinctSketch sketch) => _distinct.Add(sketch);

    /// <summary>
    /// One kept value of a tile in the window, for last_n: tiles in index order, each tile's values oldest first, so
    /// the values come in (event time, order applied) order and the last <c>lastN</c> given are the window's last.
    /// </summary>
    public void AddLast(in ScalarValue value)
    {
        _last ??= new ScalarValue[lastN];
        _last[(int)(_lastAdded++ % lastN)] = value;
    }

    /// <summary>
    /// A C# feature type's state of a tile in the window: merged, in time order, into a window state of the type's own
    /// (the tile is not changed). A tile the type never applied to (it holds counted events only) has none.
    /// </summary>
    public void AddPlugin(object? tile)
    {
        if (tile is not null)
        {
            featureType!.Merge(_plugin ??= featureType.NewTile(), tile);
        }
    }

    /// <summary>Where a column's first number sits among a tile's numbers: the bits below it are one number each (sum, min, max).</summary>
    private static int At(byte columns, byte column) => BitOperations.PopCount((uint)(columns & (column - 1)));

    private static double Number(ReadOnlySpan<long> numbers, byte columns, byte column) =>
        BitConverter.Int64BitsToDouble(numbers[At(columns, column)]);

    public FeatureReading Result() => aggregation switch
    {
        AggregationKind.Count => new FeatureReading(ScalarValue.FromInt64(_count), ReadingStatus.Present, _newest),
        AggregationKind.Sum => new FeatureReading(ScalarValue.FromDouble(_sum), ReadingStatus.Present, _newest),
        AggregationKind.CountDistinct => new FeatureReading(ScalarValue.FromInt64(_distinct.Count()), ReadingStatus.Present, _newest),
        AggregationKind.LastN => new FeatureReading(ScalarValue.FromList(NewestFirst()), ReadingStatus.Present, _newest),
        AggregationKind.Plugin => PluginResult(),
        _ when _count == 0 => new FeatureReading(ScalarValue.Null, ReadingStatus.NotFound, 0),
        AggregationKind.Mean => new FeatureReading(ScalarValue.FromDouble(_sum / _count), ReadingStatus.Present, _newest),
        AggregationKind.Min => new FeatureReading(ScalarValue.FromDouble(_min), ReadingStatus.Present, _newest),
        AggregationKind.Max => new FeatureReading(ScalarValue.FromDouble(_max), ReadingStatus.Present, _newest),
        AggregationKind.Variance => new FeatureReading(ScalarValue.FromDouble(Variance(_rootM2, _count)), ReadingStatus.Present, _newest),
        AggregationKind.Stddev => new FeatureReading(ScalarValue.FromDouble(_rootM2 / Math.Sqrt(_count)), ReadingStatus.Present, _newest),
        _ => new FeatureReading(_first, ReadingStatus.Present, _newest),
    };

    public void Dispose() => _distinct.Dispose();

    /// <summary>The last values given, newest first (an empty window: none).</summary>
    private readonly ScalarValue[] NewestFirst()
    {
        var count = (int)Math.Min(_lastAdded, lastN);
        var values = new ScalarValue[count];
        for (var i = 0; i < count; i++)
        {
            values[i] = _last![(int)((_lastAdded - 1 - i) % lastN)];
        }

        return values;
    }

    /// <summary>The feature type's reading of the merged window: missing reads NotFound, as an empty mean does.</summary>
    private readonly FeatureReading PluginResult()
    {
        var value = featureType!.Read(_plugin ?? featureType.NewTile());
        return value.IsMissing
            ? new FeatureReading(ScalarValue.Null, ReadingStatus.NotFound, 0)
            : new FeatureReading(FeatureValues.ToScalar(value), ReadingStatus.Present, _newest);
    }

    /// <summary>M2 / n; a variance beyond the doubles (a stddev above ~1.3e154) reads <see cref="double.MaxValue"/>, never infinity.</summary>
    private static double Variance(double rootM2, long count)
    {
        var stddev = rootM2 / Math.Sqrt(count);
        return Math.Min(stddev * stddev, double.MaxValue);
    }

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
