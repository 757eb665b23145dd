using System.Diagnostics;
using System.Globalization;
using System.Runtime;
using HdrHistogram;
using Microsoft.Extensions.DependencyInjection;
using OrleansFeatures.Core.Engine;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Grains.Definitions;
using OrleansFeatures.Grains.Ingestion;
using OrleansFeatures.Grains.Interfaces;
using OrleansFeatures.Grains.Serving;
using OrleansFeatures.TestInfrastructure;

/// <summary>
/// Issue #25's population: N entities (default 1,000,000) × 20 features servable from memory, a fraction of them
/// active (default 10%) and the rest warm, in one silo of this process set up as the embedded gateway's (SQLite state,
/// <see cref="MemoryBenchmark.BuildSilo"/>). Entities are ingested in chunks of 50,000 (4 events each through the push
/// path); after each chunk, its entities not drawn to stay active deactivate into the warm tier in batches
/// (<see cref="MemoryBenchmark.DeactivateAsync"/>), so the silo never holds more than a chunk beyond the active set.
/// The heap is measured (live managed heap after forced full GCs, minus the silo's before any entity) in that mix; then
/// with every entity warm (the active ones deactivated too); then with the same fraction active again (one more event
/// each, which activates it). Heap per warm entity is the all-warm heap over N; per active entity, the first mix's
/// heap less its warm entities' share, over the active count. Then single lookups of Zipf-distributed entities (rank r
/// drawn with probability ∝ 1/r^s over a random permutation of the ids, so hot entities are active or warm alike) are
/// read sequentially through the gateway's reader (<see cref="EntityFeatureReader"/>: local index, warm tier,
/// storage), timed per tier; and 100-row requests of warm entities, alternately all warm and with 10 rows cold (taken
/// out of the warm tier just before, so read from storage in one batch), timed per kind. Ctrl+C stops it.
/// </summary>
internal static class MillionBenchmark
{
    private const string View = "item_stats";
    private const int Chunk = 50_000;
    private const int Rows = 100;
    private const int ColdRows = 10;

    public static async Task RunAsync(string[] args)
    {
        var count = 1_000_000;
        var activeFraction = 0.1;
        var lookups = 200_000;
        var requests = 1_000;
        var exponent = 1.0;
        for (var i = 1; i < args.Length - 1; i++)
        {
            if (args[i] == "--entities") count = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
            if (args[i] == "--active") activeFraction = double.Parse(args[i + 1], CultureInfo.InvariantCulture);
            if (args[i] == "--lookups") lookups = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
            if (args[i] == "--requests") requests = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
            if (args[i] == "--zipf") exponent = double.Parse(args[i + 1], CultureInfo.InvariantCulture);
        }

        using var cancellation = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            cancellation.Cancel();
        };

        var stop = cancellation.Token;
        var activeCount = (int)Math.Round(count * activeFraction);
        Console.WriteLine($"{count:N0} entities x 20 features, {activeCount:N0} active and the rest warm; {lookups:N0} single lookups, Zipf s={exponent.ToString(CultureInfo.InvariantCulture)}; {requests:N0} pairs of {Rows}-row requests; {(GCSettings.IsServerGC ? "Server" : "Workstation")} GC, {Environment.ProcessorCount} cores");
        using var temp = new TempDirectory("orleansfeatures-bench-million");
        using var host = MemoryBenchmark.BuildSilo(temp.Path);
        await host.StartAsync(stop);
        var grains = host.Services.GetRequiredService<IGrainFactory>();
        await grains.GetGrain<IRegistryGrain>(IRegistryGrain.DefaultKey).Apply([new DefinitionDocumentDto("memory.yaml", MemoryBenchmark.Definitions)], dryRun: false);
        var catalog = host.Services.GetRequiredService<DefinitionCatalog>();
        await catalog.RefreshAsync(stop);
        var router = host.Services.GetRequiredService<EventRouter>();
        var index = host.Services.GetRequiredService<LocalEntityIndex>();
        var warm = host.Services.GetRequiredService<WarmEntityCache>();
        var reader = host.Services.GetRequiredService<EntityFeatureReader>();
        var nowMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

        var ids = new string[count];
        for (var i = 0; i < count; i++)
        {
            ids[i] = string.Create(CultureInfo.InvariantCulture, $"i{i}");
        }

        // The active fraction, drawn at random; the rest go warm.
        var random = new Random(25);
        var order = Enumerable.Range(0, count).ToArray();
        random.Shuffle(order);
        var active = order.AsSpan(0, activeCount).ToArray();
        var isActive = new bool[count];
        foreach (var a in active)
        {
            isActive[a] = true;
        }

        await MemoryBenchmark.IngestAsync(router, ["warm-up"], 4, nowMs);
        var before = MemoryBenchmark.Measure();
        var step = Stopwatch.StartNew();
        var deactivating = TimeSpan.Zero;
        for (var start = 0; start < count; start += Chunk)
        {
            stop.ThrowIfCancellationRequested();
            var chunk = ids[start..Math.Min(count, start + Chunk)];
            await MemoryBenchmark.IngestAsync(router, chunk, 4, nowMs);
            var goWarm = Enumerable.Range(start, chunk.Length).Where(i => !isActive[i]).Select(i => ids[i]).ToArray();
            deactivating += await MemoryBenchmark.DeactivateAsync(grains, warm, goWarm, stop);
            Console.WriteLine($"[{DateTime.UtcNow:HH:mm:ss}] {start + chunk.Length:N0} of {count:N0} ingested in {step.Elapsed.TotalSeconds:0} s ({deactivating.TotalSeconds:0} s of it deactivating); index {index.Count:N0} active, warm tier {warm.Count:N0}; heap {GC.GetTotalMemory(false) / 1048576.0:0} MiB");
        }

        Console.WriteLine($"[{DateTime.UtcNow:HH:mm:ss}] ingested {4L * count:N0} events onto {count:N0} entities in {step.Elapsed.TotalSeconds:0} s, {deactivating.TotalSeconds:0} s of it deactivating {count - activeCount:N0} into the warm tier");
        var mixed = MemoryBenchmark.Measure();

        // Every entity warm: the active ones deactivate too.
        var allWarmIn = await MemoryBenchmark.DeactivateAsync(grains, warm, [.. active.Select(a => ids[a])], stop);
        Console.WriteLine($"[{DateTime.UtcNow:HH:mm:ss}] the other {activeCount:N0} deactivated in {allWarmIn.TotalSeconds:0} s; index {index.Count:N0} active, warm tier {warm.Count:N0}");
        var allWarm = MemoryBenchmark.Measure();
        var directoryEntries = MemoryBenchmark.DirectoryCacheEntries();

        // The same fraction active again: one more event each.
        step.Restart();
        await MemoryBenchmark.ForEachAsync((activeCount + 999) / 1_000, async c =>
        {
            var events = new List<RawEvent>(1_000);
            for (var i = c * 1_000; i < Math.Min(activeCount, (c + 1) * 1_000); i++)
            {
                var id = ids[active[i]];
                events.Add(new RawEvent(id + "-again", nowMs - 30_000, MemoryBenchmark.Fields(id, 0)));
            }

            var results = await router.RouteAsync(MemoryBenchmark.Source, events, stop);
            if (results.FirstOrDefault(r => r.Status != RoutedEventStatus.Accepted) is { Status: not RoutedEventStatus.Accepted } failed)
            {
                throw new InvalidOperationException($"activation: an event was {failed.Status}: {failed.Reason}");
            }
        }, parallelism: 4);
        Console.WriteLine($"[{DateTime.UtcNow:HH:mm:ss}] {activeCount:N0} activated again in {step.Elapsed.TotalSeconds:0} s; index {index.Count:N0} active, warm tier {warm.Count:N0} entries, {warm.Bytes / 1048576.0:0} MiB by its estimate");
        var remixed = MemoryBenchmark.Measure();

        // Zipf-distributed single lookups of all 20 features, sequential, timed by the tier the entity was in.
        var features = new FeatureRefList([.. Enumerable.Repeat(View, 20)], ServingDefinitions.ItemFeatures);
        var version = catalog.Current.Version;
        var cumulative = new double[count];
        double sum = 0;
        for (var r = 0; r < count; r++)
        {
            sum += 1.0 / Math.Pow(r + 1, exponent);
            cumulative[r] = sum;
        }

        // Popularity is its own permutation of the ids, drawn apart from the active fraction: hot entities are active or
        // warm alike.
        var popularity = Enumerable.Range(0, count).ToArray();
        random.Shuffle(popularity);
        var tiers = new[] { "active", "warm", "cold (storage)" };
        var histograms = tiers.Select(_ => new LongHistogram(TimeStamp.Seconds(10), 3)).ToArray();
        var readings = new FeatureReading[20];
        var scratch = new FeatureReading[20];
        var missing = 0;
        step.Restart();
        for (var l = 0; l < lookups; l++)
        {
            var rank = Array.BinarySearch(cumulative, random.NextDouble() * sum);
            var id = ids[popularity[rank < 0 ? Math.Min(~rank, count - 1) : rank]];
            var at = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            var started = Stopwatch.GetTimestamp();
            await reader.ReadAsync(version, "item", [id], features, at, readings);
            var elapsed = Stopwatch.GetTimestamp() - started;
            // The tier it was read from (a read moves no entity between tiers): classified after the timed read.
            var tier = index.TryGet("item", id, out _) ? 0 : warm.TryRead(version, "item", id, features, at, scratch) ? 1 : 2;
            histograms[tier].RecordValue(elapsed);
            if (readings.All(r => r.Status != ReadingStatus.Present))
            {
                missing++;
            }
        }

        var lookupSeconds = step.Elapsed.TotalSeconds;

        // 100-row requests of warm entities, alternately all warm and with 10 rows cold: those 10 are taken out of the
        // warm tier just before the request (a cold read does not bring them back), so storage answers them in one batch.
        var warmIds = order.AsSpan(activeCount).ToArray().Select(i => ids[i]).ToArray();
        var kinds = new[] { "all warm", $"{ColdRows} cold" };
        var requestHistograms = kinds.Select(_ => new LongHistogram(TimeStamp.Seconds(10), 3)).ToArray();
        var rows = new string[Rows];
        var rowReadings = new FeatureReading[Rows * features.Count];
        var coldNext = 0;
        long coldRead = 0;
        long coldMissing = 0;
        for (var r = 0; r < 2 * requests; r++)
        {
            stop.ThrowIfCancellationRequested();
            var kind = r % 2;
            for (var i = 0; i < Rows; i++)
            {
                // Cold rows come from the end of the warm list, used once each; warm rows at random from the rest.
                rows[i] = kind == 1 && i < ColdRows
                    ? warmIds[warmIds.Length - 1 - coldNext++]
                    : warmIds[random.Next(warmIds.Length - (2 * requests * ColdRows))];
                if (kind == 1 && i < ColdRows)
                {
                    warm.Invalidate("item", rows[i]);
                    if (!index.TryGet("item", rows[i], out _) && !warm.TryRead(version, "item", rows[i], features, nowMs, scratch))
                    {
                        coldRead++;
                    }
                }
            }

            var at = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            var started = Stopwatch.GetTimestamp();
            await reader.ReadAsync(version, "item", rows, features, at, rowReadings);
            requestHistograms[kind].RecordValue(Stopwatch.GetTimestamp() - started);
            for (var i = 0; i < Rows; i++)
            {
                if (rowReadings.AsSpan(i * features.Count, features.Count).ToArray().All(x => x.Status != ReadingStatus.Present))
                {
                    coldMissing++;
                }
            }
        }

        Console.WriteLine();
        var warmPerEntity = (allWarm.Heap - before.Heap) / (double)count;
        var activePerEntity = (mixed.Heap - before.Heap - ((count - activeCount) * warmPerEntity)) / activeCount;
        Console.WriteLine($"heap (live managed, after full GCs) above the silo's {before.Heap / 1048576.0:0} MiB before any entity:");
        Console.WriteLine($"  {activeCount:N0} active + {count - activeCount:N0} warm, as ingested (target < 2 GiB): {(mixed.Heap - before.Heap) / 1073741824.0,6:0.00} GiB; process working set {mixed.WorkingSet / 1073741824.0:0.00} GiB");
        Console.WriteLine($"  all {count:N0} warm:                                   {(allWarm.Heap - before.Heap) / 1073741824.0,6:0.00} GiB ({warmPerEntity:0} B per warm entity, target <= 1 KB)");
        Console.WriteLine($"  {activeCount:N0} active again + the rest warm:               {(remixed.Heap - before.Heap) / 1073741824.0,6:0.00} GiB; process working set {remixed.WorkingSet / 1073741824.0:0.00} GiB");
        Console.WriteLine($"  per active entity (as ingested, less its warm entities' share): {activePerEntity:0} B (target <= 3 KB)");
        Console.WriteLine($"  the warm tier's own estimate: {warm.Bytes / (double)Math.Max(1, warm.Count):0} B per entry; Orleans' grain directory cache held {directoryEntries:N0} entries with all warm");
        Console.WriteLine($"single lookups, 20 features, through the gateway's reader, sequential ({lookups / lookupSeconds:0} per s; {missing} answered nothing present):");
        Console.WriteLine($"  {"tier",-16} {"lookups",8} {"p50 µs",8} {"p99 µs",8} {"p99.9 µs",9}");
        for (var t = 0; t < tiers.Length; t++)
        {
            var h = histograms[t];
            if (h.TotalCount > 0)
            {
                Console.WriteLine($"  {tiers[t],-16} {h.TotalCount,8} {Us(h, 50),8} {Us(h, 99),8} {Us(h, 99.9),9}");
            }
        }

        if (histograms[0].TotalCount > 0 && histograms[1].TotalCount > 0)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  warm / active: p50 {(double)histograms[1].GetValueAtPercentile(50) / histograms[0].GetValueAtPercentile(50):0.00}x, p99 {(double)histograms[1].GetValueAtPercentile(99) / histograms[0].GetValueAtPercentile(99):0.00}x (target p99 <= 1.5x)"));
        }

        Console.WriteLine($"{Rows}-row requests of warm entities, 20 features, sequential, alternated ({coldRead:N0} rows neither active nor warm when read; {coldMissing} rows answered nothing present):");
        Console.WriteLine($"  {"request",-16} {"requests",8} {"p50 µs",8} {"p99 µs",8} {"p99.9 µs",9}");
        for (var k = 0; k < kinds.Length; k++)
        {
            var h = requestHistograms[k];
            Console.WriteLine($"  {kinds[k],-16} {h.TotalCount,8} {Us(h, 50),8} {Us(h, 99),8} {Us(h, 99.9),9}");
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  {ColdRows} cold / all warm: p50 {(double)requestHistograms[1].GetValueAtPercentile(50) / requestHistograms[0].GetValueAtPercentile(50):0.00}x, p99 {(double)requestHistograms[1].GetValueAtPercentile(99) / requestHistograms[0].GetValueAtPercentile(99):0.00}x (target <= 1.5x)"));

        await host.StopAsync(CancellationToken.None);
    }

    private static string Us(LongHistogram h, double percentile) =>
        (h.GetValueAtPercentile(percentile) * 1_000_000.0 / Stopwatch.Frequency).ToString("0", CultureInfo.InvariantCulture);
}
