using OrleansFeatures.Core.Definitions;
using OrleansFeatures.Core.Engine;
using OrleansFeatures.Core.Events;

namespace OrleansFeatures.Core.Tests.Engine;

/// <summary>Builds feature views in code for engine tests (the YAML parser is tested separately).</summary>
internal static class TestViews
{
    public static readonly SourceDefinition Source = new(
        "events",
        "ts",
        "event_id",
        new Dictionary<string, ScalarKind>
        {
            ["user_id"] = ScalarKind.String,
            ["kind"] = ScalarKind.String,
            ["amount"] = ScalarKind.Double,
            ["tag"] = ScalarKind.String,
        },
        SourceLocation.None);

    public static FeatureDefinition Feature(
        string name,
        AggregationKind aggregation,
        string? field = "amount",
        TimeSpan? window = null,
        TimeSpan? tile = null,
        FilterExpression? where = null,
        int lastN = 3)
    {
        var fieldType = field == "amount" ? ScalarKind.Double : ScalarKind.String;
        var type = aggregation switch
        {
            AggregationKind.Count or AggregationKind.CountDistinct => ScalarKind.Int64,
            AggregationKind.Latest or AggregationKind.First => fieldType,
            AggregationKind.LastN => ScalarKind.List,
            _ => ScalarKind.Double,
        };
        return new FeatureDefinition(
            name,
            type,
            aggregation,
            aggregation == AggregationKind.Count ? null : field,
            aggregation == AggregationKind.Latest ? null : window ?? TimeSpan.FromHours(1),
            tile,
            where,
            SourceLocation.None)
        {
            LastN = aggregation == AggregationKind.LastN ? lastN : 0,
            ElementType = fieldType,
        };
    }

    public static CompiledFeatureView View(TimeSpan lateness, TimeSpan? ttl, int version, params FeatureDefinition[] features) =>
        new(new FeatureViewDefinition("view", version, "user", Source, "user_id", ttl, lateness, features, SourceLocation.None));

    public static CompiledFeatureView View(params FeatureDefinition[] features) =>
        View(TimeSpan.FromHours(1), null, 1, features);

    public static FeatureEvent Event(string id, long ts, string? kind = "click", double? amount = 1, string? tag = null)
    {
        var fields = new Dictionary<string, ScalarValue>(StringComparer.Ordinal) { ["user_id"] = ScalarValue.FromString("u") };
        if (kind is not null) fields["kind"] = ScalarValue.FromString(kind);
        if (amount is { } a) fields["amount"] = ScalarValue.FromDouble(a);
        if (tag is not null) fields["tag"] = ScalarValue.FromString(tag);
        return new FeatureEvent(id, ts, fields);
    }
}

/// <summary>A test-only filter: <c>field == 'value'</c>.</summary>
internal sealed class FieldEquals(string field, string value) : FilterExpression
{
    public override bool Evaluate(IReadOnlyDictionary<string, ScalarValue> fields) =>
        fields.TryGetValue(field, out var actual) && actual.Kind == ScalarKind.String && actual.AsString == value;

    public override void CollectFields(ISet<string> fields) => fields.Add(field);

    public override string ToString() => $"{field} == '{value}'";
}
