using Timestamp = Google.Protobuf.WellKnownTypes.Timestamp;
using OrleansFeatures.Core.Events;
using OrleansFeatures.V1;

namespace OrleansFeatures.Gateway.Services;

/// <summary>Conversions between protobuf messages and the engine's scalar values.</summary>
internal static class ValueMapping
{
    public static Value ToProto(ScalarValue value)
    {
        var proto = new Value();
        switch (value.Kind)
        {
            case ScalarKind.Int64: proto.Int64Value = value.AsInt64; break;
            case ScalarKind.Double: proto.DoubleValue = value.AsDouble; break;
            case ScalarKind.String: proto.StringValue = value.AsString; break;
            case ScalarKind.Bool: proto.BoolValue = value.AsBool; break;
            case ScalarKind.List:
                var list = new ValueList();
                foreach (var item in value.ListItems)
                {
                    list.Values.Add(ToProto(item));
                }

                proto.ListValue = list;
                break;
        }

        return proto;
    }

    /// <summary>A served type: a scalar's, or for a List (last_n) the list type of <paramref name="elementType"/>.</summary>
    public static V1.ValueType ToProto(ScalarKind kind, ScalarKind elementType) => kind != ScalarKind.List ? ToProto(kind) : elementType switch
    {
        ScalarKind.Int64 => V1.ValueType.Int64List,
        ScalarKind.Double => V1.ValueType.DoubleList,
        ScalarKind.String => V1.ValueType.StringList,
        ScalarKind.Bool => V1.ValueType.BoolList,
        _ => V1.ValueType.Unspecified,
    };

    public static V1.ValueType ToProto(ScalarKind kind) => kind switch
    {
        ScalarKind.Int64 => V1.ValueType.Int64,
        ScalarKind.Double => V1.ValueType.Double,
        ScalarKind.String => V1.ValueType.String,
        ScalarKind.Bool => V1.ValueType.Bool,
        _ => V1.ValueType.Unspecified,
    };

    public static Google.Protobuf.WellKnownTypes.Duration ToDuration(TimeSpan span) => Google.Protobuf.WellKnownTypes.Duration.FromTimeSpan(span);

    public static ScalarValue FromProto(Value? value) => value?.KindCase switch
    {
        Value.KindOneofCase.Int64Value => ScalarValue.FromInt64(value.Int64Value),
        Value.KindOneofCase.DoubleValue => ScalarValue.FromDouble(value.DoubleValue),
        Value.KindOneofCase.StringValue => ScalarValue.FromString(value.StringValue),
        Value.KindOneofCase.BoolValue => ScalarValue.FromBool(value.BoolValue),
        Value.KindOneofCase.ListValue => FromProto(value.ListValue),
        _ => ScalarValue.Null,
    };

    private static ScalarValue FromProto(ValueList list)
    {
        var items = new ScalarValue[list.Values.Count];
        for (var i = 0; i < items.Length; i++)
        {
            // A list holds scalars: a nested list reads as null.
            items[i] = list.Values[i].KindCase == Value.KindOneofCase.ListValue ? ScalarValue.Null : FromProto(list.Values[i]);
        }

        return ScalarValue.FromList(items);
    }

    public static Timestamp ToTimestamp(long unixMs)
    {
        SplitUnixMs(unixMs, out var seconds, out var nanos);
        return new Timestamp { Seconds = seconds, Nanos = nanos };
    }

    /// <summary>Unix milliseconds as a Timestamp's fields: whole seconds (rounded down) and non-negative nanoseconds.</summary>
    public static void SplitUnixMs(long unixMs, out long seconds, out int nanos)
    {
        seconds = Math.DivRem(unixMs, 1000, out var remainder) - (remainder < 0 ? 1 : 0);
        nanos = (int)((remainder < 0 ? remainder + 1000 : remainder) * 1_000_000);
    }
}
