using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
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
/// An entity whose grain call fails with a "try again" cluster failure (<see cref="ClusterFailure"/>) or does not answer
/// within <see cref="ServingOptions.DurableFallbackAfter"/> is answered from its durable state instead, and reported stale
/// (<c>docs/architecture.md</c>, "Serving when a silo is gone").
/// </summary>
public sealed partial class EntityFeatureReader(
    IGrainFactory grainFactory,
    LocalEntityIndex index,
    WarmEntityCache warm,
    DefinitionCatalog catalog,
    [FromKeyedServices(FeatureStoreStorage.Name)] IGrainStorage storage,
    IOptions<ServingOptions> options,
    ILogger<EntityFeatureReader> logger)
{
    private readonly bool _localReads = options.Value.LocalReads;
    private readonly IEntityStateBatchReader? _coldReader = options.Value.BatchColdReads ? storage as IEntityStateBatchReader : null;
    private readonly TimeSpan? _durableFallbackAfter = options.Value.DurableFallback ? options.Value.DurableFallbackAfter : null;

    /// <summary>
    /// Fills <paramref name="readings"/> with <paramref name="features"/> of each of <paramref name="ids"/>: entity
    /// <c>i</c>'s values at <c>[i * features.Count, (i + 1) * features.Count)</c>, evaluated at <paramref name="nowMs"/>.
    /// Returns null when every entity was answered by its activation, warm copy or (single-silo) storage; otherwise one
    /// flag per id, set for the entities answered from their last durable state because their grain could not answer
    /// (stale: events acknowledged after that state may be missing).
    /// </summary>
    public ValueTask<bool[]?> ReadAsync(
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
            (null, null) => ValueTask.FromResult<bool[]?>(null),
            (null, _) => CallGrainsAsync(registryVersion, entityType, ids, byGrain, features, nowMs, readings),
            (_, null) => ReadColdAsync(registryVersion, entityType, ids, cold, features, nowMs, readings),
            _ => ReadBothAsync(registryVersion, entityType, ids, cold, byGrain, features, nowMs, readings),
        };
    }

    private async ValueTask<bool[]?> ReadBothAsync(
        long registryVersion, string entityType, IReadOnlyList<string> ids, List<int> cold, List<int> byGrain, FeatureRefList features, long nowMs, FeatureReading[] readings)
    {
        var calls = CallGrainsAsync(registryVersion, entityType, ids, byGrain, features, nowMs, readings);
        var coldStale = await ReadColdAsync(registryVersion, entityType, ids, cold, features, nowMs, readings);
        var stale = await calls;
        if (coldStale is null || stale is null)
        {
            return stale ?? coldStale;
        }

        for (var i = 0; i < stale.Length; i++)
        {
            stale[i] |= coldStale[i];
        }

        return stale;
    }

    /// <summary>
    /// Entities neither active nor warm here, from storage in one round trip, without activating them. Storage is
    /// authoritative for them: the batch reader is a one-silo store, and an entity deactivating here is not read
    /// from storage (its leaving marker sends it to its grain). One that became active or warm meanwhile is read from
    /// there instead, so a read never goes back behind what an activation has applied and served.
    /// </summary>
    private async ValueTask<bool[]?> ReadColdAsync(
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

        return rest is null ? null : await CallGrainsAsync(registryVersion, entityType, ids, rest, features, nowMs, readings);
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

    private async ValueTask<bool[]?> CallGrainsAsync(
        long registryVersion, string entityType, IReadOnlyList<string> ids, List<int> misses, FeatureRefList features, long nowMs, FeatureReading[] readings)
    {
        FeatureStoreMetrics.EntityReadsByGrainCall.Add(misses.Count);
        var calls = new Task<FeatureValueDto[]>[misses.Count];
        for (var m = 0; m < calls.Length; m++)
        {
            calls[m] = EntityGrains.Get(grainFactory, EntityKey.Format(entityType, ids[misses[m]])).Read(registryVersion, features, nowMs);
        }

        var started = Stopwatch.GetTimestamp();
        var all = Task.WhenAll(calls);
        if (_durableFallbackAfter is not { } after)
        {
            try
            {
                await all;
            }
            catch (Exception) when (!all.IsCompletedSuccessfully && Array.Exists(calls, c => c.IsFaulted && CallAgain(c)))
            {
                // Without the durable fallback, a call that reached a silo which stopped (or refused it) is made once
                // more: the failure invalidated this silo's directory cache entry for the entity, so the second call
                // finds the activation a graceful stop handed it to. Any other failure, or a second one, fails the read.
                for (var m = 0; m < calls.Length; m++)
                {
                    if (calls[m].IsFaulted && CallAgain(calls[m]))
                    {
                        calls[m] = EntityGrains.Get(grainFactory, EntityKey.Format(entityType, ids[misses[m]])).Read(registryVersion, features, nowMs);
                        FeatureStoreMetrics.EntityReadsByGrainCall.Add(1);
                    }
                }

                await Task.WhenAll(calls);
            }
        }
        else
        {
            await WaitAsync(all, after);
        }

        List<int>? fallback = null;
        List<int>? again = null;
        for (var m = 0; m < calls.Length; m++)
        {
            var call = calls[m];
            if (call.IsCompletedSuccessfully)
            {
                Fill(readings, misses[m], features.Count, call.Result);
            }
            else if (call.IsFaulted && ClusterFailure.Classify(call.Exception!) == ClusterFailureKind.Rejected)
            {
                // Refused by the silo the call reached, which also invalidated this silo's directory cache entry for
                // the entity (a stopping silo that no longer takes messages, an activation that moved): made once more,
                // the call finds where the entity is now, e.g. the activation a graceful stop handed it to.
                (again ??= []).Add(m);
            }
            else if (!call.IsCompleted || call.IsCanceled || ClusterFailure.Classify(call.Exception!) != ClusterFailureKind.None)
            {
                (fallback ??= []).Add(m);
            }
            else
            {
                // The grain's own failure (bad state, a refused definition version): not the silo's, so not served stale.
                await call;
            }
        }

        if (again is not null)
        {
            var retries = new Task<FeatureValueDto[]>[again.Count];
            for (var k = 0; k < again.Count; k++)
            {
                var m = again[k];
                retries[k] = calls[m] = EntityGrains.Get(grainFactory, EntityKey.Format(entityType, ids[misses[m]])).Read(registryVersion, features, nowMs);
            }

            FeatureStoreMetrics.EntityReadsByGrainCall.Add(again.Count);
            await WaitAsync(Task.WhenAll(retries), _durableFallbackAfter!.Value - Stopwatch.GetElapsedTime(started));
            foreach (var m in again)
            {
                var call = calls[m];
                if (call.IsCompletedSuccessfully)
                {
                    Fill(readings, misses[m], features.Count, call.Result);
                }
                else if (!call.IsCompleted || call.IsCanceled || ClusterFailure.Classify(call.Exception!) != ClusterFailureKind.None)
                {
                    (fallback ??= []).Add(m);
                }
                else
                {
                    await call;
                }
            }
        }

        return fallback is null ? null : await ReadDurableAsync(registryVersion, entityType, ids, misses, calls, fallback, features, nowMs, readings);
    }

    private static bool CallAgain(Task call) =>
        ClusterFailure.Classify(call.Exception!) is ClusterFailureKind.Rejected or ClusterFailureKind.SiloUnavailable;

    /// <summary>Waits for <paramref name="all"/> for at most <paramref name="budget"/>; its calls are looked at one by one afterwards.</summary>
    private static async Task WaitAsync(Task all, TimeSpan budget)
    {
        try
        {
            await all.WaitAsync(budget > TimeSpan.Zero ? budget : TimeSpan.Zero);
        }
        catch (Exception) when (!all.IsCompletedSuccessfully)
        {
            // A call failed or has not answered: each one is looked at by the caller.
            if (!all.IsCompleted)
            {
                Observe(all);
            }
        }
    }

    private static void Fill(FeatureReading[] readings, int entity, int width, FeatureValueDto[] values)
    {
        for (var f = 0; f < width; f++)
        {
            var value = values[f];
            readings[(entity * width) + f] = new FeatureReading(value.Value, ToReadingStatus(value.Status), value.EventTimeMs);
        }
    }

    /// <summary>
    /// Answers the entities whose grain call failed with a cluster failure or did not answer in time from their durable
    /// state (the last state their activation wrote), without activating them, and marks them stale. If storage cannot
    /// be read either, the read waits for the grain call after all (and fails as it does).
    /// </summary>
    private async ValueTask<bool[]?> ReadDurableAsync(
        long registryVersion, string entityType, IReadOnlyList<string> ids, List<int> misses, Task<FeatureValueDto[]>[] calls, List<int> fallback,
        FeatureRefList features, long nowMs, FeatureReading[] readings)
    {
        var grainIds = new GrainId[fallback.Count];
        for (var k = 0; k < fallback.Count; k++)
        {
            grainIds[k] = EntityGrains.Id(grainFactory, EntityKey.Format(entityType, ids[misses[fallback[k]]]));
        }

        var states = new EntityState?[fallback.Count];
        try
        {
            await ReadStatesAsync(grainIds, states);
        }
        catch (Exception exception)
        {
            FeatureStoreMetrics.DurableFallbackFailures.Add(fallback.Count);
            LogDurableFallbackFailed(logger, exception, entityType, fallback.Count);
            foreach (var m in fallback)
            {
                Fill(readings, misses[m], features.Count, await calls[m]);
            }

            return null;
        }

        var definitions = catalog.Current;
        var width = features.Count;
        var stale = new bool[ids.Count];
        var reported = 0;
        for (var k = 0; k < fallback.Count; k++)
        {
            var m = fallback[k];
            var call = calls[m];
            var i = misses[m];
            if (call.IsCompletedSuccessfully)
            {
                // It answered while storage was read: the live answer wins.
                Fill(readings, i, width, call.Result);
                continue;
            }

            if (!call.IsCompleted)
            {
                // Observe its outcome so a late failure is not left unobserved; nothing waits for it.
                Observe(call);
            }

            WarmEntityCache.ReadStored(definitions, entityType, ToViews(states[k]), features, nowMs, readings.AsSpan(i * width, width));
            FeatureStoreMetrics.DurableFallbackReads.Add(1, new KeyValuePair<string, object?>("reason", Reason(call)));
            stale[i] = true;
            reported++;
        }

        if (reported > 0)
        {
            LogAnsweredStale(logger, entityType, reported, registryVersion);
        }

        return reported > 0 ? stale : null;
    }

    private static void Observe(Task task) =>
        task.ContinueWith(static t => t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);

    private async Task ReadStatesAsync(GrainId[] grainIds, EntityState?[] into)
    {
        if (storage is IEntityStateBatchReader batch)
        {
            await batch.ReadManyAsync(EntityStateStore.MainStateName, grainIds, into, CancellationToken.None);
            return;
        }

        var reads = new Task[grainIds.Length];
        for (var k = 0; k < grainIds.Length; k++)
        {
            reads[k] = ReadStateAsync(grainIds[k], into, k);
        }

        await Task.WhenAll(reads);
    }

    private async Task ReadStateAsync(GrainId grainId, EntityState?[] into, int k)
    {
        var state = new GrainState<EntityState>(new EntityState());
        await storage.ReadStateAsync(EntityStateStore.MainStateName, grainId, state);
        into[k] = state.RecordExists ? state.State : null;
    }

    // A grain call takes no cancellation token here, so a cancelled one was cancelled by its host, which is stopping.
    private static string Reason(Task call) => call.IsFaulted
        ? ClusterFailure.Classify(call.Exception!) switch
        {
            ClusterFailureKind.SiloUnavailable => "silo_unavailable",
            ClusterFailureKind.Overloaded => "overloaded",
            ClusterFailureKind.Rejected => "rejected",
            ClusterFailureKind.Lifecycle => "lifecycle",
            ClusterFailureKind.Timeout => "timeout",
            _ => "host_stopping",
        }
        : call.IsCanceled ? "host_stopping" : "no_answer";

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Count} {EntityType} entities answered from durable state (stale): their grain could not answer (registry version {Version})")]
    private static partial void LogAnsweredStale(ILogger logger, string entityType, int count, long version);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Count} {EntityType} entities whose grain could not answer could not be read from durable state either; the read waits for the grain")]
    private static partial void LogDurableFallbackFailed(ILogger logger, Exception exception, string entityType, int count);

    private static ReadingStatus ToReadingStatus(FeatureStatusKind status) => status switch
    {
        FeatureStatusKind.Present => ReadingStatus.Present,
        FeatureStatusKind.Expired => ReadingStatus.Expired,
        _ => ReadingStatus.NotFound,
    };
}
