using System.Numerics;
using OrleansFeatures.Core.Definitions;
using OrleansFeatures.Core.Events;

namespace OrleansFeatures.Core.Engine;

/// <summary>
/// Reads features straight from a read copy (<see cref="FeatureViewState.WriteReadCopyTo"/>) without building a
/// <see cref="FeatureViewState"/>: windows and TTLs are evaluated at the query time by the same rules as the live state
/// (<see cref="WindowAggregate"/>), so every reading equals the active state's. A read decodes the header, skips to the
/// feature's entry and, for a windowed feature, to its tile list, and folds the tiles of its window; it allocates
/// nothing except a string value (a latest feature's, a first's), a count_distinct's sketches and a last_n's list.
/// </summary>
public readonly ref struct PackedViewReader
{
    private readonly ReadOnlySpan<byte> _data;
    private readonly int _featuresAt;
    private readonly int _listsAt;
    private readonly int _featureCount;

    /// <summary>Decodes the header of <paramref name="data"/>; throws <see cref="InvalidDataException"/> if it is not a read copy of this format.</summary>
    public PackedViewReader(ReadOnlySpan<byte> data)
    {
        _data = data;
        var reader = new FeatureViewState.StateReader(data);
        var format = reader.Byte();
        if (format != FeatureViewState.ReadCopyFormat)
        {
            throw new InvalidDataException($"packed read copy has format {format}; this version reads format {FeatureViewState.ReadCopyFormat} only");
        }

        ViewVersion = reader.Int32();
        Fingerprint = unchecked((ulong)reader.Int64());
        Watermark = reader.Int64();
        AnyAccepted = reader.Byte() switch
        {
            0 => false,
            1 => true,
            var other => throw new InvalidDataException($"packed read copy has an unknown accepted flag {other}"),
        };
        if (!AnyAccepted)
        {
            reader.End();
            return;
        }

        _featureCount = reader.Count(minimumBytesEach: 1);
        var featureBytes = reader.Count(minimumBytesEach: 1);
        _featuresAt = reader.Position;
        reader.Skip(featureBytes);
        _listsAt = reader.Position;
    }

    /// <summary>The definition version of the view the copy was written for.</summary>
    public int ViewVersion { get; }

    /// <summary>The <see cref="CompiledFeatureView.Fingerprint"/> of the view the copy was written for.</summary>
    public ulong Fingerprint { get; }

    public long Watermark { get; }

    /// <summary>False for a state that never accepted an event: every feature reads NotFound.</summary>
    public bool AnyAccepted { get; }

    /// <summary>
    /// The view version of a read copy, without decoding the rest; refuses an unknown format. A copy is read only by a
    /// view of the same version and fingerprint (<see cref="IsFor"/>).
    /// </summary>
    public static int ReadViewVersion(ReadOnlySpan<byte> data) => new PackedViewReader(data).ViewVersion;

    /// <summary>
    /// Whether <paramref name="view"/> reads this copy: same version and the same features in the same order (its
    /// fingerprint). Otherwise the copy names no feature the view could match; read the stored state instead.
    /// </summary>
    public bool IsFor(CompiledFeatureView view) =>
        ViewVersion == view.Definition.Version && Fingerprint == view.Fingerprint && (!AnyAccepted || _featureCount == view.Features.Count);

    /// <summary>Feature <paramref name="featureIndex"/> of <paramref name="view"/> at <paramref name="nowMs"/>, as the live state reads it.</summary>
    public FeatureReading Read(CompiledFeatureView view, int featureIndex, long nowMs)
    {
        if (!IsFor(view))
        {
            throw new ArgumentException($"read copy of version {ViewVersion} (fingerprint {Fingerprint:x16}) is not for view '{view.Definition.Name}' version {view.Definition.Version} (fingerprint {view.Fingerprint:x16})", nameof(view));
        }

        ArgumentOutOfRangeException.ThrowIfNegative(featureIndex);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(featureIndex, view.Features.Count);
        if (!AnyAccepted)
        {
            return WindowAggregate.NotFound;
        }

        var reader = new FeatureViewState.StateReader(_data);
        reader.Skip(_featuresAt);
        for (var i = 0; i < featureIndex; i++)
        {
            if (reader.VarULong() == 0)
            {
                reader.Skip(sizeof(long));
                reader.SkipScalar();
            }
        }

        var feature = view.Features[featureIndex];
        var list = reader.VarULong();
        if ((list == 0) == feature.IsWindowed)
        {
            throw new InvalidDataException($"packed read copy holds feature {featureIndex} ('{feature.Name}') as {(list == 0 ? "latest" : "windowed")}");
        }

        FeatureReading reading;
        if (list == 0)
        {
            var timestamp = reader.Int64();
            var value = reader.Scalar();
            reading = timestamp == long.MinValue ? WindowAggregate.NotFound : new FeatureReading(value, ReadingStatus.Present, timestamp);
        }
        else
        {
            reader = new FeatureViewState.StateReader(_data);
            reader.Skip(_listsAt);
            var lists = reader.Count(minimumBytesEach: 1);
            if (list > (ulong)lists)
            {
                throw new InvalidDataException($"packed read copy has {lists} tile lists but feature '{feature.Name}' reads list {list - 1}");
            }

            for (var g = 1UL; g < list; g++)
            {
                reader.Skip(reader.Count(minimumBytesEach: 1));
            }

            reader.Count(minimumBytesEach: 1);
            reading = ReadWindow(ref reader, feature, nowMs);
        }

        return WindowAggregate.Expire(view, Watermark, reading, nowMs);
    }

    /// <summary>Folds the tiles of <paramref name="feature"/>'s window at <paramref name="nowMs"/> from one tile list (the stored format's tile encoding).</summary>
    private static FeatureReading ReadWindow(ref FeatureViewState.StateReader reader, CompiledFeature feature, long nowMs)
    {
        var columns = reader.Byte();
        var reads = TileGroupShape.ColumnsOf(feature.Aggregation);
        if ((columns & ~TileGroupShape.AllColumns) != 0 || (columns & reads) != reads)
        {
            throw new InvalidDataException($"packed read copy has tile fields {columns} for feature '{feature.Name}', which reads {reads}");
        }

        // The fixed-width numbers a tile holds, in column-bit order: sum, min, max one each, the moments two. A first
        // value (its time as a varint, then the value), a distinct sketch and the last values follow them.
        var numberCount = BitOperations.PopCount((uint)(columns & (TileGroupShape.HasSum | TileGroupShape.HasMin | TileGroupShape.HasMax)))
            + ((columns & TileGroupShape.HasMoments) != 0 ? 2 : 0);
        var hasFirst = (columns & TileGroupShape.HasFirst) != 0;
        var hasDistinct = (columns & TileGroupShape.HasDistinct) != 0;
        var hasLast = (columns & TileGroupShape.HasLast) != 0;
        var hasPlugin = (columns & TileGroupShape.HasPlugin) != 0;
        var pluginFormat = hasPlugin ? reader.Byte() : (byte)0;
        Span<long> numbers = stackalloc long[numberCount];
        var high = FeatureViewState.FloorDiv(nowMs, feature.TileMs);
        var low = high - feature.TilesPerWindow + 1;
        var tileCount = reader.Count(minimumBytesEach: 3);
        var aggregate = new WindowAggregate(feature.Aggregation, feature.LastN, feature.FeatureType);
        try
        {
            long index = 0, newest = 0;
            for (var t = 0; t < tileCount; t++)
            {
                index = unchecked(index + FeatureViewState.UnZigZag(reader.VarULong()));
                var count = unchecked((long)reader.VarULong());
                newest = unchecked(newest + FeatureViewState.UnZigZag(reader.VarULong()));
                if (index > high)
                {
                    break;
                }

                if (index < low)
                {
                    reader.Skip(numberCount * sizeof(long));
                    if (hasFirst)
                    {
                        reader.VarULong();
                        reader.SkipScalar();
                    }

                    if (hasDistinct)
                    {
                        reader.SkipSketch();
                    }

                    if (hasLast)
                    {
                        reader.SkipLastValues();
                    }

                    if (hasPlugin)
                    {
                        reader.PluginBytes();
                    }

                    continue;
                }

                for (var n = 0; n < numberCount; n++)
                {
                    numbers[n] = reader.Int64();
                }

                if (hasFirst)
                {
                    reader.VarULong();
                    var first = reader.Scalar();
                    if (feature.Aggregation == AggregationKind.First) aggregate.AddFirst(first);
                }

                if (hasDistinct)
                {
                    if (feature.Aggregation == AggregationKind.CountDistinct)
                    {
                        aggregate.AddDistinct(reader.Sketch());
                    }
                    else
                    {
                        reader.SkipSketch();
                    }
                }

                if (hasLast)
                {
                    if (feature.Aggregation == AggregationKind.LastN)
                    {
                        var kept = reader.Count(minimumBytesEach: 2);
                        for (var i = 0; i < kept; i++)
                        {
                            reader.VarULong();
                            aggregate.AddLast(reader.Scalar());
                        }
                    }
                    else
                    {
                        reader.SkipLastValues();
                    }
                }

                if (hasPlugin)
                {
                    // The feature type folds its own tiles: a copy of its list is read only by the view that has it.
                    var state = reader.PluginBytes();
                    if (feature.FeatureType is { } type)
                    {
                        aggregate.AddPlugin(type.ReadTile(state, pluginFormat));
                    }
                }

                aggregate.Add(count, newest, numbers, columns);
            }

            return aggregate.Result();
        }
        finally
        {
            aggregate.Dispose();
        }
    }
}
