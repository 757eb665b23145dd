namespace OrleansFeatures.Core.Events;

/// <summary>
/// One event as the engine sees it: an id for de-duplication, its event time in Unix
/// milliseconds, and its fields by name. The entity id has already been used for routing.
/// </summary>
public sealed record FeatureEvent(string EventId, long TimestampMs, IReadOnlyDictionary<string, ScalarValue> Fields);
