using Azure.Messaging.EventHubs;

namespace OrleansFeatures.Streaming.EventHubs;

/// <summary>
/// A received event after mapping: its position in the partition (sequence number, offset, enqueued time) and the
/// payload its stream carries. Orleans' Event Hubs cache takes these from the receiver and hands them to
/// <see cref="MappedEventDataAdapter"/>; the body is not kept.
/// </summary>
internal sealed class MappedEventData(EventData source, object payload)
    : EventData(BinaryData.Empty, null, null, source.SequenceNumber, source.OffsetString, source.EnqueuedTime, source.PartitionKey)
{
    public object Payload { get; } = payload;
}
