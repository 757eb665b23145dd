using System.Globalization;
using OrleansFeatures.Core.Definitions;

namespace OrleansFeatures.Core.Events;

/// <summary>
/// How a stream message (a Kafka message, an Event Hubs event, an Event Hubs Capture record) becomes an event of its
/// source, before admission and routing: the value is a flat JSON event, and an <c>event_id</c> / <c>event_time</c>
/// carried beside it (Kafka headers, Event Hubs application properties) gives the id and time (Unix ms or ISO-8601).
/// The live stream entrances and the offline Capture reader both use it, so history read from Capture is mapped by
/// the rule the live path applied.
/// </summary>
public static class StreamMessage
{
    public const string EventIdField = "event_id";
    public const string EventTimeField = "event_time";

    /// <param name="messageKind">What the transport calls a message ("message", "event"), for errors.</param>
    /// <param name="metadataKind">What the transport calls the metadata beside the value ("header", "property"), for errors.</param>
    /// <returns>The event, or null with <paramref name="error"/> saying why the message is poison.</returns>
    public static FeatureEvent? Read(
        SourceDefinition source,
        ReadOnlySpan<byte> value,
        string? metadataId,
        string? metadataTime,
        string messageKind,
        string metadataKind,
        out string? error)
    {
        if (value.IsEmpty)
        {
            error = $"{messageKind} has no value";
            return null;
        }

        long? time = null;
        if (metadataTime is not null)
        {
            var parsed = long.TryParse(metadataTime, NumberStyles.None, CultureInfo.InvariantCulture, out var ms)
                ? ScalarValue.FromInt64(ms)
                : ScalarValue.FromString(metadataTime);
            if (!EventSchema.TryReadTimestamp(parsed, out var read))
            {
                error = $"{metadataKind} {EventTimeField} '{metadataTime}' is not a time (Unix ms or ISO-8601)";
                return null;
            }

            time = read;
        }

        return EventSchema.ReadJson(source, value, metadataId, time, out error);
    }

    /// <summary>
    /// The text of an Event Hubs application property as <c>event_id</c> / <c>event_time</c>: null or empty is absent,
    /// a date is Unix ms, a number is its invariant text. The live mapper reads <c>EventData.Properties</c> with it, the
    /// Capture reader the record's <c>Properties</c> map.
    /// </summary>
    public static string? PropertyText(object? value) => value switch
    {
        null => null,
        string text => text.Length > 0 ? text : null,
        DateTimeOffset time => time.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture),
        DateTime time => new DateTimeOffset(DateTime.SpecifyKind(time, time.Kind == DateTimeKind.Unspecified ? DateTimeKind.Utc : time.Kind)).ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture),
        IFormattable formattable => formattable.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString(),
    };
}
