namespace OrleansFeatures.Core.Events;

/// <summary>An event as received, before validation: id and time may be null and then come from its fields.</summary>
/// <param name="Refused">Why the transport could not read the event (a malformed wire timestamp), if it could not: it is rejected with this reason.</param>
public sealed record RawEvent(string? EventId, long? TimestampMs, IReadOnlyDictionary<string, ScalarValue> Fields, string? Refused = null);
