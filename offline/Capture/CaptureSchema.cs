namespace OrleansFeatures.Offline.Capture;

/// <summary>The Avro schema Event Hubs Capture writes its records in (one record per event).</summary>
public static class CaptureSchema
{
    public const string Json = """
        {
          "type": "record",
          "name": "EventData",
          "namespace": "Microsoft.ServiceBus.Messaging",
          "fields": [
            { "name": "SequenceNumber", "type": "long" },
            { "name": "Offset", "type": "string" },
            { "name": "EnqueuedTimeUtc", "type": "string" },
            { "name": "SystemProperties", "type": { "type": "map", "values": [ "long", "double", "string", "bytes" ] } },
            { "name": "Properties", "type": { "type": "map", "values": [ "long", "double", "string", "bytes", "null" ] } },
            { "name": "Body", "type": [ "null", "bytes" ] }
          ]
        }
        """;

    /// <summary>The system property holding the partition key the event was sent with.</summary>
    public const string PartitionKeyProperty = "x-opt-partition-key";

    /// <summary>The system property holding the enqueued time, where Capture writes it (more precise than <c>EnqueuedTimeUtc</c>'s text).</summary>
    public const string EnqueuedTimeProperty = "x-opt-enqueued-time";
}
