using System.Diagnostics;
using System.Globalization;
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
/// <see cref="MemoryBenchmark.BuildSilo"/>). Every entity gets 4 events through the push path; every activation is
/// collected (each entity deactivates into the warm tier); a random fraction then gets one more event each, which
/// activates it again. The heap is measured (live managed heap after forced full GCs, minus the silo's before any
/// entity), then single lookups of Zipf-distributed entities (rank r drawn with probability ∝ 1/r^s over a random
/// permutation of the ids, so hot entities are active or warm alike) are read sequentially through the gateway's
/// reader (<see cref="EntityFeatureReader"/>: local index, warm tier, storage), timed per tier.
/// </summary>
internal static class MillionBenchmark
{
    private const string View = "item_stats";

    public static async Task RunAsync(string[] args)
    {
        var count = 1_000_000;
        var activeFraction = 0.1;
        var lookups = 200_000;
        var exponent = 1.0;
        for (var i = 1; i < args.Length - 1; i++)
        {
            if (args[i] == "--entities") count = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
            if (args[i] == "--active") activeFraction = double.Parse(args[i + 1], CultureInfo.InvariantCulture);
            if (args[i] == "--lookups") lookups = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
            if (args[i] == "--zipf") exponent = double.Parse(args[i + 1], CultureInfo.InvariantCulture);
        }

        var activeCount = (int)Math.Round(count * activeFraction);
        Console.WriteLine($"{count:N0} entities x 20 features, {activeCount:N0} active and the rest warm; {lookups:N0} single lookups, Zipf s={exponent.ToString(CultureInfo.InvariantCulture)}; {Environment.ProcessorCount} cores");
        using var temp = new TempDirectory("orleansfeatures-bench-million");
        using var host = MemoryBenchmark.BuildSilo(temp.Path);
        await host.StartAsync();
        var grains = host.Services.GetRequiredService<IGrainFactory>();
        await grains.GetGrain<IRegistryGrain>(IRegistryGrain.DefaultKey).Apply([new DefinitionDocumentDto("memory.yaml", MemoryBenchmark.Definitions)], dryRun: false);
        var catalog = host.Services.GetRequiredService<DefinitionCatalog>();
        await catalog.RefreshAsync();
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

        await MemoryBenchmark.IngestAsync(router, ["warm-up"], 4, nowMs);
        var before = MemoryBenchmark.Measure();
        var step = Stopwatch.StartNew();
        await MemoryBenchmark.IngestAsync(router, ids, 4, nowMs);
        Console.WriteLine($"[{DateTime.UtcNow:HH:mm:ss}] ingested {4L * count:N0} events onto {count:N0} entities in {step.Elapsed.TotalSeconds:0} s");
        var allActive = MemoryBenchmark.Measure();
        var collected = await MemoryBenchmark.CollectAllAsync(grains, index, warm, count);
        Console.WriteLine($"[{DateTime.UtcNow:HH:mm:ss}] all {count:N0} collected into the warm tier in {collected.TotalSeconds:0} s");
        var allWarm = MemoryBenchmark.Measure();

        // A random fraction active again: one more event each.
        var random = new Random(25);
        var order = Enumerable.Range(0, count).ToArray();
        random.Shuffle(order);
        var active = order.AsSpan(0, activeCount).ToArray();
        step.Restart();
        await MemoryBenchmark.ForEachAsync((activeCount + 999) / 1_000, async c =>
        {
            var events = new List<RawEvent>(1_000);
            for (var i = c * 1_000; i < Math.Min(activeCount, (c + 1) * 1_000); i++)
            {
                var id = ids[active[i]];
                events.Add(new RawEvent(id + "-again", nowMs - 30_000, MemoryBenchmark.Fields(id, 0)));
            }

            var results = await router.RouteAsync(MemoryBenchmark.Source, events, CancellationToken.None);
            if (results.FirstOrDefault(r => r.Status != RoutedEventStatus.Accepted) is { Status: not RoutedEventStatus.Accepted } failed)
            {
                throw new InvalidOperationException($"activation: an event was {failed.Status}: {failed.Reason}");
            }
        }, parallelism: 4);
        Console.WriteLine($"[{DateTime.UtcNow:HH:mm:ss}] {activeCount:N0} activated again in {step.Elapsed.TotalSeconds:0} s; index {index.Count:N0} active, warm tier {warm.Count:N0} entries, {warm.Bytes / 1048576.0:0} MiB by its estimate");
        var mixed = MemoryBenchmark.Measure();

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

        var tiers = new[] { "active", "warm", "cold (storage)" };
        var histograms = tiers.Select(_ => new LongHistogram(TimeStamp.Seconds(10), 3)).ToArray();
        var readings = new FeatureReading[20];
        var scratch = new FeatureReading[20];
        var missing = 0;
        step.Restart();
        for (var l = 0; l < lookups; l++)
        {
            var rank = Array.BinarySearch(cumulative, random.NextDouble() * sum);
            var id = ids[order[rank < 0 ? Math.Min(~rank, count - 1) : rank]];
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
        Console.WriteLine();
        Console.WriteLine($"heap (live managed, after full GCs) above the silo's {before.Heap / 1048576.0:0} MiB before any entity:");
        Console.WriteLine($"  all {count:N0} active:                         {(allActive.Heap - before.Heap) / 1073741824.0,6:0.00} GiB ({(allActive.Heap - before.Heap) / (double)count:0} B per entity)");
        Console.WriteLine($"  all {count:N0} warm:                           {(allWarm.Heap - before.Heap) / 1073741824.0,6:0.00} GiB ({(allWarm.Heap - before.Heap) / (double)count:0} B per entity)");
        Console.WriteLine($"  {activeCount:N0} active + {count - activeCount:N0} warm (target < 2 GiB): {(mixed.Heap - before.Heap) / 1073741824.0,6:0.00} GiB; process working set {mixed.WorkingSet / 1073741824.0:0.00} GiB");
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

        await host.StopAsync();
    }

    private static string Us(LongHistogram h, double percentile) =>
        (h.GetValueAtPercentile(percentile) * 1_000_000.0 / Stopwatch.Frequency).ToString("0", CultureInfo.InvariantCulture);
}
