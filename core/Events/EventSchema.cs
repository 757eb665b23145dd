using System.Globalization;
using OrleansFeatures.Core.Definitions;

namespace OrleansFeatures.Core.Events;

/// <summary>
/// Checks an incoming event against its source's declared fields and normalises it: Int64 values of Double
/// fields become Double, undeclared fields are dropped, and the event id and time are resolved.
/// </summary>
public static class EventSchema
{
    /// <summary>Reads an event time field: Unix milliseconds (Int64 or Double) or an ISO-8601 string.</summary>
    public static bool TryReadTimestamp(ScalarValue value, out long timestampMs)
    {
        switch (value.Kind)
        {
            case ScalarKind.Int64:
                timestampMs = value.AsInt64;
                return true;
            case ScalarKind.Double when !double.IsNaN(value.AsDouble) && Math.Abs(value.AsDouble) < 1e15:
                timestampMs = (long)value.AsDouble;
                return true;
            case ScalarKind.String when DateTimeOffset.TryParse(value.AsString, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed):
                timestampMs = parsed.ToUnixTimeMilliseconds();
                return true;
            default:
                timestampMs = 0;
                return false;
        }
    }

    /// <summary>
    /// Builds a validated event. <paramref name="eventId"/> and <paramref name="timestampMs"/> override the
    /// source's id and time fields when given. With <paramref name="fieldsOwned"/> the caller hands
    /// <paramref name="fields"/> over (a dictionary nobody else holds) and it is normalised in place instead of
    /// copied: stream ingestion keeps every event in memory until it is applied, so one dictionary per event
    /// instead of two is a visible share of its garbage.
    /// </summary>
    /// <returns>Null with <paramref name="error"/> set when the event is invalid.</returns>
    public static FeatureEvent? Normalize(
        SourceDefinition source,
        string? eventId,
        long? timestampMs,
        IReadOnlyDictionary<string, ScalarValue> fields,
        out string? error,
        bool fieldsOwned = false)
    {
        var changes = false;
        foreach (var (name, value) in fields)
        {
            if (!source.Fields.TryGetValue(name, out var declared) || value.IsNull)
            {
                changes = true; // dropped
            }
            else if (value.Kind != declared)
            {
                if (!(declared == ScalarKind.Double && value.Kind == ScalarKind.Int64) && name != source.TimestampField)
                {
                    error = $"field '{name}' is {KindName(value.Kind)}, but source '{source.Name}' declares it {KindName(declared)}";
                    return null;
                }

                changes = true; // widened to Double, or a time field in another form (read below, then dropped)
            }
        }

        if (string.IsNullOrEmpty(eventId))
        {
            if (fields.TryGetValue(source.EventIdField, out var idValue) && idValue.Kind is ScalarKind.String or ScalarKind.Int64)
            {
                eventId = idValue.ToString();
            }

            if (string.IsNullOrEmpty(eventId))
            {
                error = $"event has no id: set event_id or field '{source.EventIdField}'";
                return null;
            }
        }

        if (timestampMs is null)
        {
            if (!fields.TryGetValue(source.TimestampField, out var timeValue))
            {
                error = $"event '{eventId}' has no time: set event_time or field '{source.TimestampField}'";
                return null;
            }

            if (!TryReadTimestamp(timeValue, out var parsed))
            {
                error = $"event '{eventId}': field '{source.TimestampField}' is not a time (Unix milliseconds or ISO-8601): '{timeValue}'";
                return null;
            }

            timestampMs = parsed;
        }

        if (timestampMs <= 0)
        {
            error = $"event '{eventId}': event time {timestampMs} is not after 1970-01-01";
            return null;
        }

        IReadOnlyDictionary<string, ScalarValue> normalized;
        if (fieldsOwned && fields is Dictionary<string, ScalarValue> owned)
        {
            if (changes)
            {
                NormalizeInPlace(source, owned);
            }

            normalized = owned;
        }
        else
        {
            normalized = NormalizedCopy(source, fields);
        }

        error = null;
        return new FeatureEvent(eventId, timestampMs.Value, normalized);
    }

    // Only called once every field is known to be valid: keeps declared fields of their declared kind, widens
    // Int64 to Double where declared, drops the rest.
    private static Dictionary<string, ScalarValue> NormalizedCopy(SourceDefinition source, IReadOnlyDictionary<string, ScalarValue> fields)
    {
        var normalized = new Dictionary<string, ScalarValue>(fields.Count, StringComparer.Ordinal);
        foreach (var (name, value) in fields)
        {
            if (source.Fields.TryGetValue(name, out var declared) && !value.IsNull)
            {
                if (value.Kind == declared)
                {
                    normalized[name] = value;
                }
                else if (declared == ScalarKind.Double && value.Kind == ScalarKind.Int64)
                {
                    normalized[name] = ScalarValue.FromDouble(value.AsInt64);
                }
            }
        }

        return normalized;
    }

    private static void NormalizeInPlace(SourceDefinition source, Dictionary<string, ScalarValue> fields)
    {
        // Removing while enumerating a Dictionary is allowed; values are rewritten through a ref, not the indexer.
        foreach (var (name, value) in fields)
        {
            if (!source.Fields.TryGetValue(name, out var declared) || value.IsNull)
            {
                fields.Remove(name);
            }
            else if (value.Kind != declared)
            {
                if (declared == ScalarKind.Double && value.Kind == ScalarKind.Int64)
                {
                    System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrNullRef(fields, name) = ScalarValue.FromDouble(value.AsInt64);
                }
                else
                {
                    fields.Remove(name);
                }
            }
        }
    }

    /// <summary>The entity id an event carries in <paramref name="keyField"/> (strings and integers qualify).</summary>
    public static bool TryGetKey(FeatureEvent featureEvent, string keyField, out string key)
    {
        if (featureEvent.Fields.TryGetValue(keyField, out var value))
        {
            if (value.Kind == ScalarKind.String && value.AsString.Length > 0)
            {
                key = value.AsString;
                return true;
            }

            if (value.Kind == ScalarKind.Int64)
            {
                key = value.AsInt64.ToString(CultureInfo.InvariantCulture);
                return true;
            }
        }

        key = "";
        return false;
    }

    public static string KindName(ScalarKind kind) => kind switch
    {
        ScalarKind.Int64 => "int64",
        ScalarKind.Double => "double",
        ScalarKind.String => "string",
        ScalarKind.Bool => "bool",
        _ => "null",
    };
}
