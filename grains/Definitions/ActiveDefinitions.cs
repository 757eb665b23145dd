using OrleansFeatures.Core.Definitions;
using OrleansFeatures.Core.Engine;
using OrleansFeatures.Core.Routing;
using OrleansFeatures.Core.Serving;

namespace OrleansFeatures.Grains.Definitions;

/// <summary>
/// One registry version, parsed and compiled once per silo and shared by every grain and request on it.
/// Immutable: a new registry version produces a new instance.
/// </summary>
public sealed class ActiveDefinitions
{
    private static readonly IReadOnlyList<CompiledFeatureView> NoViews = [];

    private readonly Dictionary<string, CompiledFeatureView> _viewsByName = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<CompiledFeatureView>> _viewsByEntityType = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<CompiledFeatureView>> _viewsBySource = new(StringComparer.Ordinal);

    /// <param name="featureTypes">The C# feature types this process loaded; a view naming another throws <see cref="FeatureTypeNotLoadedException"/>.</param>
    public ActiveDefinitions(long version, DateTimeOffset appliedAt, DefinitionSet set, FeatureTypeCatalog? featureTypes = null)
    {
        Version = version;
        AppliedAt = appliedAt;
        Set = set;
        foreach (var view in set.FeatureViews.Values)
        {
            var compiled = new CompiledFeatureView(view, featureTypes);
            _viewsByName.Add(view.Name, compiled);
            Add(_viewsByEntityType, view.EntityType, compiled);
            Add(_viewsBySource, view.Source.Name, compiled);
        }

        Routing = RoutingPlan.Compile(set);
        Lookups = LookupPlan.Compile(set);
    }

    public static ActiveDefinitions Empty { get; } = new(0, DateTimeOffset.MinValue, DefinitionSet.Empty);

    /// <summary>Registry version these definitions came from; 0 before anything was applied.</summary>
    public long Version { get; }

    public DateTimeOffset AppliedAt { get; }

    public DefinitionSet Set { get; }

    /// <summary>Which entities an event of each source touches; every entrance executes this one plan.</summary>
    public RoutingPlan Routing { get; }

    /// <summary>What a lookup or an inference request means in this version; every serving entrance executes this one plan.</summary>
    public LookupPlan Lookups { get; }

    public CompiledFeatureView? FindView(string name) => _viewsByName.GetValueOrDefault(name);

    public IReadOnlyList<CompiledFeatureView> ViewsOfEntityType(string entityType) =>
        _viewsByEntityType.TryGetValue(entityType, out var views) ? views : NoViews;

    public IReadOnlyList<CompiledFeatureView> ViewsFedBy(string source) =>
        _viewsBySource.TryGetValue(source, out var views) ? views : NoViews;

    private static void Add(Dictionary<string, List<CompiledFeatureView>> index, string key, CompiledFeatureView view)
    {
        if (!index.TryGetValue(key, out var list))
        {
            index[key] = list = [];
        }

        list.Add(view);
    }
}
