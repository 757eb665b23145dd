using OrleansFeatures.Core.Events;

namespace OrleansFeatures.Core.Engine;

/// <summary>
/// Plain data that restores a <see cref="FeatureViewState"/> exactly: counters, watermark, de-duplication ids
/// and each feature's latest value or non-empty tiles. Features are matched by name and signature on restore.
/// </summary>
public sealed class FeatureViewSnapshot
{
    public int ViewVersion { get; init; }

    public long Watermark { get; init; }

    public long DedupHorizon { get; init; }

    public long Accepted { get; init; }

    public long Duplicates { get; init; }

    public long Late { get; init; }

    public List<SeenEvent> SeenEvents { get; init; } = [];

    public List<FeatureSnapshot> Features { get; init; } = [];
}

/// <summary>One feature's state: the latest value (Latest) or its non-empty tiles (windowed).</summary>
public sealed class FeatureSnapshot
{
    public string Name { get; init; } = "";

    public string Signature { get; init; } = "";

    public ScalarValue LatestValue { get; init; }

    public long LatestTimestampMs { get; init; }

    public List<Tile> Tiles { get; init; } = [];
}

/// <summary>An applied event id and its event time, kept for de-duplication.</summary>
public readonly record struct SeenEvent(string EventId, long TimestampMs);
