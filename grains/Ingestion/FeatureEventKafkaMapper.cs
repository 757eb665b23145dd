using System.Globalization;
using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using Orleans.Runtime;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Grains.Definitions;
using OrleansFeatures.Grains.Interfaces;
using OrleansFeatures.Streaming.Kafka;

namespace OrleansFeatures.Grains.Ingestion;

/// <summary>
/// Maps Kafka messages to entity event streams: the topic is the definition source, the value a flat JSON event,
/// headers <c>event_id</c> / <c>event_time</c> (Unix ms or ISO-8601) may carry the id and time, and the message key
/// is the entity id when the event itself lacks the view's key field. One message feeds one stream per entity
/// type that reads its source. Anything that fails validation is a poison message.
/// </summary>
public sealed class FeatureEventKafkaMapper(DefinitionCatalog catalog, EventAdmissionPolicy admission) : IKafkaMessageMapper
{
    public const string EventIdHeader = "event_id";
    public const string EventTimeHeader = "event_time";

    public async ValueTask<KafkaMapping> MapAsync(ConsumeResult<byte[]?, byte[]?> message, CancellationToken cancellationToken)
    {
        var definitions = catalog.Current;
        if (!definitions.Set.Sources.ContainsKey(message.Topic))
        {
            definitions = await catalog.RefreshAsync(cancellationToken);
        }

        if (definitions.Version == 0)
        {
            // Nothing applied yet (or not loaded yet on this silo): wait rather than dead-letter good events.
            return KafkaMapping.NotReady;
        }

        if (!definitions.Set.Sources.TryGetValue(message.Topic, out var source))
        {
            return KafkaMapping.DeadLetter($"topic '{message.Topic}' is not a source in registry version {definitions.Version}");
        }

        if (message.Message.Value is not { Length: > 0 } value)
        {
            return KafkaMapping.DeadLetter("message has no value");
        }

        var headerId = Header(message, EventIdHeader);
        long? headerTime = null;
        if (Header(message, EventTimeHeader) is { } timeText)
        {
            var parsed = long.TryParse(timeText, NumberStyles.None, CultureInfo.InvariantCulture, out var ms)
                ? ScalarValue.FromInt64(ms)
                : ScalarValue.FromString(timeText);
            if (!EventSchema.TryReadTimestamp(parsed, out var time))
            {
                return KafkaMapping.DeadLetter($"header {EventTimeHeader} '{timeText}' is not a time (Unix ms or ISO-8601)");
            }

            headerTime = time;
        }

        var featureEvent = EventSchema.ReadJson(source, value, headerId, headerTime, out var error);
        if (featureEvent is null)
        {
            return KafkaMapping.DeadLetter(error!);
        }

        var messageKey = message.Message.Key is { Length: > 0 } key ? Encoding.UTF8.GetString(key) : null;
        var views = definitions.ViewsFedBy(source.Name);
        if (admission.Check(featureEvent, views, messageKey) is { } refused)
        {
            return KafkaMapping.DeadLetter(refused);
        }

        var events = new List<KafkaMappedEvent>(views.Count);
        var streamed = new StreamedEvent(source.Name, definitions.Version, featureEvent);
        for (var v = 0; v < views.Count; v++)
        {
            var definition = views[v].Definition;
            if (!EventSchema.TryGetKey(featureEvent, definition.KeyField, out var entityId))
            {
                if (messageKey is null)
                {
                    return KafkaMapping.DeadLetter($"event '{featureEvent.EventId}' has no '{definition.KeyField}' field and the message has no key");
                }

                entityId = messageKey;
            }

            var streamId = StreamId.Create(StreamedEvent.Namespace, EntityKey.Format(definition.EntityType, entityId));
            if (!Contains(events, streamId))
            {
                events.Add(new KafkaMappedEvent(streamId, streamed));
            }
        }

        return events.Count == 0 ? KafkaMapping.Ignored : KafkaMapping.Of(events);
    }

    public (string Topic, Message<byte[]?, byte[]?> Message) ToMessage(StreamId streamId, object payload)
    {
        if (payload is not StreamedEvent streamed)
        {
            throw new ArgumentException($"only {nameof(StreamedEvent)} payloads can be produced, not {payload.GetType().Name}", nameof(payload));
        }

        var (_, entityId) = EntityKey.Parse(streamId.GetKeyAsString());
        return (streamed.Source, ToMessage(entityId, streamed.Event));
    }

    /// <summary>The message the push API produces in Kafka mode: JSON value, entity id key, id and time in headers.</summary>
    public static Message<byte[]?, byte[]?> ToMessage(string entityId, FeatureEvent featureEvent)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            foreach (var (name, value) in featureEvent.Fields)
            {
                switch (value.Kind)
                {
                    case ScalarKind.Int64: writer.WriteNumber(name, value.AsInt64); break;
                    case ScalarKind.Double: writer.WriteNumber(name, value.AsDouble); break;
                    case ScalarKind.String: writer.WriteString(name, value.AsString); break;
                    case ScalarKind.Bool: writer.WriteBoolean(name, value.AsBool); break;
                }
            }

            writer.WriteEndObject();
        }

        return new Message<byte[]?, byte[]?>
        {
            Key = Encoding.UTF8.GetBytes(entityId),
            Value = buffer.ToArray(),
            Headers = new Headers
            {
                { EventIdHeader, Encoding.UTF8.GetBytes(featureEvent.EventId) },
                { EventTimeHeader, Encoding.UTF8.GetBytes(featureEvent.TimestampMs.ToString(CultureInfo.InvariantCulture)) },
            },
        };
    }

    // Two views of one entity type map a message to the same stream once. A loop, not a lambda: this runs per message.
    private static bool Contains(List<KafkaMappedEvent> events, StreamId streamId)
    {
        foreach (var mapped in events)
        {
            if (mapped.StreamId == streamId)
            {
                return true;
            }
        }

        return false;
    }

    private static string? Header(ConsumeResult<byte[]?, byte[]?> message, string name) =>
        message.Message.Headers is { } headers && headers.TryGetLastBytes(name, out var bytes) && bytes is { Length: > 0 }
            ? Encoding.UTF8.GetString(bytes)
            : null;
}
