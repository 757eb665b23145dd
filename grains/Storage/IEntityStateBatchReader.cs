using Orleans.Runtime;

namespace OrleansFeatures.Grains.Storage;

/// <summary>
/// Grain storage that reads one state of many grains in one round trip, and is the only storage of its cluster's
/// entities that a silo serves reads from without activating them (see <c>docs/architecture.md</c>, "Serving: active,
/// warm, cold"). Implemented only by storage that a single silo owns (SQLite locks its file to one process): a storage
/// read there is authoritative for an entity that is neither active nor deactivating on that silo.
/// </summary>
public interface IEntityStateBatchReader
{
    /// <summary>
    /// Reads state <paramref name="stateName"/> of each of <paramref name="grainIds"/>; <c>into[i]</c> is null when
    /// grain <c>i</c> has none.
    /// </summary>
    Task ReadManyAsync<T>(string stateName, IReadOnlyList<GrainId> grainIds, T?[] into, CancellationToken cancellationToken)
        where T : class;
}
