using Microsoft.Extensions.Options;
using Orleans;
using OrleansFeatures.Core.Engine;
using OrleansFeatures.Grains.Diagnostics;
using OrleansFeatures.Grains.Interfaces;

namespace OrleansFeatures.Grains.Serving;

/// <summary>
/// Reads the same features of many entities of one type: from this silo's memory for entities activated here
/// (<see cref="LocalEntityIndex"/>), by one grain call each, in parallel, for the rest.
/// </summary>
public sealed class EntityFeatureReader(IGrainFactory grainFactory, LocalEntityIndex index, IOptions<ServingOptions> options)
{
    private readonly bool _localReads = options.Value.LocalReads;

    /// <summary>
    /// Fills <paramref name="readings"/> with <paramref name="features"/> of each of <paramref name="ids"/>: entity
    /// <c>i</c>'s values at <c>[i * features.Count, (i + 1) * features.Count)</c>, evaluated at <paramref name="nowMs"/>.
    /// </summary>
    public ValueTask ReadAsync(
        long registryVersion, string entityType, IReadOnlyList<string> ids, FeatureRefList features, long nowMs, FeatureReading[] readings)
    {
        var width = features.Count;
        List<(int Entity, Task<FeatureValueDto[]> Read)>? calls = null;
        for (var i = 0; i < ids.Count; i++)
        {
            if (_localReads
                && index.TryGet(entityType, ids[i], out var views)
                && views.TryRead(registryVersion, features, nowMs, readings.AsSpan(i * width, width)))
            {
                continue;
            }

            calls ??= [];
            calls.Add((i, EntityGrains.Get(grainFactory, EntityKey.Format(entityType, ids[i])).Read(registryVersion, features, nowMs)));
        }

        FeatureStoreMetrics.EntityReadsLocal.Add(ids.Count - (calls?.Count ?? 0));
        return calls is null ? ValueTask.CompletedTask : AwaitCallsAsync(calls, width, readings);
    }

    private static async ValueTask AwaitCallsAsync(List<(int Entity, Task<FeatureValueDto[]> Read)> calls, int width, FeatureReading[] readings)
    {
        FeatureStoreMetrics.EntityReadsByGrainCall.Add(calls.Count);
        var all = new Task[calls.Count];
        for (var i = 0; i < all.Length; i++)
        {
            all[i] = calls[i].Read;
        }

        await Task.WhenAll(all);
        foreach (var (entity, read) in calls)
        {
            var values = await read;
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
