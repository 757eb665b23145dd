namespace OrleansFeatures.Offline.Capture;

/// <summary>
/// One event of an Event Hubs Capture file, as the live Event Hubs entrance sees an event: its body, the
/// <c>event_id</c> / <c>event_time</c> application properties as text, the partition key, the enqueued time, and the
/// partition's sequence number and offset; or why the record could not be read.
/// </summary>
public readonly record struct CaptureRecord(
    long SequenceNumber,
    string? Offset,
    long? EnqueuedMs,
    string? PartitionKey,
    string? EventId,
    string? EventTime,
    ReadOnlyMemory<byte> Body,
    string File,
    long Row,
    string? Error)
{
    public string Where => $"{File}:{Row}";
}
