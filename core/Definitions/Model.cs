using OrleansFeatures.Core.Events;

namespace OrleansFeatures.Core.Definitions;

/// <summary>How a feature is computed from the events of its view.</summary>
public enum AggregationKind
{
    /// <summary>The value of <see cref="FeatureDefinition.Field"/> in the event with the greatest event time.</summary>
    Latest,
    Count,
    Sum,
    Mean,
    Min,
    Max,
}

/// <summary>An entity type: a name and the event field that holds its key (<c>user</c> keyed by <c>user_id</c>).</summary>
public sealed record EntityTypeDefinition(string Name, string KeyField, SourceLocation Location);

/// <summary>
/// An event stream that feeds views. <see cref="Name"/> is both the Kafka topic and the push-API source name,
/// so pushed and streamed events share one definition. <see cref="Fields"/> is the event schema: filters and
/// features may only read declared fields, and pushed events are checked against it.
/// </summary>
/// <param name="TimestampField">Field holding the event time (Unix milliseconds or an ISO-8601 string).</param>
/// <param name="EventIdField">Field holding the event id used for de-duplication.</param>
public sealed record SourceDefinition(
    string Name,
    string TimestampField,
    string EventIdField,
    IReadOnlyDictionary<string, ScalarKind> Fields,
    SourceLocation Location);

/// <summary>One feature of a view.</summary>
/// <param name="Name">Unique within its view.</param>
/// <param name="Type">Value type served: Int64 for count, Double for sum/mean/min/max, declared for latest.</param>
/// <param name="Aggregation">How events become the value.</param>
/// <param name="Field">The event field read (all but count).</param>
/// <param name="Window">Sliding window on event time; null for <see cref="AggregationKind.Latest"/>.</param>
/// <param name="Tile">Tile (bucket) width for windowed features; divides <paramref name="Window"/>.</param>
/// <param name="Where">Optional filter on event fields; events that do not match are ignored by this feature.</param>
public sealed record FeatureDefinition(
    string Name,
    ScalarKind Type,
    AggregationKind Aggregation,
    string? Field,
    TimeSpan? Window,
    TimeSpan? Tile,
    FilterExpression? Where,
    SourceLocation Location);

/// <summary>A group of features of one entity type fed by one source, with a TTL.</summary>
/// <param name="Version">Bumped to make a breaking change; a new version starts with empty online state.</param>
/// <param name="Ttl">Values whose event time is older than now minus TTL are served as expired; null means never.</param>
/// <param name="AllowedLateness">Events older than the view's watermark minus this are counted and dropped.</param>
/// <param name="KeyField">The source field holding this view's entity id; defaults to the entity type's key.</param>
public sealed record FeatureViewDefinition(
    string Name,
    int Version,
    string EntityType,
    SourceDefinition Source,
    string KeyField,
    TimeSpan? Ttl,
    TimeSpan AllowedLateness,
    IReadOnlyList<FeatureDefinition> Features,
    SourceLocation Location)
{
    public FeatureDefinition? FindFeature(string name)
    {
        foreach (var feature in Features)
        {
            if (string.Equals(feature.Name, name, StringComparison.Ordinal))
            {
                return feature;
            }
        }

        return null;
    }
}

/// <summary>A reference to one feature, written <c>view:feature</c>.</summary>
public readonly record struct FeatureReference(string View, string Feature)
{
    public override string ToString() => $"{View}:{Feature}";

    public static bool TryParse(string? text, out FeatureReference reference)
    {
        reference = default;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        var colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0 || colon == text.Length - 1 || text.IndexOf(':', colon + 1) >= 0)
        {
            return false;
        }

        reference = new FeatureReference(text[..colon].Trim(), text[(colon + 1)..].Trim());
        return reference.View.Length > 0 && reference.Feature.Length > 0;
    }
}

/// <summary>A named, ordered list of features with per-feature defaults: the input schema of one model version.</summary>
public sealed record FeatureServiceDefinition(
    string Name,
    string EntityType,
    IReadOnlyList<FeatureReference> Features,
    IReadOnlyDictionary<FeatureReference, ScalarValue> Defaults,
    SourceLocation Location);

/// <summary>A complete, validated set of definitions.</summary>
public sealed record DefinitionSet(
    IReadOnlyDictionary<string, EntityTypeDefinition> EntityTypes,
    IReadOnlyDictionary<string, SourceDefinition> Sources,
    IReadOnlyDictionary<string, FeatureViewDefinition> FeatureViews,
    IReadOnlyDictionary<string, FeatureServiceDefinition> FeatureServices)
{
    public static DefinitionSet Empty { get; } = new(
        new Dictionary<string, EntityTypeDefinition>(StringComparer.Ordinal),
        new Dictionary<string, SourceDefinition>(StringComparer.Ordinal),
        new Dictionary<string, FeatureViewDefinition>(StringComparer.Ordinal),
        new Dictionary<string, FeatureServiceDefinition>(StringComparer.Ordinal));
}

/// <summary>One definition file as submitted: a name (path) and its YAML text.</summary>
public sealed record DefinitionDocument(string Name, string Yaml);
