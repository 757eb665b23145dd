using System.Globalization;
using System.Runtime.CompilerServices;
using OrleansFeatures.Core.Definitions;

namespace OrleansFeatures.Core.Events;

/// <summary>
/// Checks an incoming event against its source's declared fields and normalises it: Int64 values of Double
/// fields become Double, undeclared fields are dropped, and the event id and time are resolved.
/// </summary>
public static class EventSchema
{
    private static readonly ConditionalWeakTable<SourceDefinition, FieldLayout> Layouts = new();

    /// <summary>The slot layout of a source's declared fields, made once per source definition.</summary>
    public static FieldLayout LayoutOf(SourceDefinition source) =>
        Layouts.GetValue(source, static s => new FieldLayout(s.Fields));

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
    /// source's id and time fields when given. The event's fields are a <see cref="SchemaFields"/> in the
    /// source's layout.
    /// </summary>
    /// <returns>Null with <paramref name="error"/> set when the event is invalid.</returns>
    public static FeatureEvent? Normalize(
        SourceDefinition source,
        string? eventId,
        long? timestampMs,
        IReadOnlyDictionary<string, ScalarValue> fields,
        out string? error)
    {
        var sink = new LayoutSink(source);
        foreach (var (name, value) in fields)
        {
            if (!value.IsNull)
            {
                sink.Add(name, value);
            }
        }

        return sink.Finish(eventId, timestampMs, out error);
    }

    /// <summary>
    /// Reads a flat JSON event (see <see cref="JsonEventReader"/>) straight into the source's layout: the same
    /// result and errors as <see cref="JsonEventReader.TryRead"/> followed by <see cref="Normalize"/>, without the
    /// intermediate dictionary (the hot path of stream ingestion).
    /// </summary>
    public static FeatureEvent? ReadJson(SourceDefinition source, ReadOnlySpan<byte> utf8Json, string? eventId, long? timestampMs, out string? error)
    {
        var sink = new LayoutSink(source);
        return JsonEventReader.TryReadFields(utf8Json, ref sink, out error) ? sink.Finish(eventId, timestampMs, out error) : null;
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
        ScalarKind.List => "list",
        _ => "null",
    };

    /// <summary>
    /// Collects an event's fields into its source's slots (the last value of a repeated field wins) and keeps the
    /// id and time fields aside, then checks the declared kinds and resolves the id and time.
    /// </summary>
    private struct LayoutSink : JsonEventReader.IFieldSink
    {
        private readonly SourceDefinition _source;
        private readonly FieldLayout _layout;
        private readonly ScalarValue[] _values;
        private ScalarValue _idValue;
        private ScalarValue _timeValue;

        public LayoutSink(SourceDefinition source)
        {
            _source = source;
            _layout = LayoutOf(source);
            _values = new ScalarValue[_layout.Names.Count];
        }

        public readonly bool Reads(string name) =>
            _layout.TryGetSlot(name, out _) || name == _source.EventIdField || name == _source.TimestampField;

        public readonly bool Keeps(string name, out StringPool? pool)
        {
            var isIdOrTime = name == _source.EventIdField || name == _source.TimestampField;
            if (_layout.TryGetSlot(name, out var slot))
            {
                // The id is unique per event and a time given as text nearly so: pooling them would only fill the pool.
                pool = isIdOrTime ? null : _layout.ValuePool(slot);
                return true;
            }

            pool = null;
            return isIdOrTime;
        }

        public void Add(string name, ScalarValue value)
        {
            if (_layout.TryGetSlot(name, out var slot))
            {
                _values[slot] = value;
            }

            if (name == _source.EventIdField)
            {
                _idValue = value;
            }

            if (name == _source.TimestampField)
            {
                _timeValue = value;
            }
        }

        public readonly FeatureEvent? Finish(string? eventId, long? timestampMs, out string? error)
        {
            for (var slot = 0; slot < _values.Length; slot++)
            {
                var value = _values[slot];
                var declared = _layout.Kinds[slot];
                if (value.IsNull || value.Kind == declared)
                {
                    continue;
                }

                var name = _layout.Names[slot];
                if (declared == ScalarKind.Double && value.Kind == ScalarKind.Int64)
                {
                    _values[slot] = ScalarValue.FromDouble(value.AsInt64);
                }
                else if (name == _source.TimestampField)
                {
                    // A time field may be written in any form TryReadTimestamp reads; it is not kept as a value.
                    _values[slot] = ScalarValue.Null;
                }
                else
                {
                    error = $"field '{name}' is {KindName(value.Kind)}, but source '{_source.Name}' declares it {KindName(declared)}";
                    return null;
                }
            }

            if (string.IsNullOrEmpty(eventId))
            {
                if (_idValue.Kind is ScalarKind.String or ScalarKind.Int64)
                {
                    eventId = _idValue.ToString();
                }

                if (string.IsNullOrEmpty(eventId))
                {
                    error = $"event has no id: set event_id or field '{_source.EventIdField}'";
                    return null;
                }
            }

            if (timestampMs is null)
            {
                if (_timeValue.IsNull)
                {
                    error = $"event '{eventId}' has no time: set event_time or field '{_source.TimestampField}'";
                    return null;
                }

                if (!TryReadTimestamp(_timeValue, out var parsed))
                {
                    error = $"event '{eventId}': field '{_source.TimestampField}' is not a time (Unix milliseconds or ISO-8601): '{_timeValue}'";
                    return null;
                }

                timestampMs = parsed;
            }

            if (timestampMs <= 0)
            {
                error = $"event '{eventId}': event time {timestampMs} is not after 1970-01-01";
                return null;
            }

            error = null;
            return new FeatureEvent(eventId, timestampMs.Value, new SchemaFields(_layout, _values));
        }
    }
}
