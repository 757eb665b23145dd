using OrleansFeatures.Core.Engine;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Core.Expressions;

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

    /// <summary>The field's value in the window's event with the smallest event time (ties: the first applied).</summary>
    First,

    /// <summary>Population variance (divided by n) of the numeric field over the window.</summary>
    Variance,

    /// <summary>Population standard deviation: the square root of <see cref="Variance"/>.</summary>
    Stddev,

    /// <summary>Distinct values of the field over the window: exact up to 512, a HyperLogLog estimate beyond.</summary>
    CountDistinct,

    /// <summary>
    /// The field's last <see cref="FeatureDefinition.LastN"/> values in the window by event time (ties: the later
    /// applied is later), served as a list, newest first.
    /// </summary>
    LastN,

    /// <summary>A C# feature type loaded from an assembly (<see cref="FeatureDefinition.FeatureType"/>, <c>name@version</c>).</summary>
    Plugin,
}

/// <summary>The words definition files use for <see cref="AggregationKind"/>.</summary>
public static class AggregationNames
{
    /// <summary>Every word, in the order error messages list them.</summary>
    public const string All = "latest, count, sum, mean, min, max, first, variance, stddev, count_distinct, last_n";

    public static string Word(this AggregationKind aggregation) => aggregation switch
    {
        AggregationKind.CountDistinct => "count_distinct",
        AggregationKind.LastN => "last_n",
        AggregationKind.Plugin => "feature type",
        _ => aggregation.ToString().ToLowerInvariant(),
    };

    public static AggregationKind? Parse(string text) => text switch
    {
        "latest" => AggregationKind.Latest,
        "count" => AggregationKind.Count,
        "sum" => AggregationKind.Sum,
        "mean" => AggregationKind.Mean,
        "min" => AggregationKind.Min,
        "max" => AggregationKind.Max,
        "first" => AggregationKind.First,
        "variance" => AggregationKind.Variance,
        "stddev" => AggregationKind.Stddev,
        "count_distinct" => AggregationKind.CountDistinct,
        "last_n" => AggregationKind.LastN,
        _ => null,
    };

    /// <summary>True when the aggregation reads any value of its field (not only numbers): first, count_distinct, last_n, latest.</summary>
    public static bool ReadsAnyValue(this AggregationKind aggregation) =>
        aggregation is AggregationKind.Latest or AggregationKind.First or AggregationKind.CountDistinct or AggregationKind.LastN;
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
/// <param name="Type">Value type served: Int64 for count and count_distinct, Double for sum/mean/min/max/variance/stddev,
/// the field's type for latest and first, List for last_n (of <see cref="ElementType"/>).</param>
/// <param name="Aggregation">How events become the value.</param>
/// <param name="Field">The event field read (all but count).</param>
/// <param name="Window">Sliding window on event time; null for <see cref="AggregationKind.Latest"/>.</param>
/// <param name="Tile">Tile (bucket) width for windowed features; divides <paramref name="Window"/>.</param>
/// <param name="Where">Optional filter on event fields; events that do not match are ignored by this feature.</param>
/// <param name="FeatureType">For <see cref="AggregationKind.Plugin"/>: the C# feature type, <c>name@version</c>.</param>
public sealed record FeatureDefinition(
    string Name,
    ScalarKind Type,
    AggregationKind Aggregation,
    string? Field,
    TimeSpan? Window,
    TimeSpan? Tile,
    FilterExpression? Where,
    SourceLocation Location,
    string? FeatureType = null)
{
    /// <summary>The bounds of <see cref="LastN"/>: a tile keeps up to this many values per last_n list.</summary>
    public const int MaxLastN = 1000;

    /// <summary>For last_n: how many values the list holds at most (1 … <see cref="MaxLastN"/>); 0 for other aggregations.</summary>
    public int LastN { get; init; }

    /// <summary>For a List <see cref="Type"/> (last_n): the type of its items, the field's; otherwise <see cref="Type"/>.</summary>
    public ScalarKind ElementType
    {
        get => Type == ScalarKind.List ? _elementType : Type;
        init => _elementType = value;
    }

    /// <summary>The aggregation as definition files write it: a built-in word, or a feature type's <c>name@version</c>.</summary>
    public string AggregationText => Aggregation == AggregationKind.Plugin ? FeatureType! : Aggregation.Word();

    private readonly ScalarKind _elementType;
}

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

/// <summary>
/// A named, ordered list of input columns with per-column defaults: the input schema of one model version. Columns
/// are features of views (of one or more entity types) or request fields the caller sends with each request.
/// </summary>
public sealed class FeatureServiceDefinition
{
    public FeatureServiceDefinition(string name, IReadOnlyList<ServiceColumn> columns, SourceLocation location)
    {
        Name = name;
        Columns = columns;
        Location = location;
        var entityTypes = new List<string>();
        var features = new List<FeatureReference>();
        var defaults = new Dictionary<FeatureReference, ScalarValue>();
        foreach (var column in columns)
        {
            if (column.Feature is not { } reference)
            {
                continue;
            }

            features.Add(reference);
            if (!entityTypes.Contains(column.EntityType!))
            {
                entityTypes.Add(column.EntityType!);
            }

            if (column.Default is { } value)
            {
                defaults[reference] = value;
            }
        }

        EntityTypes = entityTypes;
        Features = features;
        Defaults = defaults;
    }

    public string Name { get; }

    /// <summary>Model input order.</summary>
    public IReadOnlyList<ServiceColumn> Columns { get; }

    public SourceLocation Location { get; }

    /// <summary>The entity types whose features the service reads, in order of first use.</summary>
    public IReadOnlyList<string> EntityTypes { get; }

    /// <summary>The view features among <see cref="Columns"/>, in their order (request fields left out).</summary>
    public IReadOnlyList<FeatureReference> Features { get; }

    /// <summary>Defaults of the view features.</summary>
    public IReadOnlyDictionary<FeatureReference, ScalarValue> Defaults { get; }

    /// <summary>True when a plain lookup of one entity type can serve it: one entity type and no request fields.</summary>
    public bool IsSingleEntityType => EntityTypes.Count == 1 && !HasRequestFields;

    /// <summary>True when the caller sends values with each row (only GetInferenceInputs carries them).</summary>
    public bool HasRequestFields => Columns.Any(c => c.IsRequestField);

    /// <summary>True when some column is computed from others (<see cref="ServiceColumn.Derived"/>).</summary>
    public bool HasDerivedColumns => Columns.Any(c => c.Derived is not null);

}

/// <summary>
/// One input column of a feature service: a view's feature (<see cref="Feature"/> and <see cref="EntityType"/> set),
/// a derived column (<see cref="Derived"/> set) or a request field (all three null), with its type, optional default
/// and optional encoding.
/// </summary>
/// <param name="Name"><c>view:feature</c>, or the request field's or derived column's name.</param>
public sealed record ServiceColumn(
    string Name,
    FeatureReference? Feature,
    string? EntityType,
    ScalarKind Type,
    ScalarValue? Default,
    CategoricalEncoding? Encoding,
    DerivedColumn? Derived = null)
{
    public bool IsRequestField => Feature is null && Derived is null;

    /// <summary>For a List <see cref="Type"/> (a last_n feature): the type of its items; <see cref="ScalarKind.Null"/> otherwise.</summary>
    public ScalarKind ElementType { get; init; }
}

/// <summary>
/// A column computed from the service's other columns by an expression (<c>ctr_1h: clicks_1h / max(views_1h, 1)</c>).
/// Lookups, inference inputs and training sets all evaluate it through <see cref="Read"/>, so they agree.
/// </summary>
/// <param name="InputColumns">Per input of <see cref="Expression"/>, the index of the service column it reads.</param>
public sealed class DerivedColumn(CompiledExpression expression, int[] inputColumns) : IEquatable<DerivedColumn>
{
    public CompiledExpression Expression { get; } = expression;

    public IReadOnlyList<int> InputColumns { get; } = inputColumns;

    /// <summary>
    /// The column's reading from its inputs as the service serves them (each input's default already applied):
    /// present with the newest event time of its present inputs, or not found / expired (an expired input made it
    /// missing); the column's own default is then applied by <see cref="ServedValue.Serve"/> like any column's.
    /// </summary>
    public FeatureReading Read(ReadOnlySpan<ExpressionValue> inputs)
    {
        var result = Expression.Evaluate(inputs);
        if (result.IsMissing)
        {
            return new FeatureReading(ScalarValue.Null, result.Expired ? ReadingStatus.Expired : ReadingStatus.NotFound, 0);
        }

        long eventTime = 0;
        foreach (var input in inputs)
        {
            if (!input.IsMissing && input.EventTimeMs > eventTime)
            {
                eventTime = input.EventTimeMs;
            }
        }

        return new FeatureReading(result.ToScalar(), ReadingStatus.Present, eventTime);
    }

    public bool Equals(DerivedColumn? other) => other is not null && string.Equals(Expression.Text, other.Expression.Text, StringComparison.Ordinal);

    public override bool Equals(object? obj) => Equals(obj as DerivedColumn);

    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(Expression.Text);

    public override string ToString() => Expression.Text;
}

/// <summary>
/// A string column served to a model as the index of its value in <see cref="Categories"/>; a value not listed gets
/// the next index, <c>Categories.Count</c> (out of vocabulary).
/// </summary>
public sealed class CategoricalEncoding : IEquatable<CategoricalEncoding>
{
    private readonly Dictionary<string, int> _indexes;

    public CategoricalEncoding(IReadOnlyList<string> categories)
    {
        Categories = categories;
        _indexes = new Dictionary<string, int>(categories.Count, StringComparer.Ordinal);
        for (var i = 0; i < categories.Count; i++)
        {
            _indexes.TryAdd(categories[i], i);
        }
    }

    public IReadOnlyList<string> Categories { get; }

    /// <summary>The index of <paramref name="value"/>, or <c>Categories.Count</c> when it is not listed.</summary>
    public int IndexOf(string value) => _indexes.TryGetValue(value, out var index) ? index : Categories.Count;

    public bool Equals(CategoricalEncoding? other) => other is not null && Categories.SequenceEqual(other.Categories, StringComparer.Ordinal);

    public override bool Equals(object? obj) => Equals(obj as CategoricalEncoding);

    public override int GetHashCode() => Categories.Count;
}

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
