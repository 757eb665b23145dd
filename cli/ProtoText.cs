using Duration = Google.Protobuf.WellKnownTypes.Duration;
using OrleansFeatures.Core.Definitions;
using OrleansFeatures.Core.Events;
using OrleansFeatures.V1;

namespace OrleansFeatures.Cli;

/// <summary>The API's enums, durations and values as the command line prints them (the words definition files use).</summary>
public static class ProtoText
{
    public static string Of(V1.ValueType type) => type switch
    {
        V1.ValueType.Int64List => "list<int64>",
        V1.ValueType.DoubleList => "list<double>",
        V1.ValueType.StringList => "list<string>",
        V1.ValueType.BoolList => "list<bool>",
        _ => type.ToString().ToLowerInvariant(),
    };

    public static string Of(Aggregation aggregation) => aggregation switch
    {
        Aggregation.CountDistinct => "count_distinct",
        Aggregation.LastN => "last_n",
        _ => aggregation.ToString().ToLowerInvariant(),
    };

    public static string Of(V1.ChangeKind kind) => kind.ToString().ToLowerInvariant();

    public static string Of(ObjectType type) => type switch
    {
        ObjectType.EntityType => "entity",
        ObjectType.Source => "source",
        ObjectType.FeatureView => "feature_view",
        ObjectType.Feature => "feature",
        ObjectType.FeatureService => "feature_service",
        _ => "unknown",
    };

    /// <summary>"1h", "7d"; empty when unset.</summary>
    public static string Of(Duration? duration) => duration is null ? "" : DurationText.Format(duration.ToTimeSpan());

    public static string Of(Value? value) => value?.KindCase switch
    {
        Value.KindOneofCase.Int64Value => value.Int64Value.ToString(System.Globalization.CultureInfo.InvariantCulture),
        Value.KindOneofCase.DoubleValue => value.DoubleValue.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
        Value.KindOneofCase.StringValue => value.StringValue,
        Value.KindOneofCase.BoolValue => value.BoolValue ? "true" : "false",
        Value.KindOneofCase.ListValue => ScalarValue.FromList([.. value.ListValue.Values.Select(Scalar)]).ToString(),
        _ => "null",
    };

    // A list prints as JSON, as the training set's list columns hold it (ScalarValue.ToString).
    private static ScalarValue Scalar(Value item) => item.KindCase switch
    {
        Value.KindOneofCase.Int64Value => ScalarValue.FromInt64(item.Int64Value),
        Value.KindOneofCase.DoubleValue => ScalarValue.FromDouble(item.DoubleValue),
        Value.KindOneofCase.StringValue => ScalarValue.FromString(item.StringValue),
        Value.KindOneofCase.BoolValue => ScalarValue.FromBool(item.BoolValue),
        _ => ScalarValue.Null,
    };
}
