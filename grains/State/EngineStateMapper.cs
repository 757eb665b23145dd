using System.Buffers;
using OrleansFeatures.Core.Engine;

namespace OrleansFeatures.Grains.State;

/// <summary>Maps the engine's view states to and from their persisted forms.</summary>
internal static class EngineStateMapper
{
    /// <summary>Buffers above this are not kept for the next write on the thread (a rare, very busy entity).</summary>
    private const int RetainedBufferBytes = 1 << 20;

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_buffer;

    /// <summary>The persisted form of a view state (see <c>FeatureViewState.WriteTo</c>).</summary>
    public static byte[] Pack(FeatureViewState state)
    {
        var buffer = t_buffer ??= new ArrayBufferWriter<byte>(4096);
        buffer.ResetWrittenCount();
        state.WriteTo(buffer);
        var packed = buffer.WrittenSpan.ToArray();
        if (buffer.Capacity > RetainedBufferBytes)
        {
            t_buffer = null;
        }

        return packed;
    }

    public static int PackedViewVersion(byte[] packed) => FeatureViewState.ReadViewVersion(packed);

    public static FeatureViewState Unpack(CompiledFeatureView view, byte[] packed) =>
        FeatureViewState.Restore(view, FeatureViewState.ReadSnapshot(packed));

    /// <summary>The field-by-field record written before 2026-11-25; kept so tests can write state in that format.</summary>
    public static ViewStateRecord ToRecord(FeatureViewState state)
    {
        var snapshot = state.ToSnapshot();
        var record = new ViewStateRecord
        {
            ViewVersion = snapshot.ViewVersion,
            Watermark = snapshot.Watermark,
            DedupHorizon = snapshot.DedupHorizon,
            Accepted = snapshot.Accepted,
            Duplicates = snapshot.Duplicates,
            Late = snapshot.Late,
            SeenIds = new string[snapshot.SeenEvents.Count],
            SeenTimestamps = new long[snapshot.SeenEvents.Count],
            Features = new List<FeatureStateRecord>(snapshot.Features.Count),
        };
        for (var i = 0; i < snapshot.SeenEvents.Count; i++)
        {
            record.SeenIds[i] = snapshot.SeenEvents[i].EventId;
            record.SeenTimestamps[i] = snapshot.SeenEvents[i].TimestampMs;
        }

        foreach (var feature in snapshot.Features)
        {
            var tiles = feature.Tiles;
            var featureRecord = new FeatureStateRecord
            {
                Name = feature.Name,
                Signature = feature.Signature,
                LatestValue = feature.LatestValue,
                LatestTimestampMs = feature.LatestTimestampMs,
                TileIndexes = new long[tiles.Count],
                TileCounts = new long[tiles.Count],
                TileSums = new double[tiles.Count],
                TileMins = new double[tiles.Count],
                TileMaxes = new double[tiles.Count],
                TileMaxTimestamps = new long[tiles.Count],
            };
            for (var t = 0; t < tiles.Count; t++)
            {
                featureRecord.TileIndexes[t] = tiles[t].Index;
                featureRecord.TileCounts[t] = tiles[t].Count;
                featureRecord.TileSums[t] = tiles[t].Sum;
                featureRecord.TileMins[t] = tiles[t].Min;
                featureRecord.TileMaxes[t] = tiles[t].Max;
                featureRecord.TileMaxTimestamps[t] = tiles[t].MaxTimestampMs;
            }

            record.Features.Add(featureRecord);
        }

        return record;
    }

    /// <summary>Restores a view from a record in the format written before 2026-11-25.</summary>
    public static FeatureViewState Restore(CompiledFeatureView view, ViewStateRecord record)
    {
        var seen = new List<SeenEvent>(record.SeenIds.Length);
        for (var i = 0; i < record.SeenIds.Length; i++)
        {
            seen.Add(new SeenEvent(record.SeenIds[i], record.SeenTimestamps[i]));
        }

        var features = new List<FeatureSnapshot>(record.Features.Count);
        foreach (var feature in record.Features)
        {
            var tiles = new List<Tile>(feature.TileIndexes.Length);
            for (var t = 0; t < feature.TileIndexes.Length; t++)
            {
                tiles.Add(new Tile
                {
                    Index = feature.TileIndexes[t],
                    Count = feature.TileCounts[t],
                    Sum = feature.TileSums[t],
                    Min = feature.TileMins[t],
                    Max = feature.TileMaxes[t],
                    MaxTimestampMs = feature.TileMaxTimestamps[t],
                });
            }

            features.Add(new FeatureSnapshot
            {
                Name = feature.Name,
                Signature = feature.Signature,
                LatestValue = feature.LatestValue,
                LatestTimestampMs = feature.LatestTimestampMs,
                Tiles = tiles,
            });
        }

        return FeatureViewState.Restore(view, new FeatureViewSnapshot
        {
            ViewVersion = record.ViewVersion,
            Watermark = record.Watermark,
            DedupHorizon = record.DedupHorizon,
            Accepted = record.Accepted,
            Duplicates = record.Duplicates,
            Late = record.Late,
            SeenEvents = seen,
            Features = features,
        });
    }

    /// <summary>Moves live state onto a recompiled view of the same version (a non-breaking definition change).</summary>
    public static FeatureViewState Rebind(FeatureViewState state, CompiledFeatureView view) => state.Rebind(view);
}
