using OrleansFeatures.Core.Events;

namespace OrleansFeatures.Grains.Interfaces;

/// <summary>Wire and storage form of <see cref="ScalarValue"/>; the core library stays free of Orleans types.</summary>
[GenerateSerializer, Alias("of.Scalar")]
public struct ScalarValueSurrogate
{
    [Id(0)] public ScalarKind Kind;
    [Id(1)] public long Int64;
    [Id(2)] public double Double;
    [Id(3)] public string? String;

    /// <summary>The items of a List value (a last_n reading).</summary>
    [Id(4)] public ScalarValue[]? Items;
}

[RegisterConverter]
public sealed class ScalarValueConverter : IConverter<ScalarValue, ScalarValueSurrogate>
{
    public ScalarValue ConvertFromSurrogate(in ScalarValueSurrogate surrogate) => surrogate.Kind switch
    {
        ScalarKind.Int64 => ScalarValue.FromInt64(surrogate.Int64),
        ScalarKind.Double => ScalarValue.FromDouble(surrogate.Double),
        ScalarKind.String => ScalarValue.FromString(surrogate.String ?? ""),
        ScalarKind.Bool => ScalarValue.FromBool(surrogate.Int64 != 0),
        ScalarKind.List => ScalarValue.FromList(surrogate.Items ?? []),
        _ => ScalarValue.Null,
    };

    public ScalarValueSurrogate ConvertToSurrogate(in ScalarValue value) => value.Kind switch
    {
        ScalarKind.Int64 => new ScalarValueSurrogate { Kind = value.Kind, Int64 = value.AsInt64 },
        ScalarKind.Double => new ScalarValueSurrogate { Kind = value.Kind, Double = value.AsDouble },
        ScalarKind.String => new ScalarValueSurrogate { Kind = value.Kind, String = value.AsString },
        ScalarKind.Bool => new ScalarValueSurrogate { Kind = value.Kind, Int64 = value.AsBool ? 1 : 0 },
        ScalarKind.List => new ScalarValueSurrogate { Kind = value.Kind, Items = value.ListItems.ToArray() },
        _ => default,
    };
}

/// <summary>Wire form of <see cref="FeatureEvent"/>.</summary>
[GenerateSerializer, Alias("of.Event")]
public struct FeatureEventSurrogate
{
    [Id(0)] public string EventId;
    [Id(1)] public long TimestampMs;
    [Id(2)] public Dictionary<string, ScalarValue> Fields;
}

[RegisterConverter]
public sealed class FeatureEventConverter : IConverter<FeatureEvent, FeatureEventSurrogate>
{
    public FeatureEvent ConvertFromSurrogate(in FeatureEventSurrogate surrogate) =>
        new(surrogate.EventId, surrogate.TimestampMs, surrogate.Fields ?? new Dictionary<string, ScalarValue>(StringComparer.Ordinal));

    public FeatureEventSurrogate ConvertToSurrogate(in FeatureEvent value) => new()
    {
        EventId = value.EventId,
        TimestampMs = value.TimestampMs,
        Fields = value.Fields as Dictionary<string, ScalarValue> ?? new Dictionary<string, ScalarValue>(value.Fields, StringComparer.Ordinal),
    };
}
