using Azure.Messaging.EventHubs;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Streaming.EventHubs;

namespace OrleansFeatures.Grains.Ingestion;

/// <summary>
/// Maps Event Hubs events onto their partition's stream by the rule Kafka messages follow
/// (<see cref="StreamEventMapper"/>): the hub is the definition source, the body a flat JSON event, the application
/// properties <c>event_id</c> / <c>event_time</c> (Unix ms, ISO-8601 text, or a date) may carry the id and time, and
/// the event's partition key stands in for a missing key field.
/// </summary>
public sealed class FeatureEventHubMapper(StreamEventMapper mapper) : IEventHubEventMapper
{
    public async ValueTask<EventHubMapping> MapAsync(string hub, EventData eventData, CancellationToken cancellationToken)
    {
        var mapped = await mapper.MapAsync(
            StreamTransport.EventHubs,
            hub,
            eventData.EventBody.ToMemory(),
            Property(eventData, StreamEventMapper.EventIdField),
            Property(eventData, StreamEventMapper.EventTimeField),
            string.IsNullOrEmpty(eventData.PartitionKey) ? null : eventData.PartitionKey,
            eventData.EnqueuedTime == default ? null : eventData.EnqueuedTime.ToUnixTimeMilliseconds(),
            cancellationToken);
        return mapped.Event is { } ingested ? EventHubMapping.Of(ingested)
            : mapped.IsNotReady ? EventHubMapping.NotReady
            : mapped.PoisonReason is { } reason ? EventHubMapping.DeadLetter(reason)
            : EventHubMapping.Ignored;
    }

    private static string? Property(EventData eventData, string name) =>
        eventData.Properties.TryGetValue(name, out var value) ? StreamMessage.PropertyText(value) : null;
}
