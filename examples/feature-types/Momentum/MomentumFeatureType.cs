using System.Buffers;
using System.Buffers.Binary;
using OrleansFeatures.Sdk;

namespace SportsMedia.FeatureTypes;

/// <summary>
/// <c>momentum@1</c>: a live game's momentum over the last <see cref="LastEvents"/> point events of its window, newest
/// weighing most: <c>Σ decay^k · points(k-th newest)</c>, with <c>points</c> signed (home scores positive, away negative).
/// A tile keeps its newest <see cref="LastEvents"/> events (event time, points), so the window's newest events are
/// the newest of its tiles' and the reading depends only on which events the window holds: order-free.
/// </summary>
public sealed class MomentumFeatureType : FeatureType<MomentumFeatureType.Tile>
{
    public const int LastEvents = 10;
    public const double Decay = 0.8;

    public override string Name => "momentum";

    public override int Version => 1;

    public override FeatureValueKind ValueKind => FeatureValueKind.Double;

    public override bool OrderMatters => false;

    // count, then per event: time (8) and points (8).
    public override int MaxStateBytes => 1 + (LastEvents * 16);

    public override Tile NewTile() => new();

    public override void Apply(Tile tile, in FeatureValue value, long eventTimeMs) => tile.Add(eventTimeMs, value.AsNumber);

    public override void Merge(Tile window, Tile tile)
    {
        for (var i = 0; i < tile.Count; i++)
        {
            window.Add(tile.TimeAt(i), tile.PointsAt(i));
        }
    }

    public override FeatureValue Read(Tile state)
    {
        if (state.Count == 0)
        {
            return FeatureValue.Missing;
        }

        double momentum = 0, weight = 1;
        for (var i = state.Count - 1; i >= 0; i--)
        {
            momentum += weight * state.PointsAt(i);
            weight *= Decay;
        }

        return FeatureValue.FromDouble(momentum);
    }

    public override void Write(Tile tile, IBufferWriter<byte> output)
    {
        var span = output.GetSpan(1 + (tile.Count * 16));
        span[0] = (byte)tile.Count;
        for (var i = 0; i < tile.Count; i++)
        {
            BinaryPrimitives.WriteInt64LittleEndian(span[(1 + (i * 16))..], tile.TimeAt(i));
            BinaryPrimitives.WriteDoubleLittleEndian(span[(9 + (i * 16))..], tile.PointsAt(i));
        }

        output.Advance(1 + (tile.Count * 16));
    }

    public override Tile ReadTile(ReadOnlySpan<byte> data, byte format)
    {
        if (format != 1 || data.IsEmpty || data[0] > LastEvents || data.Length != 1 + (data[0] * 16))
        {
            throw new InvalidDataException($"momentum@1 reads tile format 1 of 1 + 16·n bytes (n ≤ {LastEvents}); got format {format}, {data.Length} bytes");
        }

        var tile = new Tile();
        for (var i = 0; i < data[0]; i++)
        {
            tile.Add(BinaryPrimitives.ReadInt64LittleEndian(data[(1 + (i * 16))..]), BinaryPrimitives.ReadDoubleLittleEndian(data[(9 + (i * 16))..]));
        }

        return tile;
    }

    /// <summary>The newest events of a tile or window, oldest first, ordered by (event time, points) so equal times order alike everywhere.</summary>
    public sealed class Tile
    {
        // One array of (time, points), grown 4 → 10: most tiles of a quiet entity hold a few events.
        private Entry[] _entries = new Entry[4];

        public int Count { get; private set; }

        public long TimeAt(int i) => _entries[i].Time;

        public double PointsAt(int i) => _entries[i].Points;

        public void Add(long timeMs, double points)
        {
            // Position after every event that orders before it: most events arrive in time order and land at the end.
            var entries = _entries;
            var at = Count;
            while (at > 0 && (entries[at - 1].Time > timeMs || (entries[at - 1].Time == timeMs && entries[at - 1].Points > points)))
            {
                at--;
            }

            if (Count == LastEvents)
            {
                if (at == 0)
                {
                    return; // older than every kept event
                }

                // Drop the oldest to make room.
                Array.Copy(entries, 1, entries, 0, at - 1);
                entries[at - 1] = new Entry(timeMs, points);
                return;
            }

            if (Count == entries.Length)
            {
                Array.Resize(ref _entries, Math.Min(LastEvents, Count * 2));
                entries = _entries;
            }

            Array.Copy(entries, at, entries, at + 1, Count - at);
            entries[at] = new Entry(timeMs, points);
            Count++;
        }

        private readonly record struct Entry(long Time, double Points);
    }
}
