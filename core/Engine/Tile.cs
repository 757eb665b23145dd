using System.Runtime.CompilerServices;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Sdk;

namespace OrleansFeatures.Core.Engine;

/// <summary>
/// Partial aggregate of the events whose time falls in one tile (time bucket), as snapshots and the packed form
/// exchange it. Live state keeps tiles in a <see cref="TileList"/>, holding only the numbers its features read; a
/// number a list does not hold reads as 0 here.
/// </summary>
public struct Tile
{
    public long Index;
    public long Count;
    public double Sum;
    public double Min;
    public double Max;
    public long MaxTimestampMs;

    /// <summary>Mean of the tile's numbers (Welford), for variance and stddev.</summary>
    public double Mean;

    /// <summary>
    /// √M2, the root of the sum of squared deviations from <see cref="Mean"/> (Welford's M2), for variance and stddev:
    /// kept as a root so admitted numbers (up to 1e250) never overflow it, where M2 itself would reach 1e500.
    /// </summary>
    public double RootM2;

    /// <summary>Event time of <see cref="First"/>: the tile's earliest event with a value.</summary>
    public long FirstTimestampMs;

    /// <summary>The value of the tile's earliest event (ties: the first applied), for first.</summary>
    public ScalarValue First;

    /// <summary>The tile's distinct values, for count_distinct; null when the list holds none.</summary>
    public DistinctSketch? Distinct;

    /// <summary>The tile's last values, oldest first (ties: the order applied), for last_n; null when the list holds none.</summary>
    public TimedValue[]? Last;

    /// <summary>A C# feature type's tile state, as its <see cref="IFeatureType.Write"/> wrote it (in <see cref="TileGroupSnapshot.PluginFormat"/>); null when the list holds none.</summary>
    public byte[]? PluginState;
}

/// <summary>What a tile holds besides numbers: the first value, the distinct-values sketch, the last values and a feature type's state (only in lists that read them).</summary>
internal struct TileExtra
{
    public ScalarValue First;
    public LastValues? Last;

    // The distinct sketch or a feature type's state: a list holds one or the other (a feature type's list is its own),
    // so they share one slot and the extras stay 40 bytes a tile (32 without last_n's reference).
    private object? _extra;

    public DistinctSketch? Distinct
    {
        readonly get => Unsafe.As<DistinctSketch?>(_extra);
        set => _extra = value;
    }

    public object? Plugin
    {
        readonly get => _extra;
        set => _extra = value;
    }
}

/// <summary>
/// One shared tile list of a view state: non-empty tiles sorted by index, each <see cref="TileGroupShape.Stride"/>
/// longs in one array (index, count, newest time, then the sum, min and max the shape holds, as double bits). Grown
/// 1, 2, 4, … tiles: most lists of a quiet entity hold one or two.
/// </summary>
internal struct TileList
{
    public long[]? Data;

    /// <summary>Per tile, in <see cref="Data"/>'s order: the first value and the sketch; null unless the shape has extras.</summary>
    public TileExtra[]? Extras;
    public int Count;

    /// <summary>
    /// Adds one event: <paramref name="number"/> for a numbers list, <paramref name="value"/> for a values list (first,
    /// count_distinct).
    /// </summary>
    public void Add(TileGroupShape shape, long index, double number, in ScalarValue value, long timestampMs)
    {
        var stride = shape.Stride;
        var position = Find(index, stride);
        int at;
        if (position < Count && Data![position * stride] == index)
        {
            at = position * stride;
        }
        else
        {
            at = Insert(position, stride, shape.HasExtras);
            Data![at + TileGroupShape.IndexAt] = index;
            Data[at + TileGroupShape.NewestAt] = long.MinValue;
            if (shape.MinAt >= 0) Data[at + shape.MinAt] = BitConverter.DoubleToInt64Bits(double.PositiveInfinity);
            if (shape.MaxAt >= 0) Data[at + shape.MaxAt] = BitConverter.DoubleToInt64Bits(double.NegativeInfinity);
            if (shape.FirstAt >= 0) Data[at + shape.FirstAt] = long.MaxValue;
        }

        var data = Data!;
        var count = ++data[at + TileGroupShape.CountAt];
        if (timestampMs > data[at + TileGroupShape.NewestAt]) data[at + TileGroupShape.NewestAt] = timestampMs;
        if (shape.SumAt >= 0) data[at + shape.SumAt] = BitConverter.DoubleToInt64Bits(BitConverter.Int64BitsToDouble(data[at + shape.SumAt]) + number);
        if (shape.MinAt >= 0 && number < BitConverter.Int64BitsToDouble(data[at + shape.MinAt])) data[at + shape.MinAt] = BitConverter.DoubleToInt64Bits(number);
        if (shape.MaxAt >= 0 && number > BitConverter.Int64BitsToDouble(data[at + shape.MaxAt])) data[at + shape.MaxAt] = BitConverter.DoubleToInt64Bits(number);
        if (shape.MeanAt >= 0)
        {
            // Welford (stable where a sum of squares cancels: large values, small spread), M2 kept as its root:
            // M2 += delta·(x − new mean), both factors of one sign, so √M2 grows by the hypotenuse of √|each|.
            var mean = BitConverter.Int64BitsToDouble(data[at + shape.MeanAt]);
            var delta = number - mean;
            mean += delta / count;
            var step = Math.Sqrt(Math.Abs(delta)) * Math.Sqrt(Math.Abs(number - mean));
            data[at + shape.MeanAt] = BitConverter.DoubleToInt64Bits(mean);
            data[at + shape.MeanAt + 1] = BitConverter.DoubleToInt64Bits(double.Hypot(BitConverter.Int64BitsToDouble(data[at + shape.MeanAt + 1]), step));
        }

        if (shape.FirstAt >= 0 && timestampMs < data[at + shape.FirstAt])
        {
            data[at + shape.FirstAt] = timestampMs;
            Extras![at / stride].First = value;
        }

        if (shape.HasDistinctSketch)
        {
            (Extras![at / stride].Distinct ??= new DistinctSketch()).Add(DistinctSketch.Hash(value));
        }

        if (shape.HasLastValues)
        {
            // Most tiles of a quiet entity see a few values: start small, grow to the list's N.
            (Extras![at / stride].Last ??= new LastValues(Math.Min(shape.LastCapacity, 4))).Add(value, timestampMs, shape.LastCapacity);
        }

        if (shape.Plugin is { } plugin)
        {
            plugin.Apply(Extras![at / stride].Plugin ??= plugin.NewTile(), FeatureValues.ToSdk(value), timestampMs);
        }
    }

    /// <summary>Position (in tiles) of the first tile whose index is at least <paramref name="index"/>.</summary>
    public readonly int Find(long index, int stride)
    {
        // Events mostly arrive in order: check the end before searching.
        var count = Count;
        if (count == 0 || Data![(count - 1) * stride] < index)
        {
            return count;
        }

        int lo = 0, hi = count - 1;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (Data[mid * stride] < index)
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

    /// <summary>Drops the tiles before index <paramref name="firstNeeded"/>.</summary>
    public void EvictBefore(long firstNeeded, int stride)
    {
        if (Count == 0)
        {
            return;
        }

        var drop = Find(firstNeeded, stride);
        if (drop == 0)
        {
            return;
        }

        var kept = Count - drop;
        if (kept * stride <= Data!.Length / 4)
        {
            // Mostly evicted (a burst aged out): give the memory back.
            Data = kept == 0 ? null : Data.AsSpan(drop * stride, kept * stride).ToArray();
            Extras = kept == 0 || Extras is null ? null : Extras.AsSpan(drop, kept).ToArray();
        }
        else
        {
            Array.Copy(Data, drop * stride, Data, 0, kept * stride);
            Array.Clear(Data, kept * stride, drop * stride);
            if (Extras is not null)
            {
                Array.Copy(Extras, drop, Extras, 0, kept);
                Array.Clear(Extras, kept, drop);
            }
        }

        Count = kept;
    }

    private int Insert(int position, int stride, bool extras)
    {
        if (Data is null || (Count + 1) * stride > Data.Length)
        {
            var tiles = Count == 0 ? 1 : Count * 2;
            var grown = new long[tiles * stride];
            if (Data is not null)
            {
                Array.Copy(Data, grown, Count * stride);
            }

            Data = grown;
            if (extras)
            {
                var grownExtras = new TileExtra[tiles];
                if (Extras is not null)
                {
                    Array.Copy(Extras, grownExtras, Count);
                }

                Extras = grownExtras;
            }
        }

        Array.Copy(Data, position * stride, Data, (position + 1) * stride, (Count - position) * stride);
        Array.Clear(Data, position * stride, stride);
        if (extras)
        {
            Array.Copy(Extras!, position, Extras!, position + 1, Count - position);
            Extras![position] = default;
        }

        Count++;
        return position * stride;
    }

    public readonly List<Tile> ToTiles(TileGroupShape shape)
    {
        var tiles = new List<Tile>(Count);
        for (var t = 0; t < Count; t++)
        {
            var at = t * shape.Stride;
            tiles.Add(new Tile
            {
                Index = Data![at + TileGroupShape.IndexAt],
                Count = Data[at + TileGroupShape.CountAt],
                MaxTimestampMs = Data[at + TileGroupShape.NewestAt],
                Sum = shape.SumAt >= 0 ? BitConverter.Int64BitsToDouble(Data[at + shape.SumAt]) : 0,
                Min = shape.MinAt >= 0 ? BitConverter.Int64BitsToDouble(Data[at + shape.MinAt]) : 0,
                Max = shape.MaxAt >= 0 ? BitConverter.Int64BitsToDouble(Data[at + shape.MaxAt]) : 0,
                Mean = shape.MeanAt >= 0 ? BitConverter.Int64BitsToDouble(Data[at + shape.MeanAt]) : 0,
                RootM2 = shape.MeanAt >= 0 ? BitConverter.Int64BitsToDouble(Data[at + shape.MeanAt + 1]) : 0,
                FirstTimestampMs = shape.FirstAt >= 0 ? Data[at + shape.FirstAt] : 0,
                First = shape.FirstAt >= 0 ? Extras![t].First : default,
                Distinct = shape.HasDistinctSketch ? Extras![t].Distinct?.Clone() : null,
                Last = shape.HasLastValues ? Extras![t].Last?.ToArray() : null,
                PluginState = shape.Plugin is { } plugin ? FeatureValues.StateBytes(plugin, Extras![t].Plugin!) : null,
            });
        }

        return tiles;
    }

    /// <summary>A list of <paramref name="shape"/> from snapshot tiles; a feature type's states are read in <paramref name="pluginFormat"/>.</summary>
    public static TileList From(TileGroupShape shape, List<Tile> tiles, byte pluginFormat)
    {
        if (tiles.Count == 0)
        {
            return default;
        }

        var data = new long[tiles.Count * shape.Stride];
        var extras = shape.HasExtras ? new TileExtra[tiles.Count] : null;
        for (var t = 0; t < tiles.Count; t++)
        {
            var at = t * shape.Stride;
            var tile = tiles[t];
            data[at + TileGroupShape.IndexAt] = tile.Index;
            data[at + TileGroupShape.CountAt] = tile.Count;
            data[at + TileGroupShape.NewestAt] = tile.MaxTimestampMs;
            if (shape.SumAt >= 0) data[at + shape.SumAt] = BitConverter.DoubleToInt64Bits(tile.Sum);
            if (shape.MinAt >= 0) data[at + shape.MinAt] = BitConverter.DoubleToInt64Bits(tile.Min);
            if (shape.MaxAt >= 0) data[at + shape.MaxAt] = BitConverter.DoubleToInt64Bits(tile.Max);
            if (shape.MeanAt >= 0)
            {
                data[at + shape.MeanAt] = BitConverter.DoubleToInt64Bits(tile.Mean);
                data[at + shape.MeanAt + 1] = BitConverter.DoubleToInt64Bits(tile.RootM2);
            }

            if (shape.FirstAt >= 0)
            {
                data[at + shape.FirstAt] = tile.FirstTimestampMs;
                extras![t].First = tile.First;
            }

            if (shape.HasDistinctSketch)
            {
                extras![t].Distinct = tile.Distinct?.Clone();
            }

            if (shape.HasLastValues && tile.Last is { Length: > 0 } last)
            {
                extras![t].Last = LastValues.From(last);
            }

            if (shape.Plugin is { } plugin)
            {
                extras![t].Plugin = tile.PluginState is { } state ? plugin.ReadTile(state, pluginFormat) : plugin.NewTile();
            }
        }

        return new TileList { Data = data, Extras = extras, Count = tiles.Count };
    }
}
