using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using Orleans.Runtime;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Grains.Interfaces;
using OrleansFeatures.Streaming.Kafka;

namespace OrleansFeatures.Grains.Ingestion;

/// <summary>
/// Maps Kafka messages onto their partition's stream: the topic is the definition source, the value a flat JSON
/// event, headers <c>event_id</c> / <c>event_time</c> (Unix ms or ISO-8601) may carry the id and time, and the
/// registry's routing plan picks the entities (the message key stands in for a missing key field). Anything that
/// fails validation or routing is a poison message.
/// </summary>
public sealed class FeatureEventKafkaMapper(StreamEventMapper mapper) : IKafkaMessageMapper
{
    public const string EventIdHeader = StreamEventMapper.EventIdField;
    public const string EventTimeHeader = StreamEventMapper.EventTimeField;

    // One stream id per topic partition, built once: formatting the key and hashing it per message was ~2% of the
    // bytes the stream path allocated. Bounded by the partitions this silo is assigned.
    private readonly ConcurrentDictionary<(string Topic, int Partition), StreamId> _partitionStreams = new();

    // Message keys are entity ids, which repeat: one shared string each instead of one per message (bounded).
    private readonly StringPool _messageKeys = new(FieldLayout.PooledValuesPerSlot);

    public async ValueTask<KafkaMapping> MapAsync(ConsumeResult<byte[]?, byte[]?> message, CancellationToken cancellationToken)
    {
        var messageKey = message.Message.Key is { Length: > 0 } key ? _messageKeys.GetUtf8(key) : null;
        var mapped = await mapper.MapAsync(
            StreamTransport.Kafka,
            message.Topic,
            message.Message.Value,
            Header(message, EventIdHeader),
            Header(message, EventTimeHeader),
            messageKey,
            message.Message.Timestamp.Type == TimestampType.NotAvailable ? null : message.Message.Timestamp.UnixTimestampMs,
            cancellationToken);
        if (mapped.Event is { } ingested)
        {
            // One stream per partition: its ingester groups a delivery by entity and calls each entity grain once.
            var streamId = _partitionStreams.GetOrAdd(
                (message.Topic, message.Partition.Value),
                static partition => StreamId.Create(IngestedEvent.Namespace, PartitionStreamKey(partition.Topic, partition.Partition)));
            return KafkaMapping.Of([new KafkaMappedEvent(streamId, ingested)]);
        }

        return mapped.IsNotReady ? KafkaMapping.NotReady
            : mapped.PoisonReason is { } reason ? KafkaMapping.DeadLetter(reason)
            : KafkaMapping.Ignored;
    }

    /// <summary>The key of a topic partition's stream: <c>{topic}/{partition}</c>.</summary>
    public static string PartitionStreamKey(string topic, int partition) => string.Concat(topic, "/", partition.ToString(CultureInfo.InvariantCulture));

    public (string Topic, Message<byte[]?, byte[]?> Message) ToMessage(StreamId streamId, object payload)
    {
        if (payload is not IngestedEvent ingested)
        {
            throw new ArgumentException($"only {nameof(IngestedEvent)} payloads can be produced, not {payload.GetType().Name}", nameof(payload));
        }

        var (_, entityId) = EntityKey.Parse(ingested.EntityKeys[0]);
        return (ingested.Source, ToMessage(entityId, ingested.Event));
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

    private static string? Header(ConsumeResult<byte[]?, byte[]?> message, string name) =>
        message.Message.Headers is { } headers && headers.TryGetLastBytes(name, out var bytes) && bytes is { Length: > 0 }
            ? Encoding.UTF8.GetString(bytes)
            : null;
}
