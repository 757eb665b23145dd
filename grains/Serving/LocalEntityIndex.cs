using System.Collections.Concurrent;

namespace OrleansFeatures.Grains.Serving;

/// <summary>
/// The entities activated on this silo, by entity type and id: the gateway reads their <see cref="EntityViews"/>
/// directly and calls a grain only for entities that are not here (not active, or active on another silo).
/// </summary>
public sealed class LocalEntityIndex
{
    private readonly ConcurrentDictionary<(string EntityType, string Id), EntityViews> _entities = new();

    public int Count => _entities.Count;

    public bool TryGet(string entityType, string id, out EntityViews views) => _entities.TryGetValue((entityType, id), out views!);

    internal void Add(string entityType, string id, EntityViews views) => _entities[(entityType, id)] = views;

    /// <summary>Removes the entry only if it is still <paramref name="views"/> (a newer activation may have replaced it).</summary>
    internal void Remove(string entityType, string id, EntityViews views) =>
        _entities.TryRemove(new KeyValuePair<(string, string), EntityViews>((entityType, id), views));
}
