using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Core.Routing;
using OrleansFeatures.Grains.Definitions;
using OrleansFeatures.Grains.Interfaces;

namespace OrleansFeatures.Grains.Ingestion;

/// <summary>
/// The online side of core's <see cref="EventEntrance"/>, shared by push (<see cref="EventRouter"/>) and the stream
/// mappers (<see cref="StreamEventMapper"/>): finds a source's route in this silo's definitions, refreshing them once
/// when they do not define it, with the configured <see cref="EventLimits"/>; admits against the silo's clock; and
/// formats the grain keys of the entities an event touches.
/// </summary>
public sealed class IngestionEntrance(DefinitionCatalog catalog, IOptions<EventLimits> limits, TimeProvider clock)
{
    /// <summary>The definitions to route <paramref name="source"/> with, and its route in them (null when they do not define it, even after a refresh).</summary>
    public async ValueTask<(ActiveDefinitions Definitions, EntranceRoute? Route)> FindAsync(string source, EntrancePolicy policy, CancellationToken cancellationToken)
    {
        var definitions = catalog.Current;
        if (definitions.Routing.ForSource(source) is null)
        {
            // A source defined since this silo last refreshed: look once, rather than refuse its events.
            definitions = await catalog.RefreshAsync(cancellationToken).ConfigureAwait(false);
        }

        return definitions.Routing.ForSource(source) is { } route
            ? (definitions, new EntranceRoute(route, definitions.ViewsFedBy(source), policy, limits.Value))
            : (definitions, null);
    }

    /// <summary>The clock admission checks event times against (Unix ms).</summary>
    public long NowMs => clock.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>The grain keys of the entities a routed event touches (<paramref name="entities"/> from <paramref name="first"/> on).</summary>
    public static string[] GrainKeys(List<EntityRef> entities, int first)
    {
        var keys = new string[entities.Count - first];
        for (var i = 0; i < keys.Length; i++)
        {
            keys[i] = GrainKey(entities[first + i]);
        }

        return keys;
    }

    /// <summary>The grain key of an entity an event touches: the same string for the same entity, while there is room to keep it.</summary>
    public static string GrainKey(EntityRef entity)
    {
        if (GrainKeyCache.TryGetValue((entity.EntityType, entity.EntityId), out var cached))
        {
            return cached;
        }

        var key = EntityKey.Format(entity.EntityType, entity.EntityId);
        if (Volatile.Read(ref _cachedGrainKeys) < MaxCachedGrainKeys && GrainKeyCache.TryAdd((entity.EntityType, entity.EntityId), key))
        {
            Interlocked.Increment(ref _cachedGrainKeys);
        }

        return key;
    }

    // An entity's grain key was formatted for every event that touched it (two strings per event at 10,000 users,
    // young garbage or, for events held for the checkpoint, promoted by gen0). Bounded, so a stream of ever-new ids
    // cannot grow it without limit: past the bound keys are formatted per event as before (~10 MB when full).
    private const int MaxCachedGrainKeys = 131_072;
    private static readonly ConcurrentDictionary<(string EntityType, string EntityId), string> GrainKeyCache = new();
    private static int _cachedGrainKeys;
}

/// <summary>Fails start-up on an out-of-range limit, naming its configuration key.</summary>
internal sealed class EventLimitsValidator : IValidateOptions<EventLimits>
{
    public ValidateOptionsResult Validate(string? name, EventLimits options) =>
        options.Validate() is { Count: > 0 } problems ? ValidateOptionsResult.Fail(problems) : ValidateOptionsResult.Success;
}
