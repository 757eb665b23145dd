using Orleans;

namespace OrleansFeatures.Grains.State;

/// <summary>Persisted state of one entity grain: one entry per feature view of its entity type.</summary>
[GenerateSerializer, Alias("of.EntityState")]
public sealed class EntityState
{
    // [Id(0)] held a field-by-field view format that was never released; do not reuse the id.

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

    /// <summary>The activation that wrote this state (random per activation; 0 before the first write).</summary>
    [Id(4)] public long WrittenByEpoch { get; set; }

    /// <summary>That activation's apply sequence when it wrote this state: every apply up to it is in this state.</summary>
    [Id(5)] public long WrittenThroughSequence { get; set; }
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
