using OrleansFeatures.Core.Definitions;
using OrleansFeatures.Core.Engine;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Core.Expressions;

namespace OrleansFeatures.Core.Serving;

/// <summary>
/// What one registry version means for a lookup: which features a request names, what to call each column, the
/// default each gets, and why a request is refused. Compiled once per registry version (every feature service's
/// columns and inference plan up front); resolving a request against it allocates only for named references.
/// </summary>
public sealed class LookupPlan
{
    /// <summary>A view name, a colon and a feature name.</summary>
    public const int MaxFeatureReferenceLength = (2 * DefinitionLimits.MaxNameLength) + 1;

    private readonly DefinitionSet _set;
    private readonly Dictionary<string, LookupColumns> _serviceColumns = new(StringComparer.Ordinal);
    private readonly Dictionary<string, InferencePlan> _inferencePlans = new(StringComparer.Ordinal);

    private LookupPlan(DefinitionSet set)
    {
        _set = set;
        foreach (var service in set.FeatureServices.Values)
        {
            _inferencePlans.Add(service.Name, InferencePlan.Compile(service));
            if (service.IsSingleEntityType)
            {
                _serviceColumns.Add(service.Name, LookupColumns.ForService(service));
            }
        }
    }

    public static LookupPlan Empty { get; } = new(DefinitionSet.Empty);

    public static LookupPlan Compile(DefinitionSet set) => new(set);

    /// <summary>The inference plan of feature service <paramref name="name"/>; null when it is not defined.</summary>
    public InferencePlan? FindInferencePlan(string name) => _inferencePlans.GetValueOrDefault(name);

    /// <summary>
    /// Resolves a lookup of one entity type: its shape against <paramref name="limits"/>, then its names against
    /// this version. Returns the columns, or null and the error (every shape violation at once; then the first name
    /// that does not resolve).
    /// </summary>
    public LookupColumns? Resolve(LookupRequest request, LookupLimits limits, out RequestError? error)
    {
        error = CheckShape(request, limits);
        if (error is not null)
        {
            return null;
        }

        if (!_set.EntityTypes.ContainsKey(request.EntityType))
        {
            error = RequestError.NotFound("entity_type", $"entity type '{EchoedText.Shorten(request.EntityType)}' is not defined");
            return null;
        }

        return request.FeatureService is { } serviceName
            ? ResolveService(request.EntityType, serviceName, out error)
            : ResolveReferences(request.EntityType, request.References!, out error);
    }

    private static RequestError? CheckShape(LookupRequest request, LookupLimits limits)
    {
        var violations = new ViolationList();
        if (string.IsNullOrWhiteSpace(request.EntityType))
        {
            violations.Add("entity_type", "is required");
        }
        else if (request.EntityType.Length > DefinitionLimits.MaxNameLength)
        {
            violations.Add("entity_type", $"is {request.EntityType.Length} characters; the limit is {DefinitionLimits.MaxNameLength}");
        }

        var ids = request.EntityIds;
        if (ids.Count == 0)
        {
            violations.Add("entity_ids", "must name at least one entity");
        }
        else if (ids.Count > limits.MaxEntitiesPerRequest)
        {
            violations.Add("entity_ids", $"has {ids.Count} ids; the limit is {limits.MaxEntitiesPerRequest} (FeatureStore:Limits:MaxEntitiesPerRequest)");
        }
        else
        {
            for (var i = 0; i < ids.Count; i++)
            {
                var id = ids[i];
                if (string.IsNullOrWhiteSpace(id))
                {
                    violations.Add($"entity_ids[{i}]", "is empty");
                }
                else if (id.Length > limits.MaxKeyLength)
                {
                    // The same limit ingestion applies to entity keys, so every stored entity can be looked up.
                    violations.Add($"entity_ids[{i}]", $"is {id.Length} characters; the limit is {limits.MaxKeyLength} (FeatureStore:Limits:MaxKeyLength)");
                }
            }
        }

        if (request.FeatureService is { } service)
        {
            if (service.Length == 0)
            {
                violations.Add("feature_service", "is empty");
            }
            else if (service.Length > DefinitionLimits.MaxNameLength)
            {
                violations.Add("feature_service", $"is {service.Length} characters; the limit is {DefinitionLimits.MaxNameLength}");
            }
        }
        else if (request.References is not { } references)
        {
            violations.Add("selection", "set features or feature_service");
        }
        else if (references.Count == 0)
        {
            violations.Add("features.references", "must name at least one feature");
        }
        else if (references.Count > limits.MaxFeaturesPerRequest)
        {
            violations.Add("features.references", $"has {references.Count} references; the limit is {limits.MaxFeaturesPerRequest} (FeatureStore:Limits:MaxFeaturesPerRequest)");
        }
        else
        {
            for (var i = 0; i < references.Count; i++)
            {
                var text = references[i];
                if (text.Length > MaxFeatureReferenceLength)
                {
                    violations.Add($"features.references[{i}]", $"is {text.Length} characters; the limit is {MaxFeatureReferenceLength}");
                }
                else if (!FeatureReference.TryParse(text, out _))
                {
                    violations.Add($"features.references[{i}]", $"'{EchoedText.Shorten(text)}' is not of the form view:feature");
                }
            }
        }

        return violations.ToError();
    }

    private LookupColumns? ResolveService(string entityType, string name, out RequestError? error)
    {
        error = null;
        if (_serviceColumns.TryGetValue(name, out var columns))
        {
            if (string.Equals(columns.EntityType, entityType, StringComparison.Ordinal))
            {
                return columns;
            }

            error = RequestError.Invalid("feature_service", $"feature service '{name}' serves entity type '{columns.EntityType}', not '{EchoedText.Shorten(entityType)}'");
            return null;
        }

        if (!_set.FeatureServices.TryGetValue(name, out var service))
        {
            error = RequestError.NotFound("feature_service", $"feature service '{EchoedText.Shorten(name)}' is not defined");
            return null;
        }

        var requestFields = service.HasRequestFields ? " and request fields" : "";
        error = RequestError.Invalid(
            "feature_service",
            $"feature service '{service.Name}' reads entity types {string.Join(", ", service.EntityTypes)}{requestFields}; call GetInferenceInputs for it");
        return null;
    }

    private LookupColumns? ResolveReferences(string entityType, IReadOnlyList<string> texts, out RequestError? error)
    {
        error = null;
        var references = new FeatureReference[texts.Count];
        for (var i = 0; i < texts.Count; i++)
        {
            FeatureReference.TryParse(texts[i], out var reference);
            if (!_set.FeatureViews.TryGetValue(reference.View, out var view))
            {
                error = RequestError.NotFound(ReferenceField(i), $"feature view '{EchoedText.Shorten(reference.View)}' is not defined");
                return null;
            }

            if (!string.Equals(view.EntityType, entityType, StringComparison.Ordinal))
            {
                error = RequestError.Invalid(ReferenceField(i), $"feature view '{view.Name}' belongs to entity type '{view.EntityType}', not '{EchoedText.Shorten(entityType)}'");
                return null;
            }

            if (view.FindFeature(reference.Feature) is null)
            {
                error = RequestError.NotFound(ReferenceField(i), $"feature view '{view.Name}' has no feature '{EchoedText.Shorten(reference.Feature)}'");
                return null;
            }

            references[i] = reference;
        }

        return LookupColumns.Create(entityType, references, null);
    }

    private static string ReferenceField(int index) => $"features.references[{index}]";
}

/// <summary>A lookup as the plan sees it: exactly one of <see cref="References"/> and <see cref="FeatureService"/> is set.</summary>
public readonly record struct LookupRequest(
    string EntityType,
    IReadOnlyList<string> EntityIds,
    IReadOnlyList<string>? References,
    string? FeatureService);

/// <summary>The request limits a lookup is checked against (FeatureStore:Limits).</summary>
public sealed record LookupLimits(int MaxEntitiesPerRequest, int MaxFeaturesPerRequest, int MaxKeyLength);

/// <summary>
/// The resolved columns of a lookup: what to read of each entity (<see cref="Views"/>, <see cref="Features"/>), and
/// per answered column its name and default. A feature service's derived columns are not read: <see cref="Derive"/>
/// computes them from the read ones, which makes the readings answered (<see cref="Count"/> per entity).
/// </summary>
public sealed class LookupColumns
{
    private readonly int[]? _readIndex;
    private readonly DerivedColumn?[]? _derived;
    private readonly int _maxInputs;

    private LookupColumns(string entityType, string[] views, string[] features, string[] names, ScalarValue?[] defaults, int[]? readIndex, DerivedColumn?[]? derived)
    {
        EntityType = entityType;
        Views = views;
        Features = features;
        Names = names;
        Defaults = defaults;
        _readIndex = readIndex;
        _derived = derived;
        if (derived is not null)
        {
            foreach (var column in derived)
            {
                _maxInputs = Math.Max(_maxInputs, column?.InputColumns.Count ?? 0);
            }
        }
    }

    public string EntityType { get; }

    /// <summary>Per column read, the feature view read.</summary>
    public string[] Views { get; }

    /// <summary>Per column read, the feature read of that view.</summary>
    public string[] Features { get; }

    /// <summary>Per answered column, "view:feature" or the derived column's name.</summary>
    public string[] Names { get; }

    /// <summary>Per answered column, the value served when it is missing or expired; null when none.</summary>
    public ScalarValue?[] Defaults { get; }

    /// <summary>Answered columns per entity.</summary>
    public int Count => Names.Length;

    /// <summary>Read columns per entity: <see cref="Count"/> less the derived columns.</summary>
    public int ReadWidth => Views.Length;

    /// <summary>True when <see cref="Derive"/> must turn the readings into the answered columns.</summary>
    public bool HasDerivedColumns => _derived is not null;

    /// <summary>
    /// The answered readings of <paramref name="entities"/> entities from their read ones (<see cref="ReadWidth"/>
    /// per entity in <paramref name="read"/>, <see cref="Count"/> per entity into <paramref name="answered"/>): read
    /// columns copied, derived columns evaluated over their inputs as served (each input's default applied).
    /// Allocates nothing.
    /// </summary>
    public void Derive(ReadOnlySpan<FeatureReading> read, Span<FeatureReading> answered, int entities)
    {
        if (_derived is null || _readIndex is null)
        {
            read[..(entities * Count)].CopyTo(answered);
            return;
        }

        Span<ExpressionValue> scratch = _maxInputs <= 64 ? stackalloc ExpressionValue[_maxInputs] : new ExpressionValue[_maxInputs];
        var width = ReadWidth;
        for (var e = 0; e < entities; e++)
        {
            var row = read.Slice(e * width, width);
            var output = answered.Slice(e * Count, Count);
            for (var c = 0; c < output.Length; c++)
            {
                if (_derived[c] is not { } derived)
                {
                    output[c] = row[_readIndex[c]];
                    continue;
                }

                var inputs = scratch[..derived.InputColumns.Count];
                for (var i = 0; i < inputs.Length; i++)
                {
                    var column = derived.InputColumns[i];
                    inputs[i] = ExpressionValue.From(ServedValue.Serve(row[_readIndex[column]], Defaults[column]));
                }

                output[c] = derived.Read(inputs);
            }
        }
    }

    /// <summary>The columns of a feature service of one entity type and no request fields, in the service's order.</summary>
    public static LookupColumns ForService(FeatureServiceDefinition service)
    {
        if (!service.IsSingleEntityType)
        {
            throw new ArgumentException($"feature service '{service.Name}' is not served by plain lookups", nameof(service));
        }

        if (!service.HasDerivedColumns)
        {
            return Create(service.EntityTypes[0], service.Features, service.Defaults);
        }

        var count = service.Columns.Count;
        var names = new string[count];
        var defaults = new ScalarValue?[count];
        var readIndex = new int[count];
        var derived = new DerivedColumn?[count];
        var views = new List<string>();
        var features = new List<string>();
        for (var c = 0; c < count; c++)
        {
            var column = service.Columns[c];
            names[c] = column.Name;
            defaults[c] = column.Default;
            derived[c] = column.Derived;
            readIndex[c] = -1;
            if (column.Feature is { } reference)
            {
                readIndex[c] = views.Count;
                views.Add(reference.View);
                features.Add(reference.Feature);
            }
        }

        return new LookupColumns(service.EntityTypes[0], [.. views], [.. features], names, defaults, readIndex, derived);
    }

    internal static LookupColumns Create(string entityType, IReadOnlyList<FeatureReference> references, IReadOnlyDictionary<FeatureReference, ScalarValue>? defaults)
    {
        var views = new string[references.Count];
        var features = new string[references.Count];
        var names = new string[references.Count];
        var fallbacks = new ScalarValue?[references.Count];
        for (var i = 0; i < references.Count; i++)
        {
            views[i] = references[i].View;
            features[i] = references[i].Feature;
            names[i] = references[i].ToString();
            if (defaults is not null && defaults.TryGetValue(references[i], out var fallback))
            {
                fallbacks[i] = fallback;
            }
        }

        return new LookupColumns(entityType, views, features, names, fallbacks, null, null);
    }
}
