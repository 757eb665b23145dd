using OrleansFeatures.Core.Events;
using OrleansFeatures.Core.Routing;
using OrleansFeatures.Offline.Files;

namespace OrleansFeatures.Offline.Capture;

/// <summary>
/// Capture records as rows to push (<c>ofs backfill</c>): each record mapped by the live Event Hubs rule
/// (<see cref="StreamMessage"/>), then written out as the fields a pushed event carries: its id and time fields, its
/// declared fields, and the partition key in every key field the event lacks (as the live path routes it).
/// </summary>
public static class CaptureRows
{
    public static IEnumerable<TableRow> Read(string path, SourceRoute route, CancellationToken cancellationToken = default)
    {
        var source = route.Source;
        var layout = EventSchema.LayoutOf(source);
        var fields = new Dictionary<string, ScalarValue>(StringComparer.Ordinal);
        foreach (var record in CaptureReader.Read(path, cancellationToken))
        {
            fields.Clear();
            if (record.Error is { } unreadable)
            {
                yield return new TableRow(fields, record.File, record.Row, unreadable);
                continue;
            }

            var featureEvent = StreamMessage.Read(source, record.Body.Span, record.EventId, record.EventTime, "event", "property", out var error);
            if (featureEvent is null)
            {
                yield return new TableRow(fields, record.File, record.Row, error);
                continue;
            }

            var slots = ((SchemaFields)featureEvent.Fields).Slots;
            for (var s = 0; s < layout.Names.Count; s++)
            {
                if (!slots[s].IsNull)
                {
                    fields[layout.Names[s]] = slots[s];
                }
            }

            fields[source.EventIdField] = ScalarValue.FromString(featureEvent.EventId);
            fields[source.TimestampField] = ScalarValue.FromInt64(featureEvent.TimestampMs);
            if (!string.IsNullOrEmpty(record.PartitionKey))
            {
                foreach (var target in route.Targets)
                {
                    if (!EventSchema.TryGetKey(featureEvent, target.KeyField, out _))
                    {
                        fields[target.KeyField] = ScalarValue.FromString(record.PartitionKey);
                    }
                }
            }

            yield return new TableRow(fields, record.File, record.Row, null);
        }
    }
}
