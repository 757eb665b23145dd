using System.Diagnostics;
using System.Globalization;
using Grpc.Net.Client;
using HdrHistogram;
using OrleansFeatures.TestInfrastructure;
using OrleansFeatures.V1;
using Timestamp = Google.Protobuf.WellKnownTypes.Timestamp;

/// <summary>
/// Lookups of entities in the three tiers (docs/architecture.md, "Serving: active, warm, cold"), in one gateway process
/// (Release, SQLite state): the store is seeded, stopped and started again on the same data with a 65-second entity
/// idle time; one event for each of 2N items activates them, the bench waits until they have deactivated into the
/// warm tier, then one more event re-activates half of them. Then, sequentially and alternated: single lookups of an
/// active item and of a warm one; single lookups of cold items (never touched since the restart: read from SQLite
/// without activation); and 100-row inference requests (one user, 100 items) all warm, all active, and with a fraction
/// of cold items. The gateway's own counters say which path each phase took.
/// </summary>
internal static class ColdReadBenchmark
{
    private const int Users = 100;

    public static async Task RunAsync(string[] args)
    {
        var singles = 2_000;
        var requests = 200;
        var coldFraction = 0.1;
        for (var i = 1; i < args.Length - 1; i++)
        {
            if (args[i] == "--singles") singles = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
            if (args[i] == "--requests") requests = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
            if (args[i] == "--cold-fraction") coldFraction = double.Parse(args[i + 1], CultureInfo.InvariantCulture);
        }

        const int rows = 100;
        var coldPerRequest = (int)Math.Round(rows * coldFraction);
        // Items [0, N) end warm, [N, 2N) active; the rest stay cold (one per single cold lookup, then per request).
        var warmItems = Math.Max(singles, rows);
        var coldSingles = Math.Min(singles, 1_000);
        var firstCold = 2 * warmItems;
        var items = firstCold + coldSingles + (requests * coldPerRequest);
        using var temp = new TempDirectory("orleansfeatures-bench-cold");
        await using (var seeding = new GatewayProcess(temp.Path))
        {
            await seeding.StartAsync(TimeSpan.FromMinutes(3));
            using var channel = GrpcChannel.ForAddress(seeding.GrpcAddress);
            await new FeatureRegistry.FeatureRegistryClient(channel).ApplyDefinitionsAsync(ServingDefinitions.Request());
            await SeedAsync(new FeatureIngestion.FeatureIngestionClient(channel), 0, items, "s");
            await seeding.StopAsync();
        }

        await using var gateway = new GatewayProcess(temp.Path, "--FeatureStore:Entities:IdleTimeout=00:01:05", "--FeatureStore:Serving:WarmTierMiB=1024");
        await gateway.StartAsync(TimeSpan.FromMinutes(3));
        using var serving = GrpcChannel.ForAddress(gateway.GrpcAddress);
        using var http = new HttpClient { BaseAddress = gateway.HttpAddress };
        var client = new FeatureServing.FeatureServingClient(serving);
        var ingestion = new FeatureIngestion.FeatureIngestionClient(serving);

        // Activate 2N items (and the users), wait for them to go warm, then activate half again.
        await SeedAsync(ingestion, 0, 2 * warmItems, "w");
        var waited = Stopwatch.StartNew();
        while (await MetricAsync(http, "orleansfeatures_warm_entities") < 2 * warmItems)
        {
            if (waited.Elapsed > TimeSpan.FromMinutes(5))
            {
                throw new InvalidOperationException($"only {await MetricAsync(http, "orleansfeatures_warm_entities")} of {2 * warmItems} items went warm in 5 minutes");
            }

            await Task.Delay(TimeSpan.FromSeconds(2));
        }

        Console.WriteLine($"{2 * warmItems} items deactivated into the warm tier after {waited.Elapsed.TotalSeconds:0} s");
        await SeedAsync(ingestion, warmItems, 2 * warmItems, "a");
        // Every user read once, so the request path is warmed up; users are warm or active, as the items' events left them.
        for (var u = 0; u < Users; u++)
        {
            await LookupAsync(client, "user", $"u{u}", "bench_user:events_24h");
        }

        var measured = Stopwatch.StartNew();
        var activeSingle = new LongHistogram(TimeStamp.Seconds(10), 3);
        var warmSingle = new LongHistogram(TimeStamp.Seconds(10), 3);
        var random = new Random(3);
        var before = await CountersAsync(http);
        for (var i = 0; i < singles; i++)
        {
            activeSingle.RecordValue(await TimeAsync(() => LookupAsync(client, "item", $"i{warmItems + random.Next(warmItems)}")));
            warmSingle.RecordValue(await TimeAsync(() => LookupAsync(client, "item", $"i{random.Next(warmItems)}")));
        }

        var afterSingles = await CountersAsync(http);
        var coldSingle = new LongHistogram(TimeStamp.Seconds(10), 3);
        for (var i = 0; i < coldSingles; i++)
        {
            coldSingle.RecordValue(await TimeAsync(() => LookupAsync(client, "item", $"i{firstCold + i}")));
        }

        var afterCold = await CountersAsync(http);
        var mixed = new LongHistogram(TimeStamp.Seconds(10), 3);
        var warm = new LongHistogram(TimeStamp.Seconds(10), 3);
        var active = new LongHistogram(TimeStamp.Seconds(10), 3);
        var nextCold = firstCold + coldSingles;
        for (var r = 0; r < requests; r++)
        {
            var warmIds = Enumerable.Range(0, warmItems).OrderBy(_ => random.Next()).Take(rows).Select(i => $"i{i}").ToList();
            warm.RecordValue(await TimeAsync(() => InferAsync(client, $"u{r % Users}", warmIds)));
            var activeIds = Enumerable.Range(warmItems, warmItems).OrderBy(_ => random.Next()).Take(rows).Select(i => $"i{i}").ToList();
            active.RecordValue(await TimeAsync(() => InferAsync(client, $"u{r % Users}", activeIds)));
            var mixedIds = warmIds.Take(rows - coldPerRequest).Concat(Enumerable.Range(nextCold, coldPerRequest).Select(i => $"i{i}")).ToList();
            nextCold += coldPerRequest;
            mixed.RecordValue(await TimeAsync(() => InferAsync(client, $"u{r % Users}", mixedIds)));
        }

        var afterRows = await CountersAsync(http);
        Console.WriteLine();
        Console.WriteLine($"active, warm and cold reads: SQLite state, {items:N0} items x 20 features, sequential calls, {Environment.ProcessorCount} cores, measured in {measured.Elapsed.TotalSeconds:0} s");
        Console.WriteLine($"  {"call",-52} {"p50 ms",8} {"p99 ms",8} {"p99.9 ms",9} {"calls",6}");
        Row("single lookup, active (local index)", activeSingle);
        Row("single lookup, warm (read copy, no activation)", warmSingle);
        Row("single lookup, cold (SQLite read, no activation)", coldSingle);
        Row("100 rows x 20 features, all active", active);
        Row("100 rows x 20 features, all warm", warm);
        Row($"100 rows x 20 features, {coldPerRequest} cold + {rows - coldPerRequest} warm", mixed);
        Console.WriteLine($"  ratio warm/active single: p50 {Ratio(warmSingle, activeSingle, 50)}, p99 {Ratio(warmSingle, activeSingle, 99)}; cold/active single p99 {Ratio(coldSingle, activeSingle, 99)}");
        Console.WriteLine($"  ratio 100 rows {coldPerRequest} cold/all warm: p50 {Ratio(mixed, warm, 50)}, p99 {Ratio(mixed, warm, 99)}; all warm/all active p99 {Ratio(warm, active, 99)}");
        Console.WriteLine($"  entity reads by path (gateway counters): singles {Delta(before, afterSingles)}; cold singles {Delta(afterSingles, afterCold)}; rows {Delta(afterCold, afterRows)}");
    }

    private static readonly string[] Counters =
    [
        "orleansfeatures_entity_reads_local", "orleansfeatures_warm_reads", "orleansfeatures_entity_reads_cold_storage", "orleansfeatures_entity_reads_grain_call",
    ];

    private static async Task<double[]> CountersAsync(HttpClient http)
    {
        var values = new double[Counters.Length];
        for (var c = 0; c < Counters.Length; c++)
        {
            values[c] = await MetricAsync(http, Counters[c]);
        }

        return values;
    }

    private static string Delta(double[] before, double[] after) =>
        string.Create(CultureInfo.InvariantCulture, $"local {after[0] - before[0]:0} (of which warm {after[1] - before[1]:0}), cold from storage {after[2] - before[2]:0}, grain calls {after[3] - before[3]:0}");

    /// <summary>The sum of a metric's samples in the gateway's Prometheus text (0 when absent).</summary>
    private static async Task<double> MetricAsync(HttpClient http, string name) =>
        PrometheusText.Sum(await http.GetStringAsync("metrics"), name);

    private static void Row(string name, LongHistogram histogram) =>
        Console.WriteLine($"  {name,-52} {Ms(histogram, 50),8} {Ms(histogram, 99),8} {Ms(histogram, 99.9),9} {histogram.TotalCount,6}");

    private static string Ms(LongHistogram h, double percentile) =>
        (h.GetValueAtPercentile(percentile) * 1000.0 / Stopwatch.Frequency).ToString("0.000", CultureInfo.InvariantCulture);

    private static string Ratio(LongHistogram a, LongHistogram b, double percentile) =>
        string.Create(CultureInfo.InvariantCulture, $"{(double)a.GetValueAtPercentile(percentile) / b.GetValueAtPercentile(percentile):0.0}x");

    private static async Task<long> TimeAsync(Func<Task> call)
    {
        var started = Stopwatch.GetTimestamp();
        await call();
        return Stopwatch.GetTimestamp() - started;
    }

    private static async Task LookupAsync(FeatureServing.FeatureServingClient client, string type, string id, string? feature = null)
    {
        var request = new GetOnlineFeaturesRequest { EntityType = type, EntityIds = { id } };
        if (feature is null)
        {
            request.FeatureService = ServingDefinitions.ItemService;
        }
        else
        {
            request.Features = new FeatureReferences { References = { feature } };
        }

        var response = await client.GetOnlineFeaturesAsync(request);
        if (response.Entities[0].Values.All(v => v.Status != FeatureStatus.Present))
        {
            throw new InvalidOperationException($"{type} {id}: no feature present; its state did not load");
        }
    }

    private static async Task InferAsync(FeatureServing.FeatureServingClient client, string user, List<string> items)
    {
        var response = await client.GetInferenceInputsAsync(new GetInferenceInputsRequest
        {
            FeatureService = ServingDefinitions.RankerService,
            Entities = { new EntityKeyColumn { EntityType = "user", Ids = { user } }, new EntityKeyColumn { EntityType = "item", Ids = { items } } },
        });
        if (response.RowCount != items.Count)
        {
            throw new InvalidOperationException($"{response.RowCount} rows for {items.Count} items");
        }
    }

    // Each item of [from, to) gets two events (a view and a click within the hour), each user many.
    private static async Task SeedAsync(FeatureIngestion.FeatureIngestionClient ingestion, int from, int to, string prefix)
    {
        var started = Stopwatch.GetTimestamp();
        var now = DateTimeOffset.UtcNow;
        var events = 0;
        for (var first = from; first < to; first += 500)
        {
            var push = new PushEventsRequest { Source = ServingDefinitions.Source };
            for (var i = first; i < Math.Min(to, first + 500); i++)
            {
                for (var e = 0; e < 2; e++)
                {
                    var ev = new Event { EventId = $"{prefix}{i}-{e}", EventTime = Timestamp.FromDateTimeOffset(now.AddMinutes(-(e * 20) - 1)) };
                    ev.Fields["user_id"] = new Value { StringValue = $"u{i % Users}" };
                    ev.Fields["item_id"] = new Value { StringValue = $"i{i}" };
                    ev.Fields["kind"] = new Value { StringValue = e == 0 ? "view" : "click" };
                    ev.Fields["value"] = new Value { DoubleValue = i % 100 };
                    ev.Fields["flag"] = new Value { BoolValue = i % 2 == 0 };
                    push.Events.Add(ev);
                }
            }

            var result = await ingestion.PushEventsAsync(push);
            if (result.Accepted != push.Events.Count)
            {
                throw new InvalidOperationException($"seeding: {result.Accepted} of {push.Events.Count} accepted");
            }

            events += push.Events.Count;
        }

        Console.WriteLine($"pushed {events} events onto {to - from} items and {Users} users in {Stopwatch.GetElapsedTime(started).TotalSeconds:0.0} s");
    }
}
