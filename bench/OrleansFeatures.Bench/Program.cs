using System.Diagnostics;
using System.Globalization;
using Timestamp = Google.Protobuf.WellKnownTypes.Timestamp;
using Grpc.Health.V1;
using HdrHistogram;
using OrleansFeatures.TestInfrastructure;
using OrleansFeatures.V1;

// Lookup latency against its physical floor: the gateway runs as its own process (Release build) on loopback,
// and the same client measures a no-op call (grpc.health.v1 Check, answered from a cache) and single-entity
// lookups through the same server, interleaved in rounds so machine noise hits both alike.
// Usage: dotnet run -c Release --project bench/OrleansFeatures.Bench [-- lookup [--calls 10000] | kafka [--events 200000] [--users 10000] [--cold N] [--warmup N] [--timeline] | serving [--seconds 5] | serving-under-ingest [--seconds 8] [--lookup-rate 200] [--inference-rate 20] [--seed-events 20000] [--sustain-events 60000] [--fractions 0.25,0.5,1] | eventhubs [--rate 5000] [--seconds 10] [--users 1000] | storage [--writes 60000] [--entities 10000] [--writers 1000] [--bytes 1600] | push [--users 10000] [--requests 200] | azure [--users 2000] [--requests 24] | auth [--calls 5000] | soak [--minutes 10] [--users 10000] | memory [--entities 100000,250000] [--events 4] | million [--entities 1000000] [--active 0.1] [--lookups 200000] [--zipf 1.0] | aggregations [--entities 2000] [--events-per-entity 200] [--rounds 5] | cold [--singles 2000] [--requests 200] [--cold-fraction 0.1] | training-shards [--events 1000000] [--users 100000] [--rows 100000] [--shards 8] [--rounds 2]]
if (args.Length > 0 && args[0] == "training-shards")
{
    await OrleansFeatures.Bench.ShardedTrainingSetBenchmark.RunAsync(args);
    return;
}

if (args.Length > 0 && args[0] == "serving")
{
    await ServingBenchmark.RunAsync(args);
    return;
}

if (args.Length > 0 && args[0] == "serving-under-ingest")
{
    await ServingUnderIngestBenchmark.RunAsync(args);
    return;
}

if (args.Length > 0 && args[0] == "aggregations")
{
    await AggregationCostBenchmark.RunAsync(args);
    return;
}

if (args.Length > 0 && args[0] == "memory")
{
    await MemoryBenchmark.RunAsync(args);
    return;
}

if (args.Length > 0 && args[0] == "million")
{
    await MillionBenchmark.RunAsync(args);
    return;
}

if (args.Length > 0 && args[0] == "cold")
{
    await ColdReadBenchmark.RunAsync(args);
    return;
}

if (args.Length > 0 && args[0] == "redis-baseline-server")
{
    await RedisBaselineServer.RunAsync(args);
    return;
}

if (args.Length > 0 && args[0] == "storage")
{
    await StorageBenchmark.RunAsync(args);
    return;
}

if (args.Length > 0 && args[0] == "soak")
{
    await SoakBenchmark.RunAsync(args);
    return;
}

if (args.Length > 0 && args[0] == "azure")
{
    await StorageModeBenchmark.RunAsync(args);
    return;
}

if (args.Length > 0 && args[0] == "push")
{
    await PushLoadBenchmark.RunAsync(args);
    return;
}

if (args.Length > 0 && args[0] == "auth")
{
    await AuthOverheadBenchmark.RunAsync(args);
    return;
}

if (args.Length > 0 && args[0] == "eventhubs")
{
    await StreamProviderBenchmark.RunAsync(args);
    return;
}

if (args.Length > 0 && args[0] == "kafka")
{
    await KafkaIngestBenchmark.RunAsync(args);
    return;
}

var calls = 10_000;
for (var i = 0; i < args.Length - 1; i++)
{
    if (args[i] == "--calls")
    {
        calls = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
    }
}

using var temp = new TempDirectory("orleansfeatures-bench");
await using var gateway = new GatewayProcess(temp.Path);
Console.WriteLine($"starting gateway ({GatewayProcess.GatewayDll})");
await gateway.StartAsync();
using var client = BenchClient.For(gateway.GrpcAddress);
var registry = new FeatureRegistry.FeatureRegistryClient(client.CallInvoker);
var health = new Health.HealthClient(client.CallInvoker);

var apply = await ExampleDefinitions.RequestAsync();

await registry.ApplyDefinitionsAsync(apply);
var users = 1_000;
var now = DateTimeOffset.UtcNow;
var random = new Random(7);
string[] kinds = ["view", "click", "share", "bet"];
string[] types = ["article", "video", "live_game"];
for (var batch = 0; batch < 20; batch++)
{
    var push = new PushEventsRequest { Source = "engagement-events" };
    for (var j = 0; j < 1_000; j++)
    {
        var e = new Event { EventId = $"b{batch}-{j}", EventTime = Timestamp.FromDateTimeOffset(now.AddSeconds(-random.Next(3_600))) };
        e.Fields["user_id"] = new Value { StringValue = $"u{random.Next(users)}" };
        e.Fields["content_id"] = new Value { StringValue = $"c{random.Next(200)}" };
        e.Fields["content_type"] = new Value { StringValue = types[random.Next(types.Length)] };
        e.Fields["kind"] = new Value { StringValue = kinds[random.Next(kinds.Length)] };
        e.Fields["sport"] = new Value { StringValue = "football" };
        e.Fields["watch_seconds"] = new Value { DoubleValue = random.Next(600) };
        push.Events.Add(e);
    }

    var result = await client.PushEventsAsync(push);
    if (result.Accepted != push.Events.Count)
    {
        throw new InvalidOperationException($"seeding: {result.Accepted} of {push.Events.Count} accepted; first reason: {result.Results.FirstOrDefault(r => r.Reason.Length > 0)?.Reason}");
    }
}

var lookupHistogram = new LongHistogram(TimeStamp.Seconds(10), 3);
var noopHistogram = new LongHistogram(TimeStamp.Seconds(10), 3);
var featureCount = 0;
async Task LookupAsync(int i, LongHistogram? histogram)
{
    var request = new GetOnlineFeaturesRequest { EntityType = "user", FeatureService = "ranker_v3" };
    request.EntityIds.Add($"u{i % users}");
    var started = Stopwatch.GetTimestamp();
    var response = await client.GetOnlineFeaturesAsync(request);
    histogram?.RecordValue(Stopwatch.GetTimestamp() - started);
    featureCount = response.FeatureNames.Count;
}

async Task NoopAsync(LongHistogram? histogram)
{
    var started = Stopwatch.GetTimestamp();
    await health.CheckAsync(new HealthCheckRequest());
    histogram?.RecordValue(Stopwatch.GetTimestamp() - started);
}

for (var i = 0; i < 2_000; i++)
{
    await LookupAsync(i, null);
    await NoopAsync(null);
}

var rounds = 10;
var lookupElapsed = TimeSpan.Zero;
var noopElapsed = TimeSpan.Zero;
for (var round = 0; round < rounds; round++)
{
    var start = Stopwatch.GetTimestamp();
    for (var i = 0; i < calls / rounds; i++)
    {
        await NoopAsync(noopHistogram);
    }

    noopElapsed += Stopwatch.GetElapsedTime(start);
    start = Stopwatch.GetTimestamp();
    for (var i = 0; i < calls / rounds; i++)
    {
        await LookupAsync((round * calls) + i, lookupHistogram);
    }

    lookupElapsed += Stopwatch.GetElapsedTime(start);
}

static string Ms(LongHistogram h, double percentile) =>
    (h.GetValueAtPercentile(percentile) * 1000.0 / Stopwatch.Frequency).ToString("0.000", CultureInfo.InvariantCulture);

Console.WriteLine();
Console.WriteLine($"sequential calls on loopback, {calls} each, one client, gateway in its own process, {Environment.ProcessorCount} cores");
Console.WriteLine($"{"call",-44} {"p50 ms",8} {"p99 ms",8} {"p99.9 ms",9} {"calls/s",9}");
Console.WriteLine($"{"no-op (grpc.health.v1 Check, cached)",-44} {Ms(noopHistogram, 50),8} {Ms(noopHistogram, 99),8} {Ms(noopHistogram, 99.9),9} {calls / noopElapsed.TotalSeconds,9:0}");
Console.WriteLine($"{$"lookup: 1 user x {featureCount} features (ranker_v3)",-44} {Ms(lookupHistogram, 50),8} {Ms(lookupHistogram, 99),8} {Ms(lookupHistogram, 99.9),9} {calls / lookupElapsed.TotalSeconds,9:0}");
Console.WriteLine($"ratio lookup/no-op: p50 {(double)lookupHistogram.GetValueAtPercentile(50) / noopHistogram.GetValueAtPercentile(50):0.00}x, " +
    $"p99 {(double)lookupHistogram.GetValueAtPercentile(99) / noopHistogram.GetValueAtPercentile(99):0.00}x, " +
    $"throughput {noopElapsed.TotalSeconds / lookupElapsed.TotalSeconds:0.00}x");
