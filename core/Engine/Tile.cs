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
}

/// <summary>
/// One shared tile list of a view state: non-empty tiles sorted by index, each <see cref="TileGroupShape.Stride"/>
/// longs in one array (index, count, newest time, then the sum, min and max the shape holds, as double bits). Grown
/// 1, 2, 4, … tiles: most lists of a quiet entity hold one or two.
/// </summary>
internal struct TileList
{
    public long[]? Data;
    public int Count;

    public void Add(TileGroupShape shape, long index, double number, long timestampMs)
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
            at = Insert(position, stride);
            Data![at + TileGroupShape.IndexAt] = index;
            Data[at + TileGroupShape.NewestAt] = long.MinValue;
            if (shape.MinAt >= 0) Data[at + shape.MinAt] = BitConverter.DoubleToInt64Bits(double.PositiveInfinity);
            if (shape.MaxAt >= 0) Data[at + shape.MaxAt] = BitConverter.DoubleToInt64Bits(double.NegativeInfinity);
        }

        var data = Data!;
        data[at + TileGroupShape.CountAt]++;
        if (timestampMs > data[at + TileGroupShape.NewestAt]) data[at + TileGroupShape.NewestAt] = timestampMs;
        if (shape.SumAt >= 0) data[at + shape.SumAt] = BitConverter.DoubleToInt64Bits(BitConverter.Int64BitsToDouble(data[at + shape.SumAt]) + number);
        if (shape.MinAt >= 0 && number < BitConverter.Int64BitsToDouble(data[at + shape.MinAt])) data[at + shape.MinAt] = BitConverter.DoubleToInt64Bits(number);
        if (shape.MaxAt >= 0 && number > BitConverter.Int64BitsToDouble(data[at + shape.MaxAt])) data[at + shape.MaxAt] = BitConverter.DoubleToInt64Bits(number);
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
        }
        else
        {
            Array.Copy(Data, drop * stride, Data, 0, kept * stride);
            Array.Clear(Data, kept * stride, drop * stride);
        }

        Count = kept;
    }

    private int Insert(int position, int stride)
    {
        if (Data is null || (Count + 1) * stride > Data.Length)
        {
            var grown = new long[(Count == 0 ? 1 : Count * 2) * stride];
            if (Data is not null)
            {
                Array.Copy(Data, grown, Count * stride);
            }

            Data = grown;
        }

        Array.Copy(Data, position * stride, Data, (position + 1) * stride, (Count - position) * stride);
        Array.Clear(Data, position * stride, stride);
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
            });
        }

        return tiles;
    }

    public static TileList From(TileGroupShape shape, List<Tile> tiles)
    {
        if (tiles.Count == 0)
        {
            return default;
        }

        var data = new long[tiles.Count * shape.Stride];
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
        }

        return new TileList { Data = data, Count = tiles.Count };
    }
}
