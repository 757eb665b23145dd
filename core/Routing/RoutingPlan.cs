using OrleansFeatures.Core.Definitions;
using OrleansFeatures.Core.Events;

namespace OrleansFeatures.Core.Routing;

/// <summary>
/// What one definition set means for an incoming event: which source it belongs to, and which entities
/// (entity type and id) it touches. Compiled once per registry version; every entrance (push, Kafka, Event Hubs)
/// only executes it, so they cannot disagree. See <c>core/Routing/README.md</c> for the rules.
/// </summary>
public sealed class RoutingPlan
{
    private readonly Dictionary<string, SourceRoute> _routes;

    private RoutingPlan(Dictionary<string, SourceRoute> routes) => _routes = routes;

    public static RoutingPlan Empty { get; } = new(new Dictionary<string, SourceRoute>(StringComparer.Ordinal));

    /// <summary>Builds the plan: per source, the distinct (entity type, key field) targets of the views it feeds.</summary>
    public static RoutingPlan Compile(DefinitionSet set)
    {
        var routes = new Dictionary<string, SourceRoute>(StringComparer.Ordinal);
        foreach (var source in set.Sources.Values)
        {
            var targets = new List<RouteTarget>();
            // Ordered by view name so the plan (and the first target, which keys a produced message) is deterministic.
            foreach (var view in set.FeatureViews.Values.OrderBy(v => v.Name, StringComparer.Ordinal))
            {
                if (!string.Equals(view.Source.Name, source.Name, StringComparison.Ordinal))
                {
                    continue;
                }

                var target = new RouteTarget(view.EntityType, view.KeyField);
                if (!targets.Contains(target))
                {
                    targets.Add(target);
                }
            }

            routes.Add(source.Name, new SourceRoute(source, [.. targets]));
        }

        return new RoutingPlan(routes);
    }

    /// <summary>The route of <paramref name="source"/>, or null when the registry does not define it.</summary>
    public SourceRoute? ForSource(string source) => _routes.GetValueOrDefault(source);
}

/// <summary>One entity type a source feeds, and the event field holding that entity's id.</summary>
public readonly record struct RouteTarget(string EntityType, string KeyField);

/// <summary>One entity an event touches.</summary>
public readonly record struct EntityRef(string EntityType, string EntityId);

/// <summary>How an entrance treats the cases in which entrances legitimately differ; each is documented in <c>core/Routing/README.md</c>.</summary>
/// <param name="NoReaders">What becomes of a valid event of a source that no view reads.</param>
public sealed record EntrancePolicy(NoReadersPolicy NoReaders)
{
    /// <summary>The push API: the caller is told at once, so an event nothing would read is rejected.</summary>
    public static EntrancePolicy Push { get; } = new(NoReadersPolicy.Reject);

    /// <summary>
    /// Streams (Kafka, Event Hubs): a topic outlives definitions, and its events may be read by a view added later
    /// from an earlier offset, so an event nothing reads yet is skipped (its offset done), not dead-lettered.
    /// </summary>
    public static EntrancePolicy Stream { get; } = new(NoReadersPolicy.Skip);
}

public enum NoReadersPolicy
{
    Reject,
    Skip,
}

/// <summary>What the plan decided for one event.</summary>
public enum RouteDecision
{
    /// <summary>The event goes to the entities listed.</summary>
    Routed,

    /// <summary>No view reads the source, and the entrance skips such events.</summary>
    Skipped,

    /// <summary>The event cannot be applied (reason given): push rejects it, a stream dead-letters it.</summary>
    Rejected,
}

/// <summary>The views of one source compiled to routing targets.</summary>
public sealed class SourceRoute
{
    internal SourceRoute(SourceDefinition source, RouteTarget[] targets)
    {
        Source = source;
        Targets = targets;
    }

    public SourceDefinition Source { get; }

    /// <summary>Distinct (entity type, key field) pairs of the views the source feeds; two views of one type keyed by one field share a target.</summary>
    public IReadOnlyList<RouteTarget> Targets { get; }

    /// <summary>
    /// The entities <paramref name="featureEvent"/> touches, appended to <paramref name="entities"/>: one per target,
    /// keyed by the target's key field, else by <paramref name="transportKey"/> (a Kafka message key; push has none).
    /// An event missing the key of any target is rejected whole, so an event never reaches only some of its views.
    /// </summary>
    public RouteDecision Route(
        FeatureEvent featureEvent,
        string? transportKey,
        EntrancePolicy policy,
        List<EntityRef> entities,
        out string? reason)
    {
        reason = null;
        if (Targets.Count == 0)
        {
            if (policy.NoReaders == NoReadersPolicy.Skip)
            {
                return RouteDecision.Skipped;
            }

            reason = $"no feature view reads source '{Source.Name}'";
            return RouteDecision.Rejected;
        }

        var first = entities.Count;
        for (var t = 0; t < Targets.Count; t++)
        {
            var target = Targets[t];
            if (!EventSchema.TryGetKey(featureEvent, target.KeyField, out var entityId))
            {
                if (string.IsNullOrEmpty(transportKey))
                {
                    entities.RemoveRange(first, entities.Count - first);
                    reason = $"event '{featureEvent.EventId}' has no entity key: field '{target.KeyField}' (entity type '{target.EntityType}') is missing or empty";
                    return RouteDecision.Rejected;
                }

                entityId = transportKey;
            }

            var entity = new EntityRef(target.EntityType, entityId);
            if (!ContainsFrom(entities, first, entity))
            {
                entities.Add(entity);
            }
        }

        return RouteDecision.Routed;
    }

    // Two targets of one entity type keyed by different fields may name the same entity: it is touched once.
    private static bool ContainsFrom(List<EntityRef> entities, int first, EntityRef entity)
    {
        for (var i = first; i < entities.Count; i++)
        {
            if (entities[i] == entity)
            {
                return true;
            }
        }

        return false;
    }
}
