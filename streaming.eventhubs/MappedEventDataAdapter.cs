using System.Collections.Concurrent;
using System.Globalization;
using Azure.Messaging.EventHubs;
using Orleans.Providers.Streams.Common;
using Orleans.Runtime;
using Orleans.Serialization;
using Orleans.Streaming.EventHubs;
using Orleans.Streams;

namespace OrleansFeatures.Streaming.EventHubs;

/// <summary>
/// Carries mapped events through Orleans' Event Hubs cache: every event of a partition goes onto the partition's
/// stream, <c>(StreamNamespace, "{hub}/{partition}")</c>, at its sequence number; the cache keeps the payload
/// Orleans-serialized in its pooled blocks until delivery. Mapping itself happens before, in the receiver
/// (<see cref="MappingEventHubReceiver"/>): it has to await dead-letter writes and hold events back until definitions
/// exist, and this adapter's methods are synchronous calls inside the cache.
/// </summary>
internal sealed class MappedEventDataAdapter(Serializer serializer, string hub, string streamNamespace) : IEventHubDataAdapter
{
    private readonly ConcurrentDictionary<string, StreamId> _streams = new(StringComparer.Ordinal);

    public StreamId StreamOf(string partition) =>
        _streams.GetOrAdd(partition, static (p, names) => StreamId.Create(names.Namespace, EventHubStreamOptions.PartitionStreamKey(names.Hub, p)), (Namespace: streamNamespace, Hub: hub));

    public StreamPosition GetStreamPosition(string partition, EventData queueMessage) =>
        new(StreamOf(partition), new EventHubSequenceTokenV2("", queueMessage.SequenceNumber, 0));

    public CachedMessage FromQueueMessage(StreamPosition position, EventData queueMessage, DateTime dequeueTime, Func<int, ArraySegment<byte>> getSegment)
    {
        var payload = ((MappedEventData)queueMessage).Payload;
        var bytes = serializer.SerializeToArray<object>(payload);
        var segment = getSegment(bytes.Length);
        bytes.CopyTo(segment.AsSpan());
        return new CachedMessage
        {
            StreamId = position.StreamId,
            SequenceNumber = queueMessage.SequenceNumber,
            EventIndex = 0,
            EnqueueTimeUtc = queueMessage.EnqueuedTime.UtcDateTime,
            DequeueTimeUtc = dequeueTime,
            Segment = segment,
        };
    }

    public IBatchContainer GetBatchContainer(ref CachedMessage cachedMessage) =>
        new EventHubMappedBatchContainer(
            cachedMessage.StreamId,
            serializer.Deserialize<object>(cachedMessage.Segment.AsSpan())!,
            new EventHubSequenceTokenV2("", cachedMessage.SequenceNumber, 0));

    public StreamSequenceToken GetSequenceToken(ref CachedMessage cachedMessage) => new EventHubSequenceTokenV2("", cachedMessage.SequenceNumber, 0);

    /// <summary>Only Orleans' purge asks, and <see cref="EventHubPartitionCheckpointer"/> ignores the answer.</summary>
    public string GetOffset(CachedMessage cachedMessage) => cachedMessage.SequenceNumber.ToString(CultureInfo.InvariantCulture);

    public string GetPartitionKey(StreamId streamId) => throw ProducingNotSupported();

    public StreamId GetStreamIdentity(EventData queueMessage) => throw new NotSupportedException("a partition's stream follows from the partition, not from the event");

    public EventData ToQueueMessage<T>(StreamId streamId, IEnumerable<T> events, StreamSequenceToken? token, Dictionary<string, object>? requestContext) => throw ProducingNotSupported();

    private static NotSupportedException ProducingNotSupported() =>
        new("events enter Event Hubs from producers outside the store (or the push API in Direct mode); nothing is produced through Orleans");
}
