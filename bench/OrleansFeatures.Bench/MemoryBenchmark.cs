using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Runtime;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using Orleans.Core.Internal;
using Orleans.Hosting;
using OrleansFeatures.Core.Engine;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Grains;
using OrleansFeatures.Grains.Definitions;
using OrleansFeatures.Grains.Hosting;
using OrleansFeatures.Grains.Ingestion;
using OrleansFeatures.Grains.Interfaces;
using OrleansFeatures.Grains.Serving;
using OrleansFeatures.TestInfrastructure;

/// <summary>
/// Memory per active entity with 20 features: a silo in this process (SQLite state, as the embedded gateway) ingests
/// N items through the push path (EventRouter: route, one ApplyEvents per entity, durable write), then each part is
/// measured as the live managed heap after a forced full GC, before and after, divided by N: the whole entity; the
/// engine's view state alone (the same events applied to N <c>FeatureViewState</c>s outside any grain); the local
/// read index's shape (N entries); and an empty Orleans grain (activation overhead). Working set is reported for
/// the entity and the empty grain. Run with <c>DOTNET_gcServer=1</c> to match the gateway (Server GC, the Web SDK's
/// default).
/// </summary>
internal static class MemoryBenchmark
{
    internal const string Source = "memory-events";

    internal const string Definitions = $$"""
        entity: item
        key: item_id
        sources:
          - name: memory-events
            fields: { event_id: string, ts: int64, item_id: string, kind: string, value: double, flag: bool }
        feature_views:
          - name: item_stats
            source: memory-events
            ttl: 7d
            features:
        {{ServingDefinitions.ItemFeatures20}}
        """;

    // Event ages of each item's events, applied oldest first: inside 5m, 1h, 24h, so every kind of window holds tiles.
    private static readonly TimeSpan[] Ages = [TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(20), TimeSpan.FromHours(3), TimeSpan.FromHours(12)];
    private static readonly string[] Kinds = ["view", "click", "share", "view"];

    public static async Task RunAsync(string[] args)
    {
        int[] counts = [100_000, 250_000];
        var eventsPerEntity = Ages.Length;
        string? gcdump = null;
        var directoryCache = true;
        for (var i = 1; i < args.Length - 1; i++)
        {
            // Orleans' grain directory cache keeps an entry per activation it has addressed (~330 B per entity in a
            // gcdump); "--directory-cache none" measures the silo without it (GrainDirectoryOptions.CachingStrategy).
            if (args[i] == "--directory-cache") directoryCache = args[i + 1] != "none";
            if (args[i] == "--entities") counts = [.. args[i + 1].Split(',').Select(n => int.Parse(n, CultureInfo.InvariantCulture))];
            if (args[i] == "--events") eventsPerEntity = Math.Clamp(int.Parse(args[i + 1], CultureInfo.InvariantCulture), 1, Ages.Length);
            if (args[i] == "--gcdump") gcdump = args[i + 1];
        }

        Console.WriteLine($"memory per active entity (grain directory cache {(directoryCache ? "on, the default" : "off")}): 1 view x 20 features, {eventsPerEntity} events each (ages {string.Join(", ", Ages.Take(eventsPerEntity))}), " +
            $"{(GCSettings.IsServerGC ? "Server" : "Workstation")} GC, {Environment.ProcessorCount} cores; bytes per entity = live managed heap after a full GC, after minus before, / N");
        foreach (var count in counts)
        {
            await RunOneAsync(count, eventsPerEntity, gcdump is null ? null : $"{gcdump}.{count}.gcdump", directoryCache);
        }
    }

    private static async Task RunOneAsync(int count, int eventsPerEntity, string? gcdump, bool directoryCache)
    {
        using var temp = new TempDirectory("orleansfeatures-bench-memory");
        using var host = BuildSilo(temp.Path, directoryCache);
        await host.StartAsync();
        var grains = host.Services.GetRequiredService<IGrainFactory>();
        await grains.GetGrain<IRegistryGrain>(IRegistryGrain.DefaultKey).Apply([new DefinitionDocumentDto("memory.yaml", Definitions)], dryRun: false);
        var catalog = host.Services.GetRequiredService<DefinitionCatalog>();
        var definitions = await catalog.RefreshAsync();
        var router = host.Services.GetRequiredService<EventRouter>();
        var index = host.Services.GetRequiredService<LocalEntityIndex>();
        var nowMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

        // Ids allocated before any baseline, so no part below is charged for them (the grains allocate their own).
        var ids = new string[count];
        for (var i = 0; i < count; i++)
        {
            ids[i] = $"i{i}";
        }

        // Warm-up: one entity through the whole path, so code and caches are not counted.
        await IngestAsync(router, ["warm"], eventsPerEntity, nowMs);
        var clock = Stopwatch.StartNew();
        var before = Measure();
        await IngestAsync(router, ids, eventsPerEntity, nowMs);
        var ingestSeconds = clock.Elapsed.TotalSeconds;
        var entities = Measure();
        if (index.Count < count)
        {
            throw new InvalidOperationException($"only {index.Count} of {count} entities are in the local index");
        }

        if (gcdump is not null)
        {
            // A typed heap profile of the entities (dotnet tool install -g dotnet-gcdump; dotnet-gcdump report FILE).
            using var dump = Process.Start("dotnet-gcdump", ["collect", "-p", Environment.ProcessId.ToString(CultureInfo.InvariantCulture), "-o", gcdump]);
            await dump.WaitForExitAsync();
        }

        // The engine's part: the same events applied to view states outside any grain.
        var view = definitions.ViewsOfEntityType("item").Single();
        var states = new FeatureViewState[count];
        var engineBefore = Measure();
        for (var i = 0; i < count; i++)
        {
            var state = new FeatureViewState(view);
            for (var e = eventsPerEntity - 1; e >= 0; e--)
            {
                state.Apply(new FeatureEvent(EventId(ids[i], e), nowMs - (long)Ages[e].TotalMilliseconds, Fields(ids[i], e)));
            }

            states[i] = state;
        }

        var engine = Measure();
        GC.KeepAlive(states);
        states = null;
        var (openIdBytes, sealedIdBytes) = MeasureRetainedIds(view, nowMs);

        // The local index's shape: an entry per entity keyed by (type, id) strings the grain already holds.
        var shape = new ConcurrentDictionary<(string, string), object>();
        var indexBefore = Measure();
        var entry = new object();
        for (var i = 0; i < count; i++)
        {
            shape[("item", ids[i])] = entry;
        }

        var indexed = Measure();
        GC.KeepAlive(shape);
        shape = null;

        // An Orleans activation with no state of ours: the runtime's share of every entity.
        var emptyBefore = Measure();
        await ForEachAsync(count, i => grains.GetGrain<IMemoryBaselineGrain>(EntityKey.Format("item", ids[i])).Touch());
        var empty = Measure();

        Console.WriteLine();
        Console.WriteLine($"{count:N0} entities: ingested {count * eventsPerEntity:N0} events in {ingestSeconds:0.0} s (push path, durable); process after: heap {entities.Heap / 1048576.0:0} MiB, working set {entities.WorkingSet / 1048576.0:0} MiB");
        Console.WriteLine($"  {"part",-58} {"heap B/entity",14} {"WS B/entity",12}");
        Row("entity, all of it (activation + our state + index)", before, entities, count);
        Row("  engine view state (FeatureViewState, 20 features)", engineBefore, engine, count, workingSet: false);
        Row("  local read index entry (shape)", indexBefore, indexed, count, workingSet: false);
        Row("  empty Orleans activation (baseline grain)", emptyBefore, empty, count);
        var rest = (entities.Heap - before.Heap - (engine.Heap - engineBefore.Heap) - (indexed.Heap - indexBefore.Heap) - (empty.Heap - emptyBefore.Heap)) / (double)count;
        Console.WriteLine($"  {"  the rest (EntityGrain, EntityViews, stored-state copy, ...)",-58} {rest,14:0}");
        Console.WriteLine($"  {"retained de-duplication id, open (accepted since the last seal)",-58} {openIdBytes,14:0.0}");
        Console.WriteLine($"  {"retained de-duplication id, sealed (stored in a segment)",-58} {sealedIdBytes,14:0.0}");
        var perEntity = (entities.Heap - before.Heap) / (double)count;
        Console.WriteLine($"  1,000,000 entities at this rate: heap {perEntity * 1e6 / 1073741824.0:0.00} GiB (+ {before.Heap / 1048576.0:0} MiB before any entity), working set {(entities.WorkingSet - before.WorkingSet) / (double)count * 1e6 / 1073741824.0:0.00} GiB (+ {before.WorkingSet / 1048576.0:0} MiB)");

        // Every activation gone: the baseline grains deactivate, and each entity deactivates into the warm tier (a read
        // copy of the state it wrote).
        await ForEachAsync(count, i => grains.GetGrain<IMemoryBaselineGrain>(EntityKey.Format("item", ids[i])).Cast<IGrainManagementExtension>().DeactivateOnIdle().AsTask(), parallelism: 64);
        var management = grains.GetGrain<IManagementGrain>(0);
        var baselineGone = Stopwatch.StartNew();
        while (await management.GetTotalActivationCount() > count + 100)
        {
            if (baselineGone.Elapsed > TimeSpan.FromMinutes(5))
            {
                throw new InvalidOperationException($"the {count:N0} baseline grains had not deactivated after 5 minutes");
            }

            await Task.Delay(100);
        }

        var warm = host.Services.GetRequiredService<WarmEntityCache>();
        var collected = await DeactivateAsync(grains, warm, ids, CancellationToken.None);

        var warmed = Measure();
        if (gcdump is not null)
        {
            using var dump = Process.Start("dotnet-gcdump", ["collect", "-p", Environment.ProcessId.ToString(CultureInfo.InvariantCulture), "-o", gcdump.Replace(".gcdump", ".warm.gcdump", StringComparison.Ordinal)]);
            await dump.WaitForExitAsync();
        }

        Console.WriteLine($"  {"entity, warm (deactivated: read copy in the warm tier)",-58} {(warmed.Heap - before.Heap) / (double)count,14:0} {(warmed.WorkingSet - before.WorkingSet) / (double)count,12:0}");
        Console.WriteLine($"  {"  the warm tier's own estimate (packed bytes + overhead)",-58} {warm.Bytes / (double)warm.Count,14:0}");
        Console.WriteLine($"  1,000,000 warm entities at this rate: heap {(warmed.Heap - before.Heap) / (double)count * 1e6 / 1073741824.0:0.00} GiB; all {count:N0} collected in {collected.TotalSeconds:0.0} s");

        await host.StopAsync();
    }

    /// <summary>
    /// Deactivates the active entities <paramref name="ids"/> (each into the warm tier) in batches of
    /// <paramref name="batch"/>: every activation of a batch is asked to deactivate when idle (Orleans'
    /// <see cref="IGrainManagementExtension"/>, which every activation answers), then the bench waits until the tier has
    /// grown by the batch before it asks the next one, so the silo never has more than a batch leaving at once. Asking
    /// Orleans' collector for all of them at once (<c>ForceActivationCollection</c>) had not moved 1,000,000 activations
    /// after 9 minutes. Logs progress every 10 s; every id must be active (an id that is not would be activated by the
    /// call, then deactivated).
    /// </summary>
    internal static async Task<TimeSpan> DeactivateAsync(
        IGrainFactory grains, WarmEntityCache warm, IReadOnlyList<string> ids, CancellationToken cancellation, int batch = 10_000)
    {
        var clock = Stopwatch.StartNew();
        var logged = TimeSpan.Zero;
        var expected = warm.Count;
        for (var start = 0; start < ids.Count; start += batch)
        {
            var first = start;
            var end = Math.Min(ids.Count, start + batch);
            await ForEachAsync(end - first, i => grains.GetGrain<IEntityGrain>(EntityKey.Format("item", ids[first + i]))
                .Cast<IGrainManagementExtension>().DeactivateOnIdle().AsTask(), parallelism: 64);
            expected += end - first;
            var waited = Stopwatch.StartNew();
            while (warm.Count < expected)
            {
                if (waited.Elapsed > TimeSpan.FromMinutes(2))
                {
                    throw new InvalidOperationException($"{warm.Count:N0} of {expected:N0} entities warm 2 minutes after a batch of {end - first:N0} was asked to deactivate");
                }

                await Task.Delay(10, cancellation);
            }

            if (clock.Elapsed - logged > TimeSpan.FromSeconds(10))
            {
                logged = clock.Elapsed;
                Console.WriteLine($"[{DateTime.UtcNow:HH:mm:ss}]   deactivated {end:N0} of {ids.Count:N0} in {clock.Elapsed.TotalSeconds:0} s; warm tier {warm.Count:N0}");
            }
        }

        return clock.Elapsed;
    }

    /// <summary>
    /// A silo in this process as the embedded gateway runs one (SQLite state, the feature store's services), except
    /// that nothing is collected unless the bench collects it, and the warm tier may hold 16 GiB.
    /// </summary>
    internal static IHost BuildSilo(string directory, bool directoryCache = true) =>
        new HostBuilder()
            .ConfigureLogging(logging => logging.SetMinimumLevel(LogLevel.Warning))
            .UseOrleans(silo =>
            {
                silo.UseLocalhostClustering(FreePort.Next(), FreePort.Next());
                silo.AddSqliteGrainStorage(FeatureStoreStorage.Name, o => o.DatabasePath = Path.Combine(directory, "store.db"));
                silo.AddFeatureStoreServices();
                // Nothing may be collected while it is measured (entities go warm only when the bench collects them).
                silo.Configure<GrainCollectionOptions>(o => o.CollectionAge = TimeSpan.FromHours(6));
                if (!directoryCache)
                {
                    silo.Configure<GrainDirectoryOptions>(o => o.CachingStrategy = GrainDirectoryOptions.CachingStrategyType.None);
                }
                silo.Services.Configure<EntityLifetimeOptions>(o => o.IdleTimeout = TimeSpan.FromHours(6));
                silo.Services.Configure<ServingOptions>(o => o.WarmTierMiB = 16 * 1024);
            })
            .Build();

    /// <summary>
    /// Heap per retained id: 200 view states each accept 5,001 events at one event time (so tiles do not grow), beside
    /// 200 that accept 1; the difference over 200 × 5,000 ids. Once with the ids left open (never sealed, as an engine
    /// without storage keeps them), once sealed into a segment every 512 ids (as the entity grain does at a write) and
    /// at the end, so every id is sealed.
    /// </summary>
    private static (double Open, double Sealed) MeasureRetainedIds(CompiledFeatureView view, long nowMs)
    {
        const int States = 200, Ids = 5_000;
        double PerId(bool seal)
        {
            var one = new FeatureViewState[States];
            var many = new FeatureViewState[States];
            var before = Measure();
            for (var i = 0; i < States; i++)
            {
                one[i] = new FeatureViewState(view);
                one[i].Apply(new FeatureEvent($"s{i}-x", nowMs - 60_000, Fields("x", 0)));
            }

            var ones = Measure();
            for (var i = 0; i < States; i++)
            {
                var state = many[i] = new FeatureViewState(view);
                for (var e = 0; e <= Ids; e++)
                {
                    state.Apply(new FeatureEvent(string.Create(CultureInfo.InvariantCulture, $"state-{i}-event-{e}"), nowMs - 60_000, Fields("x", 0)));
                    if (seal && (state.OpenSeenCount >= 512 || e == Ids))
                    {
                        state.EncodeSeenSegment(out var sealCount, out _);
                        state.SealOpenSeenEvents(sealCount);
                    }
                }
            }

            var manys = Measure();
            GC.KeepAlive(one);
            GC.KeepAlive(many);
            return ((manys.Heap - ones.Heap) - (ones.Heap - before.Heap)) / (double)(States * Ids);
        }

        return (PerId(seal: false), PerId(seal: true));
    }

    private static void Row(string name, Snapshot before, Snapshot after, int count, bool workingSet = true) =>
        Console.WriteLine($"  {name,-58} {(after.Heap - before.Heap) / (double)count,14:0} {(workingSet ? ((after.WorkingSet - before.WorkingSet) / (double)count).ToString("0", CultureInfo.InvariantCulture) : "-"),12}");

    internal static async Task IngestAsync(EventRouter router, string[] ids, int eventsPerEntity, long nowMs)
    {
        // 1,000 events per route call (as a push), four calls in flight.
        var perCall = Math.Max(1, 1_000 / eventsPerEntity);
        var calls = (ids.Length + perCall - 1) / perCall;
        await ForEachAsync(calls, async c =>
        {
            var events = new List<RawEvent>(perCall * eventsPerEntity);
            for (var i = c * perCall; i < Math.Min(ids.Length, (c + 1) * perCall); i++)
            {
                for (var e = eventsPerEntity - 1; e >= 0; e--)
                {
                    events.Add(new RawEvent(EventId(ids[i], e), nowMs - (long)Ages[e].TotalMilliseconds, Fields(ids[i], e)));
                }
            }

            var results = await router.RouteAsync(Source, events, CancellationToken.None);
            if (results.FirstOrDefault(r => r.Status != RoutedEventStatus.Accepted) is { Status: not RoutedEventStatus.Accepted } failed)
            {
                throw new InvalidOperationException($"ingestion: an event was {failed.Status}: {failed.Reason}");
            }
        }, parallelism: 4);
    }

    private static string EventId(string id, int e) => string.Create(CultureInfo.InvariantCulture, $"{id}-{e}");

    internal static Dictionary<string, ScalarValue> Fields(string id, int e) => new(StringComparer.Ordinal)
    {
        ["item_id"] = ScalarValue.FromString(id),
        ["kind"] = ScalarValue.FromString(Kinds[e]),
        ["value"] = ScalarValue.FromDouble(e * 2.5),
        ["flag"] = ScalarValue.FromBool(e % 2 == 0),
    };

    internal static async Task ForEachAsync(int count, Func<int, Task> body, int parallelism = 256)
    {
        var next = -1;
        var workers = new Task[parallelism];
        for (var w = 0; w < workers.Length; w++)
        {
            workers[w] = Task.Run(async () =>
            {
                int i;
                while ((i = Interlocked.Increment(ref next)) < count)
                {
                    await body(i);
                }
            });
        }

        await Task.WhenAll(workers);
    }

    internal static Snapshot Measure()
    {
        GCSettings.LargeObjectHeapCompactionMode = GCLargeObjectHeapCompactionMode.CompactOnce;
        for (var i = 0; i < 3; i++)
        {
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
        }

        using var process = Process.GetCurrentProcess();
        return new Snapshot(GC.GetTotalMemory(forceFullCollection: false), process.WorkingSet64);
    }

    /// <summary>Entries in Orleans' grain directory cache now (its observable gauge), or -1 when no silo publishes it.</summary>
    internal static long DirectoryCacheEntries()
    {
        long entries = -1;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Name == "orleans-directory-cache-size")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<int>((_, value, _, _) => entries = Math.Max(0, entries) + value);
        listener.Start();
        listener.RecordObservableInstruments();
        return entries;
    }

    internal readonly record struct Snapshot(long Heap, long WorkingSet);
}
