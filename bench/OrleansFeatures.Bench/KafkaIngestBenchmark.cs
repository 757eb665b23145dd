using System.Diagnostics;
using System.Globalization;
using System.Text;
using Confluent.Kafka;
using HdrHistogram;
using OrleansFeatures.Client;
using OrleansFeatures.TestInfrastructure;
using OrleansFeatures.V1;

/// <summary>
/// Topic → durable grain state throughput and event-to-servable freshness, against baselines in the same run:
/// a bare librdkafka consumer reading the same topic (the floor for throughput) and the push API (freshness).
/// </summary>
internal static class KafkaIngestBenchmark
{
    private const string Topic = "engagement-events";
    private const int Partitions = 4;

    private const string JitSeconds = "dotnet_jit_compilation_time_seconds_total";

    public static async Task RunAsync(string[] args)
    {
        var events = 200_000;
        var users = 10_000;
        int? coldArg = null;
        int? warmupArg = null;
        var warmupRounds = 1;
        int? rate = null;
        var seconds = 10;
        var timeline = args.Contains("--timeline");
        for (var i = 1; i < args.Length - 1; i++)
        {
            if (args[i] == "--events") events = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
            if (args[i] == "--users") users = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
            if (args[i] == "--cold") coldArg = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
            if (args[i] == "--warmup") warmupArg = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
            if (args[i] == "--warmup-rounds") warmupRounds = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
            if (args[i] == "--rate") rate = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
            if (args[i] == "--seconds") seconds = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
        }

        // Cold phase: enough events that every entity is activated and stored (two per user by default). Warm-up:
        // a backlog onto those entities that is not measured, so the JIT has tiered the hot paths up (measured right
        // after the cold phase, half the time went to code still in its first tiers). Measured: the rest, produced
        // at once while the store runs, onto entities already in memory: the steady state.
        var cold = Math.Min(coldArg ?? (2 * users), events / 4);
        var warmup = Math.Min(warmupArg ?? (events / 5), events / 4);
        // --rate: the measured phase is a steady stream at that rate for --seconds instead of one burst.
        var measured = rate is { } offered ? offered * seconds : events - cold - warmup;
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        using var kafka = new MockKafkaCluster();
        Console.WriteLine($"producing {cold} cold-phase events for {users} users to {Topic} (mock cluster, 4 partitions)");
        Produce(kafka, 0, cold, users, now);

        using var temp = new TempDirectory("orleansfeatures-bench-kafka");
        // Any --FeatureStore:... or --Logging:... argument goes to the gateway, e.g. --FeatureStore:Storage=Memory to take SQLite out.
        var gatewayArgs = GatewayArgs(kafka, Topic, args);
        // --gc-survival: the gateway records every GC (its stall trace's gateway-gcs.csv), and the warm phase's gen0
        // and gen1 collections are summarised: how much of what ingestion allocates outlives a gen0 GC.
        var gcTrace = args.FirstOrDefault(a => a.StartsWith(StallTraceArg, StringComparison.Ordinal))?[StallTraceArg.Length..];
        if (gcTrace is null && args.Contains("--gc-survival"))
        {
            gcTrace = Path.Combine(temp.Path, "stall-trace");
            Directory.CreateDirectory(gcTrace);
            gatewayArgs = [.. gatewayArgs, StallTraceArg + gcTrace];
        }

        await using var gateway = new GatewayProcess(temp.Path, gatewayArgs);
        await gateway.StartAsync();
        using var serving = BenchClient.For(gateway.GrpcAddress);
        var registry = new FeatureRegistry.FeatureRegistryClient(serving.CallInvoker);
        var ingestion = serving;
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{gateway.HttpPort}") };

        // Consumption starts when definitions exist: the clock starts at apply and stops when every offset is
        // committed, i.e. every event is in durable grain state.
        var apply = await ExampleDefinitions.RequestAsync();
        var clock = Stopwatch.StartNew();
        await registry.ApplyDefinitionsAsync(apply);
        var coldSeconds = (await WaitForCommittedOrDumpAsync(kafka, gateway, http, cold, clock)).TotalSeconds;
        Console.WriteLine($"cold phase done in {coldSeconds:0.0} s; warm-up: {warmupRounds} x {warmup} events onto active entities");

        // More rounds give the JIT longer to tier the hot paths up, but also give every entity more events: with the
        // de-duplication ids of the lateness window in every state write, that makes writes dearer (docs/benchmarks.md).
        var produced = cold;
        for (var round = 1; round <= warmupRounds; round++)
        {
            var jitBefore = await MetricSumAsync(http, JitSeconds);
            var cpuBefore = gateway.CpuTime;
            // Lookups run in the warm-up too, so the serving path is not compiled for the first time in the measured phase.
            using var warmupLookups = new CancellationTokenSource();
            var warmupLookupTask = LookupLoopAsync(serving, users, new LongHistogram(TimeStamp.Seconds(60), 3), warmupLookups.Token);
            clock.Restart();
            await ProduceOnOwnThreadAsync(kafka, produced, warmup, users, now);
            produced += warmup;
            var roundSeconds = (await WaitForCommittedOrDumpAsync(kafka, gateway, http, produced, clock)).TotalSeconds;
            await warmupLookups.CancelAsync();
            await warmupLookupTask;
            var jitShare = (await MetricSumAsync(http, JitSeconds) - jitBefore) / (gateway.CpuTime - cpuBefore).TotalSeconds;
            Console.WriteLine($"warm-up round {round}: {roundSeconds:0.0} s ({warmup / roundSeconds:0} events/s), JIT {jitShare:P0} of the gateway's CPU");
        }

        Console.WriteLine($"measured: {measured} events");

        // Warm phase: the clock starts before the first event is produced and stops when the last offset is
        // committed; the producer is far faster than the store, so the store works through a backlog throughout.
        using var sampling = new CancellationTokenSource();
        var baseline = await AcceptedAsync(http);
        var gcBefore = await MetricSumAsync(http, "dotnet_gc_pause_time_seconds_total");
        var gcCountBefore = await MetricSumAsync(http, "dotnet_gc_collections_total");
        var allocatedBefore = await MetricSumAsync(http, "dotnet_gc_heap_total_allocated_bytes_total");
        var jitBeforeWarm = await MetricSumAsync(http, JitSeconds);
        var writesBefore = await MetricSumAsync(http, "orleansfeatures_storage_commit_writes_sum");
        var commitsBefore = await MetricSumAsync(http, "orleansfeatures_storage_commit_writes_count");
        var gatewayCpuBefore = gateway.CpuTime;
        var warmFrom = DateTimeOffset.UtcNow;
        var benchCpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        clock.Restart();
        var samplerTask = timeline ? SampleAcceptedAsync(http, clock, sampling.Token) : Task.FromResult(new List<(TimeSpan At, double Accepted)>());
        // Serving while the store works through the backlog: one client looking up random users back to back.
        var lookupsUnderLoad = new LongHistogram(TimeStamp.Seconds(60), 3);
        var lookupTask = LookupLoopAsync(serving, users, lookupsUnderLoad, sampling.Token);
        var steady = rate is { } perSecond ? await SteadyStreamAsync(kafka, serving, produced, measured, users, now, perSecond) : null;
        if (steady is null)
        {
            await ProduceOnOwnThreadAsync(kafka, produced, measured, users, now);
        }

        // Probe events (steady stream only) are messages too, each feeding one user and one content item.
        var probeMessages = steady?.Probes ?? 0;
        produced += measured + probeMessages;
        var warmSeconds = (await WaitForCommittedOrDumpAsync(kafka, gateway, http, produced, clock)).TotalSeconds;
        steady?.StopSampling();
        var maxBacklog = steady is null ? 0 : await steady.MaxBacklogAsync();
        var gatewayCpu = (gateway.CpuTime - gatewayCpuBefore).TotalSeconds;
        var benchCpu = (Process.GetCurrentProcess().TotalProcessorTime - benchCpuBefore).TotalSeconds;
        var warmTo = DateTimeOffset.UtcNow;
        var gcPause = await MetricSumAsync(http, "dotnet_gc_pause_time_seconds_total") - gcBefore;
        var gcCount = await MetricSumAsync(http, "dotnet_gc_collections_total") - gcCountBefore;
        var allocated = await MetricSumAsync(http, "dotnet_gc_heap_total_allocated_bytes_total") - allocatedBefore;
        var jitWarm = await MetricSumAsync(http, JitSeconds) - jitBeforeWarm;
        // One state write per entity delivery (plus sealed de-duplication segments): how well pulls grouped events.
        var writes = await MetricSumAsync(http, "orleansfeatures_storage_commit_writes_sum") - writesBefore;
        var commits = await MetricSumAsync(http, "orleansfeatures_storage_commit_writes_count") - commitsBefore;
        await sampling.CancelAsync();
        await lookupTask;
        var samples = (await samplerTask).Select(s => (s.At, s.Accepted - baseline)).ToList();
        samples.Add((clock.Elapsed, await AcceptedAsync(http) - baseline));
        if (timeline)
        {
            var metrics = await http.GetStringAsync(new Uri("/metrics", UriKind.Relative));
            Console.WriteLine(string.Join('\n', metrics.Split('\n').Where(l => l.StartsWith("orleansfeatures_events_", StringComparison.Ordinal) || l.StartsWith("orleansfeatures_storage_", StringComparison.Ordinal))));
            // Gaps between samples show the store too busy to answer /metrics (GC, long pulls).
            foreach (var (at, durable) in samples)
            {
                Console.WriteLine($"    {at.TotalSeconds,6:0.00} s: {durable,8:0} events durable");
            }
        }
        // Every message is one event (feeding one user and one content entity), all ids unique and inside the
        // lateness bound: the ingesters must have finished exactly as many events, or the figure measured lost work.
        var applied = await AcceptedAsync(http);
        for (var wait = Stopwatch.StartNew(); applied < produced && wait.Elapsed < TimeSpan.FromSeconds(10); applied = await AcceptedAsync(http))
        {
            await Task.Delay(200);
        }

        if (applied != produced)
        {
            // The mock broker keeps only the newest ~5 MB of a partition (a few hundred thousand events in all): a
            // backlog larger than that loses messages at the broker before the store reads them. The gateway counts
            // and logs such skipped offsets; the low watermarks show where the broker's log now starts.
            using (var probe = new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig { BootstrapServers = kafka.BootstrapServers, GroupId = "bench-probe" }).Build())
            {
                for (var p = 0; p < Partitions; p++)
                {
                    var marks = probe.QueryWatermarkOffsets(new TopicPartition(Topic, p), TimeSpan.FromSeconds(5));
                    Console.WriteLine($"  partition {p}: broker holds offsets {marks.Low.Value}..{marks.High.Value}");
                }
            }

            Console.WriteLine(string.Join('\n', gateway.Output.Split('\n').Where(l => l.Contains("never returned by the broker", StringComparison.Ordinal)).Take(10)));
            throw new InvalidOperationException($"the ingesters finished {applied} events, expected {produced}: events were lost or doubled");
        }

        var floor = BareConsumerRate(kafka.BootstrapServers);
        var warmRate = (measured + probeMessages) / warmSeconds;
        var peakMemoryMb = gateway.PeakWorkingSetBytes / (1024.0 * 1024.0);

        var topicFreshness = await FreshnessAsync(serving, samples: 300, id => kafka.ProduceJsonAsync(Topic, id, ProbeJson(id)));
        // The floor's probe times out on an overloaded machine (a message not consumed in 30 s): the phase's figures above
        // it are still printed, and the floor's latency reads as missing.
        LongHistogram? consumerLatency = null;
        try
        {
            consumerLatency = BareConsumerLatency(kafka, samples: 300);
        }
        catch (TimeoutException exception)
        {
            Console.WriteLine($"  bare consumer latency probe failed: {exception.Message}");
        }
        var pushFreshness = await FreshnessAsync(serving, samples: 300, async id =>
        {
            var e = new Event { EventId = id, EventTime = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow) };
            e.Fields["user_id"] = new Value { StringValue = id };
            e.Fields["content_id"] = new Value { StringValue = "c1" };
            e.Fields["content_type"] = new Value { StringValue = "video" };
            e.Fields["kind"] = new Value { StringValue = "click" };
            e.Fields["sport"] = new Value { StringValue = "tennis" };
            e.Fields["watch_seconds"] = new Value { DoubleValue = 1 };
            var push = new PushEventsRequest { Source = Topic };
            push.Events.Add(e);
            await ingestion.PushEventsAsync(push);
        });

        Console.WriteLine();
        Console.WriteLine($"Kafka ingestion on {Environment.ProcessorCount} cores, {users} users + 500 content items; gateway args: {string.Join(' ', gatewayArgs.Skip(3))}");
        Console.WriteLine($"  bare librdkafka consumer (floor):             {floor,10:0} events/s");
        Console.WriteLine($"  cold: topic -> durable grain state:           {cold / coldSeconds,10:0} events/s  ({cold} events in {coldSeconds:0.0} s from apply, incl. definition refresh and every first activation)");
        if (steady is null)
        {
            Console.WriteLine($"  warm: topic -> durable grain state:           {warmRate,10:0} events/s  ({measured} events in {warmSeconds:0.00} s, first produce to last commit; {warmRate / floor:0.000}x of the floor)");
        }
        else
        {
            // A store that keeps up commits about as fast as events are offered, with a backlog that stays small;
            // one that does not falls further behind for the whole phase.
            Console.WriteLine($"  steady: offered {rate} events/s for {seconds} s   (the producer achieved {steady.ProducedRate:0} events/s)");
            Console.WriteLine($"  steady: topic -> durable grain state:         {warmRate,10:0} events/s  ({measured + probeMessages} events in {warmSeconds:0.00} s, first produce to last commit; {warmRate / floor:0.000}x of the floor)");
            Console.WriteLine($"  steady: uncommitted backlog, max:             {maxBacklog,10:0} events  ({maxBacklog / (double)rate!.Value:0.00} s of input)");
            Console.WriteLine($"  steady: freshness under load, topic -> servable: p50 {Ms(steady.Freshness, 50)} ms  p99 {Ms(steady.Freshness, 99)} ms  max {Ms(steady.Freshness, 100)} ms  ({steady.Freshness.TotalCount} probes)");
        }

        Console.WriteLine($"  warm: gateway CPU per event:                  {gatewayCpu * 1e6 / measured,10:0.0} us     ({gatewayCpu:0.00} CPU-s = {gatewayCpu / warmSeconds:0.00} cores; the producer and mock broker in this process took {benchCpu:0.00} CPU-s)");
        // Still-tiering code is also slower than tiered code, so even without the JIT's own time this overstates a long-running store.
        Console.WriteLine($"  warm: gateway CPU per event without the JIT:  {(gatewayCpu - jitWarm) * 1e6 / measured,10:0.0} us     (the JIT took {jitWarm / gatewayCpu:P0} of the gateway's CPU, compiling hot paths to their final tier)");
        Console.WriteLine($"  warm: entity state writes:                    {writes,10:0}        ({2.0 * measured / writes:0.0} entity events per write, {writes / Math.Max(1, commits):0} writes per storage commit)");
        Console.WriteLine($"  warm: lookups meanwhile (one client):         p50 {Ms(lookupsUnderLoad, 50)} ms  p99 {Ms(lookupsUnderLoad, 99)} ms  max {Ms(lookupsUnderLoad, 100)} ms  ({lookupsUnderLoad.TotalCount} lookups)");
        Console.WriteLine($"  gateway peak resident memory:                 {peakMemoryMb,10:0} MiB  (warm phase: {gcCount:0} GCs, {gcPause:0.00} s paused, {allocated / measured / 1024:0.0} KiB allocated per event)");
        if (gcTrace is not null)
        {
            PrintSurvival(Path.Combine(gcTrace, "gateway-gcs.csv"), warmFrom, warmTo, measured + probeMessages, allocated);
        }

        Console.WriteLine($"  freshness, topic -> servable:   p50 {Ms(topicFreshness, 50)} ms  p99 {Ms(topicFreshness, 99)} ms");
        Console.WriteLine($"  freshness, push -> servable:    p50 {Ms(pushFreshness, 50)} ms  p99 {Ms(pushFreshness, 99)} ms  (baseline)");
        if (consumerLatency is not null)
        {
            Console.WriteLine($"  latency, produce -> bare consumer: p50 {Ms(consumerLatency, 50)} ms  p99 {Ms(consumerLatency, 99)} ms  (floor: same broker, same fetch wait)");
        }
    }

    /// <summary>
    /// A gateway consuming <paramref name="topic"/> from the mock cluster in consumer group "bench"; any
    /// --FeatureStore:... or --Logging:... argument of the bench goes to it too.
    /// </summary>
    internal static string[] GatewayArgs(MockKafkaCluster kafka, string topic, string[] args) =>
    [
        $"--FeatureStore:Kafka:BootstrapServers={kafka.BootstrapServers}",
        $"--FeatureStore:Kafka:Topics:0={topic}",
        "--FeatureStore:Kafka:ConsumerGroup=bench",
        .. args.Where(a => a.StartsWith("--FeatureStore:", StringComparison.Ordinal) || a.StartsWith("--Logging:", StringComparison.Ordinal)),
    ];

    // --rate: produce at a fixed rate on a thread of its own, while probes measure freshness under that load and a
    // sampler records how far committed offsets trail what was produced. Returns when the last event is produced.
    private static async Task<SteadyStream> SteadyStreamAsync(MockKafkaCluster kafka, FeatureStoreClient serving, int from, int count, int users, long now, int rate)
    {
        var steady = new SteadyStream(kafka.BootstrapServers, from);
        using var producing = new CancellationTokenSource();
        var probeTask = steady.ProbeLoopAsync(kafka, serving, producing.Token);
        var started = Stopwatch.GetTimestamp();
        await OnOwnThreadAsync(() => ProducePaced(kafka.Producer, count, rate, i => ProduceOne(kafka, from + i, users, now), steady.Produced, CancellationToken.None));
        steady.ProducedRate = count / Stopwatch.GetElapsedTime(started).TotalSeconds;
        await producing.CancelAsync();
        await probeTask;
        return steady;
    }

    /// <summary>
    /// Calls <paramref name="produceOne"/> for 0 .. <paramref name="count"/> - 1 at <paramref name="rate"/> per second,
    /// reporting how many are produced as it goes; blocks its thread, then flushes.
    /// </summary>
    internal static void ProducePaced(IProducer<byte[]?, byte[]?> producer, int count, int rate, Action<int> produceOne, Action<int> produced, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var sent = 0;
        while (sent < count && !cancellationToken.IsCancellationRequested)
        {
            var due = (int)Math.Min(count, Stopwatch.GetElapsedTime(started).TotalSeconds * rate);
            if (sent >= due)
            {
                Thread.Sleep(1);
                continue;
            }

            for (; sent < due; sent++)
            {
                produceOne(sent);
            }

            producer.Poll(TimeSpan.Zero);
            produced(sent);
        }

        producer.Flush(TimeSpan.FromMinutes(2));
    }

    private static Task ProduceOnOwnThreadAsync(MockKafkaCluster kafka, int from, int count, int users, long now) =>
        OnOwnThreadAsync(() => Produce(kafka, from, count, users, now));

    // Producer loops block their thread for a second or more: on a thread of their own, not a pool thread the lookup
    // client needs (on 2 cores a blocked pool thread starved the client, and its wait showed up as lookup latency).
    internal static Task OnOwnThreadAsync(Action loop) =>
        Task.Factory.StartNew(loop, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    private static void Produce(MockKafkaCluster kafka, int from, int count, int users, long now)
    {
        for (var i = from; i < from + count; i++)
        {
            ProduceOne(kafka, i, users, now);
            if (i % 10_000 == 0)
            {
                kafka.Producer.Poll(TimeSpan.Zero);
            }
        }

        kafka.Producer.Flush(TimeSpan.FromMinutes(2));
    }

    private static void ProduceOne(MockKafkaCluster kafka, int i, int users, long now)
    {
        var user = $"u{i % users}";
        var json = string.Create(CultureInfo.InvariantCulture,
            $$"""{"event_id":"b{{i}}","ts":{{now - 600_000 + (i % 600_000)}},"user_id":"{{user}}","content_id":"c{{i % 500}}","content_type":"video","kind":"view","sport":"football","watch_seconds":{{i % 300}}}""");
        kafka.Producer.Produce(Topic, new Message<byte[]?, byte[]?> { Key = Encoding.UTF8.GetBytes(user), Value = Encoding.UTF8.GetBytes(json) });
    }

    private static async Task<TimeSpan> WaitForCommittedOrDumpAsync(MockKafkaCluster kafka, GatewayProcess gateway, HttpClient http, int events, Stopwatch clock)
    {
        try
        {
            return await WaitForCommittedAsync(kafka.BootstrapServers, "bench", Topic, events, clock, TimeSpan.FromMinutes(10));
        }
        catch (TimeoutException)
        {
            var metrics = await http.GetStringAsync(new Uri("/metrics", UriKind.Relative));
            Console.WriteLine(string.Join('\n', metrics.Split('\n').Where(l => l.StartsWith("orleansfeatures", StringComparison.Ordinal))));
            Console.WriteLine(gateway.Output[^Math.Min(20_000, gateway.Output.Length)..]);
            throw;
        }
    }

    // The floor: one plain consumer assigned every partition (no group join), timed from its first message to its
    // last, doing nothing with the events. The mock broker keeps only the newest few MB of each partition, so it
    // reads what is still there and stops once the partitions are idle for a second.
    private static double BareConsumerRate(string bootstrap)
    {
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig
        {
            BootstrapServers = bootstrap,
            GroupId = "bench-floor",
            EnableAutoCommit = false,
            FetchWaitMaxMs = 50,
        }).Build();
        consumer.Assign(Enumerable.Range(0, Partitions).Select(p => new TopicPartitionOffset(Topic, p, Offset.Beginning)));
        var deadline = Stopwatch.StartNew();
        long first = 0;
        long last = 0;
        var read = 0;
        while (deadline.Elapsed < TimeSpan.FromMinutes(2))
        {
            if (consumer.Consume(TimeSpan.FromMilliseconds(100)) is { Message: not null })
            {
                last = Stopwatch.GetTimestamp();
                if (read++ == 0)
                {
                    first = last;
                }
            }
            else if (read > 0 && Stopwatch.GetElapsedTime(last) > TimeSpan.FromSeconds(1))
            {
                break;
            }
        }

        consumer.Close();
        return (read - 1) / Stopwatch.GetElapsedTime(first, last).TotalSeconds;
    }

    // The floor for topic freshness: one event at a time from a plain producer to a plain consumer that waits at the
    // end of the topic with the provider's fetch wait (50 ms); nothing else is done with it.
    private static LongHistogram BareConsumerLatency(MockKafkaCluster kafka, int samples)
    {
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig
        {
            BootstrapServers = kafka.BootstrapServers,
            GroupId = "bench-latency",
            EnableAutoCommit = false,
            FetchWaitMaxMs = 50,
        }).Build();
        consumer.Assign(Enumerable.Range(0, Partitions).Select(p => new TopicPartitionOffset(Topic, p, Offset.End)));
        while (consumer.Consume(TimeSpan.FromMilliseconds(500)) is not null)
        {
            // Drain whatever the freshness samples left, so each sample below waits for its own message.
        }

        var histogram = new LongHistogram(TimeStamp.Seconds(60), 3);
        for (var i = 0; i < samples; i++)
        {
            var key = $"latency-{i}";
            var started = Stopwatch.GetTimestamp();
            kafka.Producer.Produce(Topic, new Message<byte[]?, byte[]?> { Key = Encoding.UTF8.GetBytes(key), Value = Encoding.UTF8.GetBytes("{}") });
            while (true)
            {
                if (consumer.Consume(TimeSpan.FromSeconds(30)) is { Message.Key: { } got } && Encoding.UTF8.GetString(got) == key)
                {
                    break;
                }

                if (Stopwatch.GetElapsedTime(started) > TimeSpan.FromSeconds(30))
                {
                    throw new TimeoutException($"message {key} not consumed after 30 s");
                }
            }

            histogram.RecordValue(Stopwatch.GetTimestamp() - started);
        }

        consumer.Close();
        return histogram;
    }

    // Polls the group's committed offsets: an offset is committed only once every event before it is in durable
    // grain state. Returns when every event's offset is committed.
    internal static async Task<TimeSpan> WaitForCommittedAsync(string bootstrap, string group, string topic, int events, Stopwatch clock, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig { BootstrapServers = bootstrap, GroupId = group }).Build();
        var partitions = TopicPartitions(topic);
        long committed = 0;
        var lastReport = TimeSpan.Zero;
        var lastChange = TimeSpan.Zero;
        long previous = -1;
        while (clock.Elapsed < timeout)
        {
            committed = CommittedTotal(consumer, partitions);
            if (committed >= events)
            {
                return clock.Elapsed;
            }

            if (committed != previous)
            {
                previous = committed;
                lastChange = clock.Elapsed;
            }
            else if (clock.Elapsed - lastChange > TimeSpan.FromSeconds(90))
            {
                throw new TimeoutException($"committed offsets stuck at {committed} of {events} for 90 s");
            }

            if (clock.Elapsed - lastReport > TimeSpan.FromSeconds(5))
            {
                lastReport = clock.Elapsed;
                Console.WriteLine($"  {clock.Elapsed.TotalSeconds:0}s: {committed} of {events} offsets committed");
            }

            await Task.Delay(10, cancellationToken);
        }

        throw new TimeoutException($"only {committed} of {events} offsets committed within {timeout}");
    }

    private static List<TopicPartition> TopicPartitions(string topic) => [.. Enumerable.Range(0, Partitions).Select(p => new TopicPartition(topic, p))];

    // Offsets the consumer group has committed over all partitions (a partition with none counts 0).
    internal static long CommittedTotal(IConsumer<byte[]?, byte[]?> consumer, List<TopicPartition> partitions) =>
        consumer.Committed(partitions, TimeSpan.FromSeconds(5)).Sum(o => Math.Max(0, o.Offset.Value));

    // --timeline: the grains' own count of events applied and made durable, scraped every 200 ms (each scrape costs
    // the store some CPU, so it is off by default). Commits alone advance in bursts: an offset moves only when a
    // whole pull is durable.
    private static async Task<List<(TimeSpan At, double Accepted)>> SampleAcceptedAsync(HttpClient http, Stopwatch clock, CancellationToken cancellationToken)
    {
        var samples = new List<(TimeSpan, double)>();
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                samples.Add((clock.Elapsed, await AcceptedAsync(http, cancellationToken)));
                await Task.Delay(200, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        return samples;
    }

    // Events the partition ingesters have finished with (accepted, late, duplicate or rejected), i.e. durable in every
    // entity they touch; one scrape for all four counters.
    private static async Task<double> AcceptedAsync(HttpClient http, CancellationToken cancellationToken = default)
    {
        var metrics = await http.GetStringAsync(new Uri("/metrics", UriKind.Relative), cancellationToken);
        return ((string[])["accepted", "late", "duplicate", "rejected"]).Sum(outcome => MetricSum(metrics, $"orleansfeatures_events_{outcome}_total", "path=\"stream\""));
    }

    internal static async Task<double> MetricSumAsync(HttpClient http, string name) =>
        MetricSum(await http.GetStringAsync(new Uri("/metrics", UriKind.Relative)), name);

    // Sum of every series of a Prometheus metric (optionally only those whose labels contain a given text).
    private static double MetricSum(string metrics, string name, string? label = null) =>
        metrics.Split('\n')
            .Where(l => (l.StartsWith(name + "{", StringComparison.Ordinal) || l.StartsWith(name + " ", StringComparison.Ordinal))
                && (label is null || l.Contains(label, StringComparison.Ordinal)))
            .Sum(l => double.Parse(l.Split(' ')[1], CultureInfo.InvariantCulture));

    private static async Task LookupLoopAsync(FeatureStoreClient serving, int users, LongHistogram histogram, CancellationToken cancellationToken)
    {
        var random = new Random(7);
        while (!cancellationToken.IsCancellationRequested)
        {
            var request = new GetOnlineFeaturesRequest { EntityType = "user" };
            request.EntityIds.Add($"u{random.Next(users)}");
            (request.Features ??= new()).References.Add("user_engagement:clicks_5m");
            (request.Features ??= new()).References.Add("user_engagement:watch_seconds_24h");
            var started = Stopwatch.GetTimestamp();
            try
            {
                await serving.GetOnlineFeaturesAsync(request, cancellationToken: cancellationToken);
            }
            catch (Grpc.Core.RpcException) when (cancellationToken.IsCancellationRequested)
            {
                // Stopping aborts the call in flight, reported as Cancelled or (HTTP/2 reset) Unavailable.
                break;
            }

            histogram.RecordValue(Stopwatch.GetTimestamp() - started);
        }
    }

    private static async Task<LongHistogram> FreshnessAsync(FeatureStoreClient serving, int samples, Func<string, Task> send)
    {
        var histogram = new LongHistogram(TimeStamp.Seconds(60), 3);
        for (var i = 0; i < samples; i++)
        {
            histogram.RecordValue(await TimeToServableAsync(serving, send, pollEvery: TimeSpan.Zero));
        }

        return histogram;
    }

    // Sends one event for a new user and polls until its click is counted; returns the time taken in Stopwatch ticks.
    private static async Task<long> TimeToServableAsync(FeatureStoreClient serving, Func<string, Task> send, TimeSpan pollEvery)
    {
        var id = $"fresh-{Guid.NewGuid():N}";
        var request = new GetOnlineFeaturesRequest { EntityType = "user" };
        request.EntityIds.Add(id);
        (request.Features ??= new()).References.Add("user_engagement:clicks_5m");
        var started = Stopwatch.GetTimestamp();
        await send(id);
        while (true)
        {
            var response = await serving.GetOnlineFeaturesAsync(request);
            if (response.Entities[0].Values[0].Value.Int64Value >= 1)
            {
                return Stopwatch.GetTimestamp() - started;
            }

            if (Stopwatch.GetElapsedTime(started) > TimeSpan.FromSeconds(60))
            {
                throw new TimeoutException($"event {id} not servable after 60 s");
            }

            if (pollEvery > TimeSpan.Zero)
            {
                await Task.Delay(pollEvery);
            }
        }
    }

    private static string ProbeJson(string id) => string.Create(CultureInfo.InvariantCulture,
        $$"""{"event_id":"{{id}}","ts":{{DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()}},"user_id":"{{id}}","content_id":"c1","content_type":"video","kind":"click","sport":"tennis","watch_seconds":1}""");

    /// <summary>
    /// State of a steady-stream phase: how much is produced, probes of freshness under load (one event for a new user
    /// at a time, through the same topic, so it queues behind whatever its partition holds), and the committed offsets
    /// sampled every 100 ms against what was produced.
    /// </summary>
    private sealed class SteadyStream(string bootstrap, int producedBefore)
    {
        private readonly CancellationTokenSource _sampling = new();
        private int _produced;
        private int _probes;
        private Task<long>? _sampler;

        public LongHistogram Freshness { get; } = new(TimeStamp.Seconds(60), 3);

        public int Probes => Volatile.Read(ref _probes);

        public double ProducedRate { get; set; }

        public void Produced(int count)
        {
            Volatile.Write(ref _produced, count);
            _sampler ??= Task.Run(() => SampleBacklogAsync(_sampling.Token));
        }

        public async Task ProbeLoopAsync(MockKafkaCluster kafka, FeatureStoreClient serving, CancellationToken cancellationToken)
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                Freshness.RecordValue(await TimeToServableAsync(serving, async id =>
                {
                    await kafka.ProduceJsonAsync(Topic, id, ProbeJson(id));
                    Interlocked.Increment(ref _probes);
                }, pollEvery: TimeSpan.FromMilliseconds(5)));
                await Task.Delay(50, CancellationToken.None);
            }
        }

        public void StopSampling() => _sampling.Cancel();

        public async Task<long> MaxBacklogAsync() => _sampler is null ? 0 : await _sampler;

        private async Task<long> SampleBacklogAsync(CancellationToken cancellationToken)
        {
            using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig { BootstrapServers = bootstrap, GroupId = "bench" }).Build();
            var partitions = TopicPartitions(Topic);
            long max = 0;
            while (!cancellationToken.IsCancellationRequested)
            {
                try
                {
                    var committed = CommittedTotal(consumer, partitions);
                    max = Math.Max(max, producedBefore + Volatile.Read(ref _produced) + Probes - committed);
                }
                catch (KafkaException exception)
                {
                    // A slow broker answer loses one sample, not the run.
                    Console.WriteLine($"  committed offsets not read: {exception.Error.Reason}");
                }

                try
                {
                    await Task.Delay(100, cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }

            return max;
        }
    }

    private const string StallTraceArg = "--FeatureStore:Diagnostics:StallTraceDirectory=";

    // The gateway's GCs in the warm phase, from its stall trace (one row per GC it saw; two GCs within its 10 ms
    // sampling period show as the newer one): what each generation's collections promoted, against what gen0 held
    // before them (its allocation since the previous GC) and against the events of the phase.
    private static void PrintSurvival(string csv, DateTimeOffset from, DateTimeOffset to, long events, double allocated)
    {
        var lines = File.ReadAllLines(csv);
        var header = lines[0].Split(',');
        int Column(string name) => Array.IndexOf(header, name);
        var (at, generation, promoted, gen0Before, pause) = (Column("unix_us"), Column("generation"), Column("promoted_kb"), Column("gen0_before_kb"), Column("pause_ms"));
        var rows = lines.Skip(1).Select(l => l.Split(','))
            .Where(r => r.Length == header.Length)
            .Select(r => (At: long.Parse(r[at], CultureInfo.InvariantCulture), Generation: int.Parse(r[generation], CultureInfo.InvariantCulture),
                Promoted: 1024.0 * long.Parse(r[promoted], CultureInfo.InvariantCulture), Gen0Before: 1024.0 * long.Parse(r[gen0Before], CultureInfo.InvariantCulture),
                Pause: double.Parse(r[pause], CultureInfo.InvariantCulture)))
            .Where(r => r.At >= from.ToUnixTimeMilliseconds() * 1000 && r.At <= to.ToUnixTimeMilliseconds() * 1000)
            .ToList();
        foreach (var gen in new[] { 0, 1 })
        {
            var gcs = rows.Where(r => r.Generation == gen).ToList();
            if (gcs.Count == 0)
            {
                Console.WriteLine($"  warm: gateway gen{gen} GCs:                    none recorded");
                continue;
            }

            var promotedSum = gcs.Sum(r => r.Promoted);
            Console.WriteLine($"  warm: gateway gen{gen} GCs:                    {gcs.Count,10}        ({promotedSum / gcs.Count / 1048576:0.0} MB promoted each, {promotedSum / gcs.Sum(r => r.Gen0Before):P0} of gen0 before them survived, {gcs.Average(r => r.Pause):0} ms pause each; promoted {promotedSum / events:0} B per event, {promotedSum / allocated:P0} of the phase's allocation)");
        }
    }

    private static string Ms(LongHistogram h, double percentile) =>
        (h.GetValueAtPercentile(percentile) * 1000.0 / Stopwatch.Frequency).ToString("0.0", CultureInfo.InvariantCulture);
}
