using System.Globalization;
using OrleansFeatures.Core.Engine;

namespace OrleansFeatures.Core.Events;

/// <summary>
/// The admission rules every entrance applies to a normalised event before it reaches an entity: a time no further
/// ahead of the server's clock than allowed, finite numbers no larger than
/// <see cref="EventLimits.MaxNumberMagnitude"/> (one NaN poisons a window's sum; two near <see cref="double.MaxValue"/>
/// overflow it to infinity), and bounded ids, keys and strings.
/// </summary>
public static class EventAdmission
{
    // Earliest and latest instants a protobuf Timestamp may hold (0001-01-01 and 9999-12-31T23:59:59Z).
    private const long MinTimestampSeconds = -62_135_596_800;
    private const long MaxTimestampSeconds = 253_402_300_799;

    /// <summary>Why <paramref name="featureEvent"/> may not be applied, or null when it may.</summary>
    /// <param name="views">The views fed by the event's source; each needs the event's key in its key field.</param>
    /// <param name="fallbackKey">The entity key used when the event lacks a view's key field (a Kafka message key).</param>
    /// <param name="nowMs">The server's clock, Unix milliseconds.</param>
    public static string? Check(FeatureEvent featureEvent, IReadOnlyList<CompiledFeatureView> views, string? fallbackKey, long nowMs, EventLimits limits)
    {
        if (featureEvent.EventId.Length > limits.MaxKeyLength)
        {
            return Format($"event id is {featureEvent.EventId.Length} characters; the limit is {limits.MaxKeyLength}");
        }

        var latestMs = nowMs + (long)limits.MaxFutureSkew.TotalMilliseconds;
        if (featureEvent.TimestampMs > latestMs)
        {
            return Format($"event '{featureEvent.EventId}': event time {Describe(featureEvent.TimestampMs)} is more than {limits.MaxFutureSkew} ahead of the server clock");
        }

        // Keys first: a key field is also a string field, and the key limit is the tighter one.
        for (var v = 0; v < views.Count; v++)
        {
            var keyField = views[v].Definition.KeyField;
            var key = EventSchema.TryGetKey(featureEvent, keyField, out var fromField) ? fromField : fallbackKey;
            if (key is not null && key.Length > limits.MaxKeyLength)
            {
                return Format($"event '{featureEvent.EventId}': entity key in '{keyField}' is {key.Length} characters; the limit is {limits.MaxKeyLength}");
            }
        }

        if (featureEvent.Fields is SchemaFields schema)
        {
            // Every normalised event: slot by slot, without an enumerator per event (stream ingestion's hot path).
            var slots = schema.Slots;
            for (var slot = 0; slot < slots.Length; slot++)
            {
                if (CheckValue(featureEvent.EventId, schema.Layout.Names[slot], slots[slot], limits) is { } problem)
                {
                    return problem;
                }
            }
        }
        else
        {
            foreach (var (name, value) in featureEvent.Fields)
            {
                if (CheckValue(featureEvent.EventId, name, value, limits) is { } problem)
                {
                    return problem;
                }
            }
        }

        return null;
    }

    private static string? CheckValue(string eventId, string name, ScalarValue value, EventLimits limits)
    {
        if (value.Kind == ScalarKind.Double && !double.IsFinite(value.AsDouble))
        {
            return Format($"event '{eventId}': field '{name}' is {value}; only finite numbers are accepted");
        }

        if (value.Kind == ScalarKind.Double && Math.Abs(value.AsDouble) > EventLimits.MaxNumberMagnitude)
        {
            return Format($"event '{eventId}': field '{name}' is {value}; numbers are accepted up to {EventLimits.MaxNumberMagnitude:R} in magnitude, so that no window's sum can overflow");
        }

        if (value.Kind == ScalarKind.String && value.AsString.Length > limits.MaxStringFieldLength)
        {
            return Format($"event '{eventId}': field '{name}' is {value.AsString.Length} characters; the limit is {limits.MaxStringFieldLength}");
        }

        return null;
    }

    /// <summary>
    /// Converts a protobuf Timestamp (seconds and nanos since the Unix epoch) to Unix milliseconds, or says why it is
    /// not a valid Timestamp; the range check comes first so the multiplication cannot overflow.
    /// </summary>
    public static bool TryConvertTimestamp(long seconds, int nanos, out long timestampMs, out string? error)
    {
        timestampMs = 0;
        if (nanos is < 0 or > 999_999_999)
        {
            error = Format($"event_time.nanos is {nanos}; it must be between 0 and 999999999");
            return false;
        }

        if (seconds is < MinTimestampSeconds or > MaxTimestampSeconds)
        {
            error = Format($"event_time.seconds is {seconds}; it must be between {MinTimestampSeconds} and {MaxTimestampSeconds} (0001-01-01 to 9999-12-31)");
            return false;
        }

        timestampMs = (seconds * 1_000) + (nanos / 1_000_000);
        error = null;
        return true;
    }

    private static string Describe(long timestampMs) =>
        timestampMs <= DateTimeOffset.MaxValue.ToUnixTimeMilliseconds()
            ? DateTimeOffset.FromUnixTimeMilliseconds(timestampMs).ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture)
            : Format($"{timestampMs} ms");

    private static string Format(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
