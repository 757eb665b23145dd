using System.Collections.Concurrent;

namespace OrleansFeatures.Grains.Serving;

/// <summary>
/// The entities activated on this silo, by entity type and id: the gateway reads their <see cref="EntityViews"/>
/// directly and calls a grain only for entities that are not here (not active, or active on another silo).
/// </summary>
public sealed class LocalEntityIndex
{
    private readonly ConcurrentDictionary<(string EntityType, string Id), EntityViews> _entities = new();

    // The same entries by grain key ("type/id"), as partition ingesters hold them: an apply in place finds its entity
    // without parsing the key back into type and id.
    private readonly ConcurrentDictionary<string, EntityViews> _byGrainKey = new(StringComparer.Ordinal);

    public int Count => _entities.Count;

    public bool TryGet(string entityType, string id, out EntityViews views) => _entities.TryGetValue((entityType, id), out views!);

    /// <summary>The entity of grain key <paramref name="grainKey"/> (<c>EntityKey.Format</c>), when it is activated on this silo.</summary>
    public bool TryGetByGrainKey(string grainKey, out EntityViews views) => _byGrainKey.TryGetValue(grainKey, out views!);

    internal void Add(string entityType, string id, string grainKey, EntityViews views)
    {
        _entities[(entityType, id)] = views;
        _byGrainKey[grainKey] = views;
    }

    /// <summary>Removes the entry only if it is still <paramref name="views"/> (a newer activation may have replaced it).</summary>
    internal void Remove(string entityType, string id, string grainKey, EntityViews views)
    {
        _entities.TryRemove(new KeyValuePair<(string, string), EntityViews>((entityType, id), views));
        _byGrainKey.TryRemove(new KeyValuePair<string, EntityViews>(grainKey, views));
    }
}
