using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans;
using Orleans.Runtime;
using Orleans.Storage;
using OrleansFeatures.Core.Engine;
using OrleansFeatures.Grains.Definitions;
using OrleansFeatures.Grains.Diagnostics;
using OrleansFeatures.Grains.Interfaces;
using OrleansFeatures.Grains.State;
using OrleansFeatures.Grains.Storage;

namespace OrleansFeatures.Grains.Serving;

/// <summary>
/// Reads the same features of many entities of one type: from this silo's memory for entities activated here
/// (<see cref="LocalEntityIndex"/>) or warm here (<see cref="WarmEntityCache"/>); the rest (cold) from storage in one
/// batch when the storage can (<see cref="IEntityStateBatchReader"/>), otherwise by one grain call each, in parallel.
/// </summary>
public sealed class EntityFeatureReader(
    IGrainFactory grainFactory,
    LocalEntityIndex index,
    WarmEntityCache warm,
    DefinitionCatalog catalog,
    [FromKeyedServices(FeatureStoreStorage.Name)] IGrainStorage storage,
    IOptions<ServingOptions> options)
{
    private readonly bool _localReads = options.Value.LocalReads;
    private readonly IEntityStateBatchReader? _coldReader = options.Value.BatchColdReads ? storage as IEntityStateBatchReader : null;

    /// <summary>
    /// Fills <paramref name="readings"/> with <paramref name="features"/> of each of <paramref name="ids"/>: entity
    /// <c>i</c>'s values at <c>[i * features.Count, (i + 1) * features.Count)</c>, evaluated at <paramref name="nowMs"/>.
    /// </summary>
    public ValueTask ReadAsync(
        long registryVersion, string entityType, IReadOnlyList<string> ids, FeatureRefList features, long nowMs, FeatureReading[] readings)
    {
        var width = features.Count;
        List<int>? cold = null;
        List<int>? byGrain = null;
        for (var i = 0; i < ids.Count; i++)
        {
            if (!_localReads)
            {
                (byGrain ??= []).Add(i);
                continue;
            }

            var into = readings.AsSpan(i * width, width);
            if (index.TryGet(entityType, ids[i], out var views))
            {
                if (!views.TryRead(registryVersion, features, nowMs, into))
                {
                    // Active here but deactivating, or behind the request's definitions: its grain answers.
                    (byGrain ??= []).Add(i);
                }

                continue;
            }

            if (!warm.TryRead(registryVersion, entityType, ids[i], features, nowMs, into))
            {
                (cold ??= []).Add(i);
            }
        }

        FeatureStoreMetrics.EntityReadsLocal.Add(ids.Count - (cold?.Count ?? 0) - (byGrain?.Count ?? 0));
        if (cold is not null && (_coldReader is null || catalog.Current.Version < registryVersion))
        {
            (byGrain ??= []).AddRange(cold);
            cold = null;
        }

        return (cold, byGrain) switch
        {
            (null, null) => ValueTask.CompletedTask,
            (null, _) => CallGrainsAsync(registryVersion, entityType, ids, byGrain, features, nowMs, readings),
            (_, null) => ReadColdAsync(registryVersion, entityType, ids, cold, features, nowMs, readings),
            _ => ReadBothAsync(registryVersion, entityType, ids, cold, byGrain, features, nowMs, readings),
        };
    }

    private async ValueTask ReadBothAsync(
        long registryVersion, string entityType, IReadOnlyList<string> ids, List<int> cold, List<int> byGrain, FeatureRefList features, long nowMs, FeatureReading[] readings)
    {
        var calls = CallGrainsAsync(registryVersion, entityType, ids, byGrain, features, nowMs, readings);
        await ReadColdAsync(registryVersion, entityType, ids, cold, features, nowMs, readings);
        await calls;
    }

    /// <summary>
    /// Entities neither active nor warm here, from storage in one round trip, without activating them. Storage is
    /// authoritative for them: the batch reader is a one-silo store, and an entity deactivating here is not read
    /// from storage (its leaving marker sends it to its grain). One that became active or warm meanwhile is read from
    /// there instead, so a read never goes back behind what an activation has applied and served.
    /// </summary>
    private async ValueTask ReadColdAsync(
        long registryVersion, string entityType, IReadOnlyList<string> ids, List<int> misses, FeatureRefList features, long nowMs, FeatureReading[] readings)
    {
        var grainIds = new GrainId[misses.Count];
        for (var m = 0; m < misses.Count; m++)
        {
            grainIds[m] = EntityGrains.Id(grainFactory, EntityKey.Format(entityType, ids[misses[m]]));
        }

        var states = new EntityState?[misses.Count];
        await _coldReader!.ReadManyAsync(EntityStateStore.MainStateName, grainIds, states, CancellationToken.None);
        FeatureStoreMetrics.ColdStorageReads.Add(misses.Count);
        var definitions = catalog.Current;
        var width = features.Count;
        List<int>? rest = null;
        for (var m = 0; m < misses.Count; m++)
        {
            var i = misses[m];
            var into = readings.AsSpan(i * width, width);
            // Activated or deactivating since the first look: its activation (or the next one) answers.
            var active = index.TryGet(entityType, ids[i], out var views);
            if ((active && views.TryRead(registryVersion, features, nowMs, into))
                || warm.TryRead(registryVersion, entityType, ids[i], features, nowMs, into))
            {
                continue;
            }

            if (active || warm.IsLeaving(entityType, ids[i]))
            {
                (rest ??= []).Add(i);
                continue;
            }

            WarmEntityCache.ReadStored(definitions, entityType, ToViews(states[m]), features, nowMs, into);
        }

        if (rest is not null)
        {
            await CallGrainsAsync(registryVersion, entityType, ids, rest, features, nowMs, readings);
        }
    }

    private static WarmEntityCache.WarmView[] ToViews(EntityState? state)
    {
        if (state is null || state.Views.Count == 0)
        {
            return [];
        }

        var views = new WarmEntityCache.WarmView[state.Views.Count];
        var v = 0;
        foreach (var (name, packed) in state.Views)
        {
            views[v++] = new WarmEntityCache.WarmView(name, EngineStateMapper.PackedViewVersion(packed), packed);
        }

        return views;
    }

    private async ValueTask CallGrainsAsync(
        long registryVersion, string entityType, IReadOnlyList<string> ids, List<int> misses, FeatureRefList features, long nowMs, FeatureReading[] readings)
    {
        FeatureStoreMetrics.EntityReadsByGrainCall.Add(misses.Count);
        var width = features.Count;
        var calls = new Task<FeatureValueDto[]>[misses.Count];
        for (var m = 0; m < calls.Length; m++)
        {
            calls[m] = EntityGrains.Get(grainFactory, EntityKey.Format(entityType, ids[misses[m]])).Read(registryVersion, features, nowMs);
        }

        await Task.WhenAll(calls);
        for (var m = 0; m < calls.Length; m++)
        {
            var values = await calls[m];
            var entity = misses[m];
            for (var f = 0; f < width; f++)
            {
                var value = values[f];
                readings[(entity * width) + f] = new FeatureReading(value.Value, ToReadingStatus(value.Status), value.EventTimeMs);
            }
        }
    }

    private static ReadingStatus ToReadingStatus(FeatureStatusKind status) => status switch
    {
        FeatureStatusKind.Present => ReadingStatus.Present,
        FeatureStatusKind.Expired => ReadingStatus.Expired,
        _ => ReadingStatus.NotFound,
    };
}
