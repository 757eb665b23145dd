namespace OrleansFeatures.Core.Events;

/// <summary>An event as received, before validation: id and time may be null and then come from its fields.</summary>
public sealed record RawEvent(string? EventId, long? TimestampMs, IReadOnlyDictionary<string, ScalarValue> Fields);
