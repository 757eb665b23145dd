namespace OrleansFeatures.Core.Definitions;

public enum ChangeKind
{
    Added,
    Changed,
    Removed,
}

/// <summary>One difference between the current and the proposed definitions.</summary>
/// <param name="ObjectType">entity, source, feature_view, feature or feature_service.</param>
/// <param name="Breaking">True when applying it would change or lose what is already served.</param>
public sealed record DefinitionChange(ChangeKind Kind, string ObjectType, string Name, string Description, bool Breaking);

/// <summary>The changes an apply would make, and the breaking ones it refuses (each with its reason).</summary>
public sealed record DefinitionPlan(IReadOnlyList<DefinitionChange> Changes, IReadOnlyList<string> Rejections)
{
    public bool IsAllowed => Rejections.Count == 0;
}

/// <summary>
/// Compares two definition sets. Adding is always allowed; removing or redefining what is served is breaking and
/// refused unless it comes as a new version of the feature view (whose online state then restarts empty).
/// </summary>
public static class DefinitionPlanner
{
    public static DefinitionPlan Plan(DefinitionSet current, DefinitionSet proposed)
    {
        var changes = new List<DefinitionChange>();
        var rejections = new List<string>();

        void Add(ChangeKind kind, string type, string name, string description, bool breaking = false)
        {
            changes.Add(new DefinitionChange(kind, type, name, description, breaking));
            if (breaking)
            {
                rejections.Add($"{type} '{name}': {description}");
            }
        }

        foreach (var (name, entity) in proposed.EntityTypes)
        {
            if (!current.EntityTypes.TryGetValue(name, out var old))
            {
                Add(ChangeKind.Added, "entity", name, $"entity type keyed by {entity.KeyField}");
            }
            else if (old.KeyField != entity.KeyField)
            {
                Add(ChangeKind.Changed, "entity", name, $"key changes from {old.KeyField} to {entity.KeyField}, which re-keys every entity", breaking: true);
            }
        }

        foreach (var name in current.EntityTypes.Keys.Where(n => !proposed.EntityTypes.ContainsKey(n)))
        {
            Add(ChangeKind.Removed, "entity", name, "removing an entity type drops every feature served for it", breaking: true);
        }

        foreach (var (name, source) in proposed.Sources)
        {
            if (!current.Sources.TryGetValue(name, out var old))
            {
                Add(ChangeKind.Added, "source", name, $"{source.Fields.Count} fields");
            }
            else if (!SameSource(old, source))
            {
                Add(ChangeKind.Changed, "source", name, "fields, timestamp or event id field changed");
            }
        }

        foreach (var name in current.Sources.Keys.Where(n => !proposed.Sources.ContainsKey(n)))
        {
            Add(ChangeKind.Removed, "source", name, "no longer read");
        }

        foreach (var (name, view) in proposed.FeatureViews)
        {
            if (!current.FeatureViews.TryGetValue(name, out var old))
            {
                Add(ChangeKind.Added, "feature_view", name, $"v{view.Version}, {view.Features.Count} features from {view.Source.Name}");
                continue;
            }

            if (view.Version < old.Version)
            {
                Add(ChangeKind.Changed, "feature_view", name, $"version goes back from v{old.Version} to v{view.Version}; versions only increase", breaking: true);
                continue;
            }

            if (view.Version > old.Version)
            {
                Add(ChangeKind.Changed, "feature_view", name, $"new version v{view.Version} (was v{old.Version}): online state for this view restarts empty");
                continue;
            }

            PlanSameVersion(old, view, Add);
        }

        foreach (var name in current.FeatureViews.Keys.Where(n => !proposed.FeatureViews.ContainsKey(n)))
        {
            Add(ChangeKind.Removed, "feature_view", name, "removing a feature view stops serving all of its features", breaking: true);
        }

        foreach (var (name, service) in proposed.FeatureServices)
        {
            if (!current.FeatureServices.TryGetValue(name, out var old))
            {
                var derived = service.Columns.Count(c => c.Derived is not null);
                Add(ChangeKind.Added, "feature_service", name, $"{service.Columns.Count} columns{(derived > 0 ? $" ({derived} derived)" : "")} of {string.Join(", ", service.EntityTypes)}");
            }
            else if (!old.Columns.SequenceEqual(service.Columns))
            {
                Add(ChangeKind.Changed, "feature_service", name, "features, order, request fields, derived expressions, defaults or encodings changed");
            }
        }

        foreach (var name in current.FeatureServices.Keys.Where(n => !proposed.FeatureServices.ContainsKey(n)))
        {
            Add(ChangeKind.Removed, "feature_service", name, "callers of this service will get NOT_FOUND");
        }

        return new DefinitionPlan(changes, rejections);
    }

    private static void PlanSameVersion(FeatureViewDefinition old, FeatureViewDefinition view, Action<ChangeKind, string, string, string, bool> add)
    {
        var name = view.Name;
        var bump = $" (make it as version {old.Version + 1} of the view)";
        if (old.EntityType != view.EntityType)
        {
            add(ChangeKind.Changed, "feature_view", name, $"entity type changes from {old.EntityType} to {view.EntityType}{bump}", true);
        }

        if (old.Source.Name != view.Source.Name)
        {
            add(ChangeKind.Changed, "feature_view", name, $"source changes from {old.Source.Name} to {view.Source.Name}{bump}", true);
        }

        if (old.KeyField != view.KeyField)
        {
            add(ChangeKind.Changed, "feature_view", name, $"key field changes from {old.KeyField} to {view.KeyField}{bump}", true);
        }

        if (old.Ttl != view.Ttl || old.AllowedLateness != view.AllowedLateness)
        {
            add(ChangeKind.Changed, "feature_view", name, $"ttl {Text(old.Ttl)} → {Text(view.Ttl)}, allowed lateness {Text(old.AllowedLateness)} → {Text(view.AllowedLateness)}", false);
        }

        // By name, not FindFeature: a linear search per feature made planning a view of thousands of features quadratic.
        var oldByName = ByName(old.Features);
        var newByName = ByName(view.Features);
        foreach (var feature in view.Features)
        {
            var qualified = $"{name}:{feature.Name}";
            if (!oldByName.TryGetValue(feature.Name, out var before))
            {
                add(ChangeKind.Added, "feature", qualified, $"{feature.AggregationText}; counts events from when it is applied", false);
                continue;
            }

            var differences = Differences(before, feature);
            if (differences.Count > 0)
            {
                add(ChangeKind.Changed, "feature", qualified, $"{string.Join(", ", differences)} changes what is served{bump}", true);
            }
        }

        foreach (var feature in old.Features)
        {
            if (!newByName.ContainsKey(feature.Name))
            {
                add(ChangeKind.Removed, "feature", $"{name}:{feature.Name}", $"removing a feature breaks its readers{bump}", true);
            }
        }
    }

    private static Dictionary<string, FeatureDefinition> ByName(IReadOnlyList<FeatureDefinition> features)
    {
        var byName = new Dictionary<string, FeatureDefinition>(features.Count, StringComparer.Ordinal);
        foreach (var feature in features)
        {
            byName.TryAdd(feature.Name, feature);
        }

        return byName;
    }

    private static List<string> Differences(FeatureDefinition old, FeatureDefinition now)
    {
        var differences = new List<string>();
        if (old.Type != now.Type || old.ElementType != now.ElementType)
        {
            differences.Add($"type {DefinitionLoader.TypeText(old.Type, old.ElementType)} → {DefinitionLoader.TypeText(now.Type, now.ElementType)}");
        }

        if (old.Aggregation != now.Aggregation || !string.Equals(old.FeatureType, now.FeatureType, StringComparison.Ordinal))
        {
            differences.Add($"aggregation {old.FeatureType ?? old.Aggregation.ToString()} → {now.FeatureType ?? now.Aggregation.ToString()}");
        }

        if (old.Field != now.Field) differences.Add($"field {old.Field} → {now.Field}");
        if (old.Window != now.Window) differences.Add($"window {Text(old.Window)} → {Text(now.Window)}");
        if (old.Tile != now.Tile) differences.Add($"tile {Text(old.Tile)} → {Text(now.Tile)}");
        if (old.Where?.ToString() != now.Where?.ToString()) differences.Add($"filter '{old.Where}' → '{now.Where}'");
        if (old.LastN != now.LastN) differences.Add($"n {old.LastN} → {now.LastN}");
        return differences;
    }

    private static bool SameSource(SourceDefinition a, SourceDefinition b) =>
        a.TimestampField == b.TimestampField
        && a.EventIdField == b.EventIdField
        && a.Fields.Count == b.Fields.Count
        && a.Fields.All(f => b.Fields.TryGetValue(f.Key, out var kind) && kind == f.Value);

    private static string Text(TimeSpan? duration) => duration is { } d ? DurationText.Format(d) : "none";
}
