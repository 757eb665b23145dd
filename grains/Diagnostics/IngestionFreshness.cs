using OrleansFeatures.Grains.Interfaces;

namespace OrleansFeatures.Grains.Diagnostics;

/// <summary>
/// When the events of one push or stream delivery reached the store, and the freshness histogram
/// (<see cref="FeatureStoreMetrics.IngestFreshness"/>) they feed: one observation per successful entity call that
/// accepted an event, the delay from the oldest accepted event's arrival to the call's answer. All events of a call are
/// applied in one turn, so one observation stands for them all; no per-event allocation, lock or instrument call.
/// Arrival, not event time: event time says how old a fact is (a backfill or a late event is hours old on arrival),
/// while this says how long the store took; <c>time() - event time</c> of the newest event stays a query on the
/// served values (docs/operations.md, "Freshness").
/// </summary>
internal sealed class IngestionFreshness
{
    private static readonly KeyValuePair<string, object?> PushPath = new("path", "push");
    private static readonly KeyValuePair<string, object?> StreamPath = new("path", "stream");

    private readonly long _arrivedMs;
    private readonly long[]? _arrivedMsByEvent;
    private readonly KeyValuePair<string, object?> _path;
    private readonly TimeProvider _clock;

    private IngestionFreshness(long arrivedMs, long[]? arrivedMsByEvent, KeyValuePair<string, object?> path, TimeProvider? clock)
    {
        _arrivedMs = arrivedMs;
        _arrivedMsByEvent = arrivedMsByEvent;
        _path = path;
        _clock = clock ?? TimeProvider.System;
    }

    /// <summary>A push: every event arrived when the gateway received it, <paramref name="arrivedMs"/> (Unix ms).</summary>
    public static IngestionFreshness ForPush(long arrivedMs, TimeProvider? clock = null) => new(arrivedMs, null, PushPath, clock);

    /// <summary>A stream delivery: <paramref name="arrivedMsByEvent"/> is each event's topic or hub timestamp (Unix ms), by delivery index.</summary>
    public static IngestionFreshness ForDelivery(long[] arrivedMsByEvent, TimeProvider? clock = null) => new(0, arrivedMsByEvent, StreamPath, clock);

    /// <summary>
    /// Records one entity call of <paramref name="source"/> that answered <paramref name="outcomes"/> for the events at
    /// <paramref name="indexes"/>; nothing when none was accepted (duplicates and late events change no feature).
    /// </summary>
    public void RecordCall(string source, ReadOnlySpan<int> indexes, ReadOnlySpan<EventOutcome> outcomes)
    {
        var oldest = long.MaxValue;
        for (var j = 0; j < outcomes.Length; j++)
        {
            if (outcomes[j].Kind == EventOutcomeKind.Accepted)
            {
                oldest = Math.Min(oldest, _arrivedMsByEvent is { } byEvent ? byEvent[indexes[j]] : _arrivedMs);
            }
        }

        if (oldest == long.MaxValue)
        {
            return;
        }

        // A producer's or broker's clock ahead of this silo's would give a negative delay: counted as fresh.
        var delayMs = Math.Max(0, _clock.GetUtcNow().ToUnixTimeMilliseconds() - oldest);
        FeatureStoreMetrics.IngestFreshness.Record(delayMs / 1000.0, new KeyValuePair<string, object?>("source", source), _path);
    }
}
