using Orleans;
using OrleansFeatures.Core.Events;

namespace OrleansFeatures.Grains.State;

/// <summary>Persisted state of one entity grain: one entry per feature view of its entity type.</summary>
[GenerateSerializer, Alias("of.EntityState")]
public sealed class EntityState
{
    /// <summary>
    /// Views as field-by-field records, the format written before 2026-11-25. Still read on activation, so state
    /// written by an older version loads; emptied by the next write.
    /// </summary>
    [Id(0)] public Dictionary<string, ViewStateRecord> LegacyViews { get; set; } = new(StringComparer.Ordinal);

    /// <summary>
    /// Each view's state in the engine's compact binary form (<c>FeatureViewState.WriteTo</c>): one byte array per
    /// view, so the serializer copies a few buffers instead of tracking every id and tile array as an object.
    /// </summary>
    [Id(1)] public Dictionary<string, byte[]> Views { get; set; } = new(StringComparer.Ordinal);

    /// <summary>
    /// Per view, the sealed segments of de-duplication ids its entry in <see cref="Views"/> relies on: the commit
    /// record. A segment is stored as its own grain state (<see cref="SeenSegmentState"/>) before the main state that
    /// references it; a segment no entry references is ignored on restore.
    /// </summary>
    [Id(2)] public Dictionary<string, SeenSegmentList> SeenSegments { get; set; } = new(StringComparer.Ordinal);

    /// <summary>
    /// State names of segments this state no longer references whose delete has not succeeded yet: recorded with the
    /// write that stops referencing them, deleted after it, and retried after each later write until they are gone.
    /// </summary>
    [Id(3)] public List<string> SegmentsToDelete { get; set; } = [];
}

/// <summary>The sealed segments of one view and the number the next one gets.</summary>
[GenerateSerializer, Alias("of.SeenSegmentList")]
public sealed class SeenSegmentList
{
    /// <summary>Number of the next segment; numbers of referenced segments are never reused.</summary>
    [Id(0)] public int NextNumber { get; set; }

    [Id(1)] public List<SeenSegmentRef> Segments { get; set; } = [];
}

/// <summary>A referenced segment: its number and its greatest event time (it expires once the lateness bound passes that).</summary>
[GenerateSerializer, Alias("of.SeenSegmentRef")]
public struct SeenSegmentRef
{
    [Id(0)] public int Number;

    [Id(1)] public long MaxTimestampMs;
}

/// <summary>One sealed segment of a view's de-duplication ids (<c>FeatureViewState.EncodeSeenSegment</c>), stored as its own grain state.</summary>
[GenerateSerializer, Alias("of.SeenSegment")]
public sealed class SeenSegmentState
{
    [Id(0)] public byte[] Data { get; set; } = [];
}

/// <summary>Persisted form of the engine's <c>FeatureViewSnapshot</c> before 2026-11-25 (read only).</summary>
[GenerateSerializer, Alias("of.ViewState")]
public sealed class ViewStateRecord
{
    [Id(0)] public int ViewVersion { get; set; }

    [Id(1)] public long Watermark { get; set; }

    [Id(2)] public long DedupHorizon { get; set; }

    [Id(3)] public long Accepted { get; set; }

    [Id(4)] public long Duplicates { get; set; }

    [Id(5)] public long Late { get; set; }

    /// <summary>De-duplication ids and their event times, in parallel arrays (compact on disk).</summary>
    [Id(6)] public string[] SeenIds { get; set; } = [];

    [Id(7)] public long[] SeenTimestamps { get; set; } = [];

    [Id(8)] public List<FeatureStateRecord> Features { get; set; } = [];
}

/// <summary>Persisted state of one feature: its latest value or its non-empty tiles (parallel arrays).</summary>
[GenerateSerializer, Alias("of.FeatureState")]
public sealed class FeatureStateRecord
{
    [Id(0)] public string Name { get; set; } = "";

    [Id(1)] public string Signature { get; set; } = "";

    [Id(2)] public ScalarValue LatestValue { get; set; }

    [Id(3)] public long LatestTimestampMs { get; set; }

    [Id(4)] public long[] TileIndexes { get; set; } = [];

    [Id(5)] public long[] TileCounts { get; set; } = [];

    [Id(6)] public double[] TileSums { get; set; } = [];

    [Id(7)] public double[] TileMins { get; set; } = [];

    [Id(8)] public double[] TileMaxes { get; set; } = [];

    [Id(9)] public long[] TileMaxTimestamps { get; set; } = [];
}
