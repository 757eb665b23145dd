namespace OrleansFeatures.Core.Engine;

/// <summary>Partial aggregate of the events of one feature whose event time falls in one tile (time bucket).</summary>
public struct Tile
{
    public long Index;
    public long Count;
    public double Sum;
    public double Min;
    public double Max;
    public long MaxTimestampMs;

    internal static Tile Create(long index) => new()
    {
        Index = index,
        Min = double.PositiveInfinity,
        Max = double.NegativeInfinity,
        MaxTimestampMs = long.MinValue,
    };

    internal void Add(double value, long timestampMs)
    {
        Count++;
        Sum += value;
        if (value < Min) Min = value;
        if (value > Max) Max = value;
        if (timestampMs > MaxTimestampMs) MaxTimestampMs = timestampMs;
    }
}
