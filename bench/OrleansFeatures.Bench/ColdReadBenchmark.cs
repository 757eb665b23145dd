using System.Diagnostics;
using System.Globalization;
using Grpc.Net.Client;
using HdrHistogram;
using OrleansFeatures.TestInfrastructure;
using OrleansFeatures.V1;
using Timestamp = Google.Protobuf.WellKnownTypes.Timestamp;

/// <summary>
/// Lookups of entities that are not active: their state is in storage (SQLite, embedded mode) and the lookup
/// activates the grain, which reads and restores it. The Release gateway is seeded, stopped and started again on the
/// same data, so every entity starts cold; then, sequentially, in the same run: cold single lookups (each item read
/// for the first time) beside warm ones (the same items again), and 100-row inference requests (one user, 100 items)
/// where a fraction of the items are cold, alternated with all-warm requests.
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
        var items = singles + (requests * coldPerRequest);
        using var temp = new TempDirectory("orleansfeatures-bench-cold");
        await using (var seeding = new GatewayProcess(temp.Path))
        {
            await seeding.StartAsync();
            using var channel = GrpcChannel.ForAddress(seeding.GrpcAddress);
            await new FeatureRegistry.FeatureRegistryClient(channel).ApplyDefinitionsAsync(ServingDefinitions.Request());
            await SeedAsync(new FeatureIngestion.FeatureIngestionClient(channel), items);
            await seeding.StopAsync();
        }

        await using var gateway = new GatewayProcess(temp.Path);
        await gateway.StartAsync();
        using var serving = GrpcChannel.ForAddress(gateway.GrpcAddress);
        var client = new FeatureServing.FeatureServingClient(serving);

        // Users and the GetInferenceInputs path warm (every request reads one user); items untouched.
        for (var u = 0; u < Users; u++)
        {
            await LookupAsync(client, "user", $"u{u}", "bench_user:events_24h");
        }

        var coldSingle = new LongHistogram(TimeStamp.Seconds(10), 3);
        var warmSingle = new LongHistogram(TimeStamp.Seconds(10), 3);
        for (var i = 0; i < singles; i++)
        {
            coldSingle.RecordValue(await TimeAsync(() => LookupAsync(client, "item", $"i{i}")));
            warmSingle.RecordValue(await TimeAsync(() => LookupAsync(client, "item", $"i{Random.Shared.Next(i + 1)}")));
        }

        // Rows: warm items are the ones the single lookups activated; cold ones are read for the first time.
        var mixed = new LongHistogram(TimeStamp.Seconds(10), 3);
        var warm = new LongHistogram(TimeStamp.Seconds(10), 3);
        var nextCold = singles;
        var random = new Random(3);
        for (var r = 0; r < requests; r++)
        {
            var warmIds = Enumerable.Range(0, singles).OrderBy(_ => random.Next()).Take(rows).Select(i => $"i{i}").ToList();
            warm.RecordValue(await TimeAsync(() => InferAsync(client, $"u{r % Users}", warmIds)));
            var mixedIds = warmIds.Take(rows - coldPerRequest).Concat(Enumerable.Range(nextCold, coldPerRequest).Select(i => $"i{i}")).ToList();
            nextCold += coldPerRequest;
            mixed.RecordValue(await TimeAsync(() => InferAsync(client, $"u{r % Users}", mixedIds)));
        }

        Console.WriteLine();
        Console.WriteLine($"cold reads: SQLite state, gateway restarted on it, {items:N0} items x 20 features, sequential calls, {Environment.ProcessorCount} cores");
        Console.WriteLine($"  {"call",-52} {"p50 ms",8} {"p99 ms",8} {"p99.9 ms",9} {"calls",6}");
        Row($"single lookup, warm (active on the gateway)", warmSingle);
        Row($"single lookup, cold (activates, reads storage)", coldSingle);
        Row($"100 rows x 20 features, all warm", warm);
        Row($"100 rows x 20 features, {coldPerRequest} cold + {rows - coldPerRequest} warm", mixed);
        Console.WriteLine($"  ratio cold/warm: single p50 {Ratio(coldSingle, warmSingle, 50)}, p99 {Ratio(coldSingle, warmSingle, 99)}; 100 rows p50 {Ratio(mixed, warm, 50)}, p99 {Ratio(mixed, warm, 99)}");
    }

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

    // Each item gets two events (a view and a click within the hour), each user many.
    private static async Task SeedAsync(FeatureIngestion.FeatureIngestionClient ingestion, int items)
    {
        var started = Stopwatch.GetTimestamp();
        var now = DateTimeOffset.UtcNow;
        var events = 0;
        for (var first = 0; first < items; first += 500)
        {
            var push = new PushEventsRequest { Source = ServingDefinitions.Source };
            for (var i = first; i < Math.Min(items, first + 500); i++)
            {
                for (var e = 0; e < 2; e++)
                {
                    var ev = new Event { EventId = $"s{i}-{e}", EventTime = Timestamp.FromDateTimeOffset(now.AddMinutes(-(e * 20) - 1)) };
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

        Console.WriteLine($"seeded {events} events onto {items} items and {Users} users in {Stopwatch.GetElapsedTime(started).TotalSeconds:0.0} s");
    }
}
