using System.Diagnostics;
using System.Globalization;
using System.Text;
using Confluent.Kafka;
using HdrHistogram;
using OrleansFeatures.Client;
using OrleansFeatures.TestInfrastructure;
using OrleansFeatures.V1;

/// <summary>
/// Serving while ingesting, in one run (#22): single 20-feature lookups and 100-item inference inputs at fixed rates,
/// first idle, then while the same gateway ingests the served entities' own source from Kafka (librdkafka's mock
/// cluster, set up as <see cref="KafkaIngestBenchmark"/> does) at 25%, 50% and 100% of the durable rate it sustains,
/// which the run measures first. Prints latency against the idle phase, durable events/s and freshness per phase.
/// </summary>
internal static class ServingUnderIngestBenchmark
{
    private const string Topic = ServingDefinitions.Source;
    private const int Items = ServingBenchmark.Items;
    private const int Users = ServingBenchmark.Users;
    private const string LocalReads = "orleansfeatures_entity_reads_local_total";
    private const string GrainCallReads = "orleansfeatures_entity_reads_grain_call_total";

    public static async Task RunAsync(string[] args)
    {
        var seconds = Option(args, "--seconds", 8);
        var lookupRate = Option(args, "--lookup-rate", 200);
        var inferenceRate = Option(args, "--inference-rate", 20);
        var seedEvents = Option(args, "--seed-events", 20_000);
        var sustainEvents = Option(args, "--sustain-events", 60_000);
        var fractions = OptionText(args, "--fractions", "0.25,0.5,1").Split(',').Select(f => double.Parse(f, CultureInfo.InvariantCulture)).ToArray();
        var duration = TimeSpan.FromSeconds(seconds);

        using var cancel = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            // The first Ctrl+C stops after the step in progress and still stops the gateway; a second one kills.
            e.Cancel = !cancel.IsCancellationRequested;
            Log("cancelling: stopping after the current step");
            cancel.Cancel();
        };
        var token = cancel.Token;
        var run = Stopwatch.StartNew();
        // --trace DIR: a wall-clock record of every call, of this process and of the gateway (bench/stall-trace.py reads it).
        var traceDirectory = OptionText(args, "--trace", "");
        using var trace = traceDirectory.Length == 0 ? null : new ClientStallTrace(Path.GetFullPath(traceDirectory));
        var loadAtStart = LoadAverage();

        using var kafka = new MockKafkaCluster();
        // The topic must exist when the gateway starts (its partitions become Orleans queues): the seed events create it.
        var produced = 0;
        Log($"producing {seedEvents} seed events onto {Items} items and {Users} users to '{Topic}' (mock cluster)");
        ProduceRange(kafka, 0, seedEvents);
        produced += seedEvents;

        using var temp = new TempDirectory("orleansfeatures-bench-serving-under-ingest");
        string[] gatewayArgs = [
            .. KafkaIngestBenchmark.GatewayArgs(kafka, Topic, args),
            .. trace is null ? [] : new[] { $"--FeatureStore:Diagnostics:StallTraceDirectory={Path.GetFullPath(traceDirectory)}" },
        ];
        await using var gateway = new GatewayProcess(temp.Path, gatewayArgs);
        Log("starting gateway");
        // A shared, busy machine can take more than the default minute to bring a silo up.
        await gateway.StartAsync(TimeSpan.FromMinutes(3));
        using var serving = BenchClient.For(gateway.GrpcAddress);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{gateway.HttpPort}") };
        var clock = Stopwatch.StartNew();
        await new FeatureRegistry.FeatureRegistryClient(serving.CallInvoker).ApplyDefinitionsAsync(ServingDefinitions.Request(), cancellationToken: token);
        await WaitForCommittedAsync(kafka, produced, clock, token);
        Log($"seed events durable in {clock.Elapsed.TotalSeconds:0.0} s");

        // The durable rate this gateway sustains: a backlog produced at once, from its first produce to its last commit.
        clock.Restart();
        await KafkaIngestBenchmark.OnOwnThreadAsync(() => ProduceRange(kafka, produced, sustainEvents));
        produced += sustainEvents;
        var sustainSeconds = (await WaitForCommittedAsync(kafka, produced, clock, token)).TotalSeconds;
        var sustained = sustainEvents / sustainSeconds;
        Log($"sustained: {sustainEvents} events durable in {sustainSeconds:0.0} s = {sustained:0} events/s");

        var lookups = ServingBenchmark.LookupRequests();
        var inference = ServingBenchmark.InferenceRequests(100);
        Func<int, Task> lookup = async i => await serving.GetOnlineFeaturesAsync(lookups[i % lookups.Length], cancellationToken: token);
        Func<int, Task> infer = async i => await serving.GetInferenceInputsAsync(inference[i % inference.Length], cancellationToken: token);
        Log("warming the serving paths up (3 s)");
        await Task.WhenAll(LoadRunner.ClosedAsync(lookup, 4, TimeSpan.FromSeconds(3)), LoadRunner.ClosedAsync(infer, 2, TimeSpan.FromSeconds(3)));

        var phases = new List<PhaseResult>();
        foreach (var fraction in (double[])[0, .. fractions])
        {
            token.ThrowIfCancellationRequested();
            var rate = (int)Math.Round(fraction * sustained);
            var name = fraction == 0 ? "idle" : string.Create(CultureInfo.InvariantCulture, $"ingest {fraction * 100:0}%");
            Log($"{name}: lookups {lookupRate}/s and 100-item inference {inferenceRate}/s for {seconds} s{(rate > 0 ? $", producing {rate} events/s" : "")}");
            if (trace is not null)
            {
                trace.Phase = name.Replace(' ', '_');
            }

            phases.Add(await PhaseAsync(kafka, gateway, serving, http, name, rate, produced, duration, lookup, lookupRate, infer, inferenceRate, token, trace));
            produced += phases[^1].Events;
        }

        Print(phases, sustained, seconds, lookupRate, inferenceRate, run.Elapsed, loadAtStart);
    }

    private sealed record PhaseResult(
        string Name, int OfferedRate, int Events, double DurableRate, LoadResult Lookups, LoadResult Inference, LongHistogram Freshness, double GatewayCores, double LocalReadShare);

    // One phase: the two request loads at fixed rates for the phase's duration while a producer offers events at
    // `rate` and a probe measures freshness (one event for a new item at a time, through the same topic, so it
    // queues behind whatever its partition holds). The durable rate is timed from the first produce to the last commit.
    private static async Task<PhaseResult> PhaseAsync(
        MockKafkaCluster kafka, GatewayProcess gateway, FeatureStoreClient serving, HttpClient http, string name, int rate, int producedBefore, TimeSpan duration,
        Func<int, Task> lookup, int lookupRate, Func<int, Task> infer, int inferenceRate, CancellationToken token, ClientStallTrace? trace = null)
    {
        var localBefore = await KafkaIngestBenchmark.MetricSumAsync(http, LocalReads);
        var grainCallsBefore = await KafkaIngestBenchmark.MetricSumAsync(http, GrainCallReads);
        var clock = Stopwatch.StartNew();
        var cpuBefore = gateway.CpuTime;
        var events = rate * (int)duration.TotalSeconds;
        var producedNow = 0;
        var probes = 0;
        var freshness = new LongHistogram(TimeStamp.Seconds(60), 3);
        using var probing = CancellationTokenSource.CreateLinkedTokenSource(token);
        var probeTask = ProbeLoopAsync(kafka, serving, freshness, () => Interlocked.Increment(ref probes), probing.Token);
        var producer = rate == 0
            ? Task.CompletedTask
            : KafkaIngestBenchmark.OnOwnThreadAsync(() => KafkaIngestBenchmark.ProducePaced(
                kafka.Producer, events, rate, i => ProduceOne(kafka, producedBefore + i), count => Volatile.Write(ref producedNow, count), token));
        var lookups = LoadRunner.OpenAsync(lookup, lookupRate, duration, token, trace?.For("L"));
        var inference = LoadRunner.OpenAsync(infer, inferenceRate, duration, token, trace?.For("I"));
        await Task.WhenAll(lookups, inference, producer);
        var cores = (gateway.CpuTime - cpuBefore).TotalSeconds / clock.Elapsed.TotalSeconds;
        // Entities read from the silo's memory rather than by a grain call (one whose state is ahead of storage is read by its grain).
        var local = await KafkaIngestBenchmark.MetricSumAsync(http, LocalReads) - localBefore;
        var localShare = local / Math.Max(1, local + await KafkaIngestBenchmark.MetricSumAsync(http, GrainCallReads) - grainCallsBefore);
        await probing.CancelAsync();
        await probeTask;
        var produced = Volatile.Read(ref producedNow) + Volatile.Read(ref probes);
        var durableSeconds = (await WaitForCommittedAsync(kafka, producedBefore + produced, clock, token)).TotalSeconds;
        var result = new PhaseResult(name, rate, produced, produced / durableSeconds, await lookups, await inference, freshness, cores, localShare);
        Log($"{name} done: lookup p99 {result.Lookups.Milliseconds(99):0.00} ms, inference p99 {result.Inference.Milliseconds(99):0.00} ms, " +
            $"{produced} events durable {durableSeconds:0.0} s after the first produce");
        return result;
    }

    private static async Task ProbeLoopAsync(MockKafkaCluster kafka, FeatureStoreClient serving, LongHistogram freshness, Action produced, CancellationToken token)
    {
        try
        {
            while (!token.IsCancellationRequested)
            {
                var id = $"fresh-{Guid.NewGuid():N}";
                var request = new GetOnlineFeaturesRequest { EntityType = "item", EntityIds = { id }, Features = new FeatureReferences { References = { "bench_item:clicks_5m" } } };
                var started = Stopwatch.GetTimestamp();
                await kafka.ProduceJsonAsync(Topic, id, EventJson($"probe-{id}", "u0", id, "click"));
                produced();
                while ((await serving.GetOnlineFeaturesAsync(request, cancellationToken: token)).Entities[0].Values[0].Value.Int64Value < 1)
                {
                    await Task.Delay(5, token);
                }

                freshness.RecordValue(Stopwatch.GetTimestamp() - started);
                await Task.Delay(50, token);
            }
        }
        catch (Exception e) when (e is OperationCanceledException || (e is Grpc.Core.RpcException && token.IsCancellationRequested))
        {
            // Stopping abandons the probe in flight; its event was produced and counted.
        }
    }

    private static void Print(List<PhaseResult> phases, double sustained, int seconds, int lookupRate, int inferenceRate, TimeSpan elapsed, string loadAtStart)
    {
        var idle = phases[0];
        Console.WriteLine();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"serving under ingestion on {Environment.ProcessorCount} cores ({DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, 1-minute load average {loadAtStart} at the start, {LoadAverage()} at the end): {Items} items x 20 features, {Users} users; " +
            $"{seconds} s per phase; lookups 1 x 20 at {lookupRate}/s, inference 100 rows x 20 at {inferenceRate}/s; sustained rate {sustained:0} events/s durable; run took {elapsed.TotalSeconds:0} s"));
        Console.WriteLine($"{"phase",-11} {"offered/s",9} {"durable/s",9} {"gw cores",8} {"us/event",8} {"local",5} | {"lookup p50",10} {"p99",7} {"p99.9",7} {"x idle p50/p99/p99.9",20} {"err",3} | {"infer p50",9} {"p99",7} {"p99.9",7} {"x idle p50/p99/p99.9",20} {"err",3} | {"fresh p50",9} {"p99",7}");
        foreach (var p in phases)
        {
            // Gateway CPU per event: what the phase used beyond the idle phase's serving, over the events it made durable.
            var perEvent = p.OfferedRate == 0 ? "-" : ((p.GatewayCores - idle.GatewayCores) * seconds * 1e6 / p.Events).ToString("0", CultureInfo.InvariantCulture);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{p.Name,-11} {p.OfferedRate,9} {(p.OfferedRate == 0 ? "-" : p.DurableRate.ToString("0", CultureInfo.InvariantCulture)),9} {p.GatewayCores,8:0.00} {perEvent,8} {p.LocalReadShare,5:P0} | " +
                $"{p.Lookups.Milliseconds(50),10:0.00} {p.Lookups.Milliseconds(99),7:0.00} {p.Lookups.Milliseconds(99.9),7:0.00} {Ratios(p.Lookups, idle.Lookups),20} {p.Lookups.Errors,3} | " +
                $"{p.Inference.Milliseconds(50),9:0.00} {p.Inference.Milliseconds(99),7:0.00} {p.Inference.Milliseconds(99.9),7:0.00} {Ratios(p.Inference, idle.Inference),20} {p.Inference.Errors,3} | " +
                $"{Ms(p.Freshness, 50),9} {Ms(p.Freshness, 99),7}"));
        }

        Console.WriteLine("latencies in ms, measured from each call's scheduled start (open loop); durable/s: the phase's events from its first produce to its last commit;");
        Console.WriteLine("local: entity reads served from the silo's memory, not by a grain call; freshness: topic -> servable of one probe event at a time (idle: the probes alone)");
        Console.WriteLine("targets (#22): p99 at 50% <= 2x idle, at 100% <= 3x idle; freshness p99 < 250 ms at 50%");
    }

    private static string Ratios(LoadResult phase, LoadResult idle) => string.Create(CultureInfo.InvariantCulture,
        $"{phase.Milliseconds(50) / idle.Milliseconds(50):0.0}/{phase.Milliseconds(99) / idle.Milliseconds(99):0.0}/{phase.Milliseconds(99.9) / idle.Milliseconds(99.9):0.0}");

    private static Task<TimeSpan> WaitForCommittedAsync(MockKafkaCluster kafka, int events, Stopwatch clock, CancellationToken token) =>
        KafkaIngestBenchmark.WaitForCommittedAsync(kafka.BootstrapServers, "bench", Topic, events, clock, TimeSpan.FromMinutes(5), token);

    private static void ProduceRange(MockKafkaCluster kafka, int from, int count)
    {
        for (var i = from; i < from + count; i++)
        {
            ProduceOne(kafka, i);
            if (i % 10_000 == 0)
            {
                kafka.Producer.Poll(TimeSpan.Zero);
            }
        }

        kafka.Producer.Flush(TimeSpan.FromMinutes(2));
    }

    // Event i: item i mod Items (every item in turn), a random-looking user, mostly views; event time is now, as live traffic.
    private static void ProduceOne(MockKafkaCluster kafka, int i)
    {
        var item = $"i{i % Items}";
        var json = EventJson($"k{i}", $"u{(i * 7919) % Users}", item, (i % 10) switch { 0 => "click", 1 => "share", _ => "view" });
        kafka.Producer.Produce(Topic, new Message<byte[]?, byte[]?> { Key = Encoding.UTF8.GetBytes(item), Value = Encoding.UTF8.GetBytes(json) });
    }

    private static string EventJson(string eventId, string user, string item, string kind) => string.Create(CultureInfo.InvariantCulture,
        $$"""{"event_id":"{{eventId}}","ts":{{DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()}},"user_id":"{{user}}","item_id":"{{item}}","kind":"{{kind}}","value":{{eventId.Length % 100}}.5,"flag":true}""");

    private static string LoadAverage()
    {
        try
        {
            return File.ReadAllText("/proc/loadavg").Split(' ')[0];
        }
        catch (IOException)
        {
            return "n/a";
        }
    }

    private static void Log(string message) => Console.WriteLine($"[{DateTime.UtcNow:HH:mm:ss}] {message}");

    private static string Ms(LongHistogram h, double percentile) =>
        h.TotalCount == 0 ? "n/a" : (h.GetValueAtPercentile(percentile) * 1000.0 / Stopwatch.Frequency).ToString("0.0", CultureInfo.InvariantCulture);

    private static int Option(string[] args, string name, int fallback) =>
        int.Parse(OptionText(args, name, fallback.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture);

    private static string OptionText(string[] args, string name, string fallback)
    {
        var at = Array.IndexOf(args, name);
        return at >= 0 && at + 1 < args.Length ? args[at + 1] : fallback;
    }
}
