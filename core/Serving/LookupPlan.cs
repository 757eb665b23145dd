using OrleansFeatures.Core.Definitions;
using OrleansFeatures.Core.Events;

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
                _serviceColumns.Add(service.Name, LookupColumns.Create(service.EntityTypes[0], service.Features, service.Defaults));
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

        var requestFields = service.Features.Count < service.Columns.Count ? " and request fields" : "";
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

/// <summary>The resolved columns of a lookup: what to read of each entity, what to call each column, and its default.</summary>
public sealed class LookupColumns
{
    private LookupColumns(string entityType, string[] views, string[] features, string[] names, ScalarValue?[] defaults)
    {
        EntityType = entityType;
        Views = views;
        Features = features;
        Names = names;
        Defaults = defaults;
    }

    public string EntityType { get; }

    /// <summary>Per column, the feature view read.</summary>
    public string[] Views { get; }

    /// <summary>Per column, the feature read of that view.</summary>
    public string[] Features { get; }

    /// <summary>Per column, "view:feature".</summary>
    public string[] Names { get; }

    /// <summary>Per column, the value served when it is missing or expired; null when none.</summary>
    public ScalarValue?[] Defaults { get; }

    public int Count => Names.Length;

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

        return new LookupColumns(entityType, views, features, names, fallbacks);
    }
}
