using OrleansFeatures.Core.Events;

namespace OrleansFeatures.Core.Engine;

/// <summary>
/// Plain data that restores a <see cref="FeatureViewState"/> exactly: counters, watermark, de-duplication ids
/// and each feature's latest value or tile list. Features are matched by name and signature on restore.
/// </summary>
public sealed class FeatureViewSnapshot
{
    public int ViewVersion { get; init; }

    public long Watermark { get; init; }

    public long DedupHorizon { get; init; }

    public long Accepted { get; init; }

    public long Duplicates { get; init; }

    public long Late { get; init; }

    public List<SeenId> SeenEvents { get; init; } = [];

    public List<FeatureSnapshot> Features { get; init; } = [];

    /// <summary>The tile lists the windowed features read (<see cref="FeatureSnapshot.TileGroup"/>); features that share filter, field and tile width share one.</summary>
    public List<TileGroupSnapshot> TileGroups { get; init; } = [];
}

/// <summary>One feature: its latest value (Latest) or the tile list it reads (windowed).</summary>
public sealed class FeatureSnapshot
{
    public string Name { get; init; } = "";

    public string Signature { get; init; } = "";

    public ScalarValue LatestValue { get; init; }

    public long LatestTimestampMs { get; init; } = long.MinValue;

    /// <summary>Index into <see cref="FeatureViewSnapshot.TileGroups"/>; -1 for a latest feature.</summary>
    public int TileGroup { get; init; } = -1;
}

/// <summary>
/// One shared tile list: what its tiles hold (<see cref="Columns"/>: 1 sum, 2 min, 4 max, 8 mean and √M2, 16 first,
/// 32 distinct sketch; index, count and newest event time always) and its non-empty tiles in index order. Columns a
/// list does not hold read as 0 (null sketch, null first value).
/// </summary>
public sealed class TileGroupSnapshot
{
    public byte Columns { get; init; }

    /// <summary>With column 128 (a C# feature type's list): the format its tiles' <see cref="Tile.PluginState"/> are in.</summary>
    public byte PluginFormat { get; init; }

    public List<Tile> Tiles { get; init; } = [];
}

/// <summary>A retained event id: the 64-bit hash of the id (<see cref="FeatureViewState.HashEventId"/>) and its event time.</summary>
public readonly record struct SeenId(ulong IdHash, long TimestampMs);
