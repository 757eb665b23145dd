using System.Runtime.CompilerServices;
using OrleansFeatures.Core.Definitions;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Core.Routing;
using OrleansFeatures.Offline.Capture;
using OrleansFeatures.Offline.Files;

namespace OrleansFeatures.Offline.PointInTime;

/// <summary>
/// One historical event of a source, normalised as its entrance would: the event (or why it is refused), its arrival
/// time if known, the transport key standing in for a missing key field, and the entrance's policy.
/// </summary>
internal readonly record struct SourceEvent(FeatureEvent? Event, long? ArrivalMs, string? TransportKey, EntrancePolicy Policy, string File, long Row, string? Error)
{
    public string Where => $"{File}:{Row}";
}

/// <summary>
/// Reads the events of one <see cref="EventInput"/>: table files (JSON lines, CSV, Parquet) as pushed events
/// (<see cref="EventSchema.Normalize"/>, the arrival time from <c>--arrival-field</c>), or Event Hubs Capture files
/// as the live Event Hubs entrance maps events (<see cref="StreamMessage"/>: the body, the <c>event_id</c> /
/// <c>event_time</c> properties, the partition key for a missing key field; the enqueued time is the arrival time).
/// </summary>
internal static class SourceEvents
{
    public static IAsyncEnumerable<SourceEvent> ReadAsync(string path, SourceDefinition source, string? arrivalField, CancellationToken cancellationToken) =>
        CaptureReader.IsCapture(path) ? ReadCaptureAsync(path, source, cancellationToken) : ReadTableAsync(path, source, arrivalField, cancellationToken);

    private static async IAsyncEnumerable<SourceEvent> ReadTableAsync(string path, SourceDefinition source, string? arrivalField, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var columns = TableReader.EventColumns(source.Fields, source.TimestampField, source.EventIdField, arrivalField);
        await foreach (var row in TableReader.ReadAsync(path, columns, cancellationToken: cancellationToken))
        {
            if (row.Error is { } unreadable)
            {
                yield return new SourceEvent(null, null, null, EntrancePolicy.Push, row.File, row.Row, unreadable);
                continue;
            }

            long? arrival = null;
            if (arrivalField is not null)
            {
                if (!row.Fields.TryGetValue(arrivalField, out var arrivalValue) || !EventSchema.TryReadTimestamp(arrivalValue, out var arrivalMs))
                {
                    yield return new SourceEvent(null, null, null, EntrancePolicy.Push, row.File, row.Row, $"no arrival time in '{arrivalField}'");
                    continue;
                }

                arrival = arrivalMs;
            }

            var featureEvent = EventSchema.Normalize(source, null, null, row.Fields, out var error);
            yield return new SourceEvent(featureEvent, arrival, null, EntrancePolicy.Push, row.File, row.Row, error);
        }
    }

    private static IAsyncEnumerable<SourceEvent> ReadCaptureAsync(string path, SourceDefinition source, CancellationToken cancellationToken) =>
        ReadCapture(path, source, cancellationToken).ToAsyncEnumerable();

    private static IEnumerable<SourceEvent> ReadCapture(string path, SourceDefinition source, CancellationToken cancellationToken)
    {
        foreach (var record in CaptureReader.Read(path, cancellationToken))
        {
            if (record.Error is { } unreadable)
            {
                yield return new SourceEvent(null, null, null, EntrancePolicy.Stream, record.File, record.Row, unreadable);
                continue;
            }

            var featureEvent = StreamMessage.Read(source, record.Body.Span, record.EventId, record.EventTime, "event", "property", out var error);
            yield return new SourceEvent(featureEvent, record.EnqueuedMs, record.PartitionKey, EntrancePolicy.Stream, record.File, record.Row, error);
        }
    }
}
