using System.Diagnostics;
using System.Globalization;
using Azure.Data.Tables;
using Confluent.Kafka;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Hosting;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Grains;
using OrleansFeatures.Grains.Hosting;
using OrleansFeatures.Grains.Interfaces;
using OrleansFeatures.Streaming.EventHubs;
using OrleansFeatures.TestInfrastructure;

/// <summary>
/// The steady stream through each provider's cache and delivery, side by side in one process and one run: a silo with
/// SQLite state consumes <c>engagement-events</c> from librdkafka's mock cluster (Kafka provider) and from an in-memory
/// hub behind Orleans' Event Hubs adapter (native provider, checkpoints in Azurite), one after the other. Reports the
/// rate at which events become durable (committed offsets / checkpoints cover them), source → servable freshness
/// from probe events, and this process's CPU per event (it also runs the producer and, for Kafka, the mock broker).
/// </summary>
internal static class StreamProviderBenchmark
{
    private const string Source = "engagement-events";

    public static async Task RunAsync(string[] args)
    {
        var rate = 5_000;
        var seconds = 10;
        var users = 1_000;
        for (var i = 1; i < args.Length - 1; i++)
        {
            if (args[i] == "--rate") rate = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
            if (args[i] == "--seconds") seconds = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
            if (args[i] == "--users") users = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
        }

        Console.WriteLine($"steady stream, in-process silo: {rate} events/s for {seconds} s onto {users} users (each event also feeds one of 200 content items)");
        await using var azurite = await AzuriteServer.StartAsync();
        foreach (var provider in new[] { "kafka", "eventhubs", "kafka", "eventhubs" })
        {
            var result = await RunOneAsync(provider, azurite, rate, seconds, users);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {provider,-9} durable {result.DurableRate,8:0} events/s   offered {result.OfferedRate,8:0}   freshness p50 {result.FreshnessP50,6:0.0} ms  p99 {result.FreshnessP99,6:0.0} ms   CPU {result.CpuMicrosPerEvent,5:0.0} µs/event"));
        }
    }

    private sealed record Result(double OfferedRate, double DurableRate, double FreshnessP50, double FreshnessP99, double CpuMicrosPerEvent);

    private static async Task<Result> RunOneAsync(string provider, AzuriteServer azurite, int rate, int seconds, int users)
    {
        using var temp = new TempDirectory("orleansfeatures-bench");
        using var kafka = provider == "kafka" ? new MockKafkaCluster() : null;
        var hub = new InMemoryEventHub();
        var tables = "bench" + Guid.NewGuid().ToString("N")[..8];
        var eventHubs = new EventHubStreamOptions
        {
            Hubs = [Source],
            ConnectionString = "Endpoint=sb://in-memory.servicebus.windows.net/;SharedAccessKeyName=bench;SharedAccessKey=YmVuY2g=",
            TableConnectionString = azurite.ConnectionString,
            CheckpointTable = tables + "cp",
            DeadLetterTable = tables + "dl",
        };
        var send = kafka is not null
            ? (Action<string, string>)((key, json) => kafka.Producer.Produce(Source, new Message<byte[]?, byte[]?> { Key = System.Text.Encoding.UTF8.GetBytes(key), Value = System.Text.Encoding.UTF8.GetBytes(json) }))
            : (key, json) => hub.Send(Source, key, json);
        if (kafka is not null)
        {
            // Creates the topic (4 partitions) before the silo reads its metadata.
            await kafka.ProduceJsonAsync(Source, "warm", EventJson("create", "warm", "c0", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), 1));
        }

        using var host = new HostBuilder()
            .ConfigureLogging(logging => logging.SetMinimumLevel(LogLevel.Warning))
            .UseOrleans(silo =>
            {
                silo.UseLocalhostClustering(FreePort.Next(), FreePort.Next());
                silo.AddSqliteGrainStorage(FeatureStoreStorage.Name, o => o.DatabasePath = Path.Combine(temp.Path, "store.db"));
                silo.AddFeatureStoreServices();
                if (kafka is not null)
                {
                    silo.AddFeatureStoreKafka(o =>
                    {
                        o.BootstrapServers = kafka.BootstrapServers;
                        o.Topics = [Source];
                        o.ConsumerGroup = "bench";
                    });
                }
                else
                {
                    silo.Services.AddSingleton<IEventHubPartitionSource>(hub);
                    silo.AddFeatureStoreEventHubs(eventHubs);
                }
            })
            .Build();
        await host.StartAsync();
        var grains = host.Services.GetRequiredService<IGrainFactory>();
        var registry = grains.GetGrain<IRegistryGrain>(IRegistryGrain.DefaultKey);
        var documents = Directory.GetFiles(RepositoryPaths.ExampleDefinitions, "*.yaml").Order(StringComparer.Ordinal)
            .Select(path => new DefinitionDocumentDto(Path.GetFileName(path), File.ReadAllText(path))).ToList();
        await registry.Apply(documents, dryRun: false);
        var version = await registry.GetVersion();

        var total = rate * seconds;
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var freshness = new List<double>();
        var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        var started = Stopwatch.GetTimestamp();
        var producing = Task.Factory.StartNew(() =>
        {
            var sent = 0;
            while (sent < total)
            {
                var due = (int)Math.Min(total, Stopwatch.GetElapsedTime(started).TotalSeconds * rate);
                for (; sent < due; sent++)
                {
                    send($"u{sent % users}", EventJson($"s{sent}", $"u{sent % users}", $"c{sent % 200}", now - (sent % 600_000), sent % 300));
                }

                Thread.Sleep(1);
            }
        }, TaskCreationOptions.LongRunning);

        // Probes: a fresh user per probe, so "servable" is its first event appearing.
        var probe = 0;
        while (!producing.IsCompleted)
        {
            var user = $"probe{probe++}";
            var sentAt = Stopwatch.GetTimestamp();
            send(user, EventJson($"probe{probe}", user, "c0", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), 1));
            var grain = grains.GetGrain<IEntityGrain>(EntityKey.Format("user", user));
            while (Stopwatch.GetElapsedTime(sentAt) < TimeSpan.FromSeconds(10))
            {
                var values = await grain.Read(version, new FeatureRefList(["user_engagement"], ["events_24h"]), DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
                if (values[0].Status == FeatureStatusKind.Present)
                {
                    freshness.Add(Stopwatch.GetElapsedTime(sentAt).TotalMilliseconds);
                    break;
                }

                await Task.Delay(1);
            }

            await Task.Delay(100);
        }

        await producing;
        var sentTotal = total + probe + (kafka is not null ? 1 : 0);
        kafka?.Producer.Flush(TimeSpan.FromSeconds(30));
        var offered = total / Stopwatch.GetElapsedTime(started).TotalSeconds;
        var deadline = Stopwatch.GetTimestamp() + Stopwatch.Frequency * 300;
        while (await DurableAsync(kafka, eventHubs) < sentTotal && Stopwatch.GetTimestamp() < deadline)
        {
            await Task.Delay(20);
        }

        var elapsed = Stopwatch.GetElapsedTime(started).TotalSeconds;
        var cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalMicroseconds;
        var durable = await DurableAsync(kafka, eventHubs);
        if (durable < sentTotal)
        {
            Console.WriteLine($"  {provider}: only {durable} of {sentTotal} events durable after 5 minutes");
        }

        await host.StopAsync();
        freshness.Sort();
        return new Result(offered, total / elapsed, Percentile(freshness, 0.5), Percentile(freshness, 0.99), cpu / total);
    }

    private static async Task<long> DurableAsync(MockKafkaCluster? kafka, EventHubStreamOptions eventHubs)
    {
        if (kafka is not null)
        {
            using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig { BootstrapServers = kafka.BootstrapServers, GroupId = "bench" }).Build();
            return consumer.Committed(Enumerable.Range(0, 4).Select(p => new TopicPartition(Source, p)), TimeSpan.FromSeconds(10))
                .Sum(c => c.Offset.IsSpecial ? 0 : c.Offset.Value);
        }

        long total = 0;
        try
        {
            await foreach (var row in new TableClient(eventHubs.TableConnectionString, eventHubs.CheckpointTable).QueryAsync<TableEntity>())
            {
                total += row.GetInt64("SequenceNumber")!.Value + 1;
            }
        }
        catch (Azure.RequestFailedException)
        {
        }

        return total;
    }

    private static string EventJson(string id, string user, string content, long ts, double watchSeconds) =>
        string.Create(CultureInfo.InvariantCulture,
            $$"""{"event_id":"{{id}}","ts":{{ts}},"user_id":"{{user}}","content_id":"{{content}}","content_type":"video","kind":"view","sport":"football","watch_seconds":{{watchSeconds}}}""");

    private static double Percentile(List<double> sorted, double p) => sorted.Count == 0 ? double.NaN : sorted[Math.Min(sorted.Count - 1, (int)(p * sorted.Count))];
}
