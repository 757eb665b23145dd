using System.Globalization;
using OrleansFeatures.TestInfrastructure;
using OrleansFeatures.V1;

namespace OrleansFeatures.EndToEnd.Tests;

/// <summary>The gateway process consuming a Kafka-protocol topic (librdkafka's mock cluster), read over gRPC.</summary>
public sealed class KafkaEndToEndTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Topic_events_are_servable_over_grpc_and_a_killed_gateway_resumes_exactly()
    {
        using var kafka = new MockKafkaCluster();
        using var temp = new TempDirectory();
        var start = DateTimeOffset.UtcNow.AddMinutes(-30).ToUnixTimeMilliseconds();
        var expected = new Dictionary<string, long>();
        Task ProduceAsync(int from, int count) => ProducePlaysAsync(kafka, expected, start, from, count, users: 5, prefix: "k");

        await ProduceAsync(0, 100);
        string[] kafkaArgs =
        [
            $"--FeatureStore:Kafka:BootstrapServers={kafka.BootstrapServers}",
            "--FeatureStore:Kafka:Topics:0=plays",
            "--FeatureStore:Kafka:DeadLetterTopic=plays-dead",
        ];
        var gateway = new GatewayProcess(temp.Path, kafkaArgs);
        await gateway.StartAsync();
        using (var client = new GatewayClient(gateway))
        {
            await client.Registry.ApplyDefinitionsAsync(E2EDefinitions.Request());
            await AssertCountsAsync(client, expected);
            await ProduceAsync(100, 200);
            await gateway.KillAsync();
        }

        await gateway.DisposeAsync();
        await ProduceAsync(300, 50);
        await using var restarted = new GatewayProcess(temp.Path, kafkaArgs);
        await restarted.StartAsync();
        using var after = new GatewayClient(restarted);
        await AssertCountsAsync(after, expected);
    }

    [Fact]
    public async Task Gateways_killed_at_random_points_of_a_steady_stream_lose_and_double_nothing()
    {
        // Each round kills the gateway while events stream in: between an apply and its checkpoint, during a
        // checkpoint, between a checkpoint and its commit. Every count must still equal the produced one exactly.
        using var kafka = new MockKafkaCluster();
        using var temp = new TempDirectory();
        var start = DateTimeOffset.UtcNow.AddMinutes(-30).ToUnixTimeMilliseconds();
        var expected = new Dictionary<string, long>();
        var next = 0;
        async Task ProduceBatchAsync(int count)
        {
            await ProducePlaysAsync(kafka, expected, start, next, count, users: 40, prefix: "r");
            next += count;
        }

        string[] args =
        [
            $"--FeatureStore:Kafka:BootstrapServers={kafka.BootstrapServers}",
            "--FeatureStore:Kafka:Topics:0=plays",
            "--FeatureStore:Kafka:DeadLetterTopic=plays-dead",
            "--FeatureStore:Ingestion:CheckpointInterval=00:00:00.2",
        ];
        await ProduceBatchAsync(40);
        var random = new Random(12345);
        for (var round = 0; round < 4; round++)
        {
            var gateway = new GatewayProcess(temp.Path, args);
            await gateway.StartAsync();
            if (round == 0)
            {
                using var client = new GatewayClient(gateway);
                await client.Registry.ApplyDefinitionsAsync(E2EDefinitions.Request());
            }

            var until = DateTime.UtcNow + TimeSpan.FromMilliseconds(random.Next(300, 1_500));
            while (DateTime.UtcNow < until)
            {
                await ProduceBatchAsync(20);
                await Task.Delay(10);
            }

            await gateway.KillAsync();
            await gateway.DisposeAsync();
        }

        await using var final = new GatewayProcess(temp.Path, args);
        await final.StartAsync();
        using var after = new GatewayClient(final);
        await AssertCountsAsync(after, expected);
    }

    [Fact]
    public async Task The_kafka_password_never_appears_in_the_gateway_log()
    {
        const string secret = "Endpoint=sb://example/;SharedAccessKey=not-for-logs-7f3a";
        using var kafka = new MockKafkaCluster();
        using var temp = new TempDirectory();
        await using var gateway = new GatewayProcess(
            temp.Path,
            $"--FeatureStore:Kafka:BootstrapServers={kafka.BootstrapServers}",
            "--FeatureStore:Kafka:Topics:0=plays",
            "--FeatureStore:Kafka:SaslUsername=$ConnectionString",
            $"--FeatureStore:Kafka:SaslPassword={secret}",
            "--Logging:LogLevel:Default=Information",
            "--Logging:LogLevel:Orleans.Runtime.SiloOptionsLogger=Information", // appsettings.json quiets it
            "--Logging:LogLevel:OrleansFeatures=Debug");
        await gateway.StartAsync();
        using var client = new GatewayClient(gateway);
        await client.Registry.ApplyDefinitionsAsync(E2EDefinitions.Request());
        var json = string.Create(CultureInfo.InvariantCulture,
            $$"""{"event_id":"s1","ts":{{DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()}},"user_id":"s","sport":"tennis","kind":"view","seconds":1}""");
        await kafka.ProduceJsonAsync("plays", "s", json);
        await AssertCountsAsync(client, new Dictionary<string, long> { ["s"] = 1 });

        var log = gateway.Output;
        Assert.Contains("SaslPassword", log, StringComparison.Ordinal); // the options were logged, so the check below means something
        Assert.DoesNotContain("not-for-logs-7f3a", log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Push_in_kafka_mode_goes_through_the_topic_to_the_grains()
    {
        using var kafka = new MockKafkaCluster();
        using var temp = new TempDirectory();
        var now = DateTimeOffset.UtcNow;
        // The topic must exist before the gateway reads its partitions.
        await kafka.ProduceJsonAsync("plays", "seed", string.Create(CultureInfo.InvariantCulture,
            $$"""{"event_id":"seed","ts":{{now.ToUnixTimeMilliseconds()}},"user_id":"seed","sport":"x","kind":"view","seconds":1}"""));
        await using var gateway = new GatewayProcess(
            temp.Path,
            $"--FeatureStore:Kafka:BootstrapServers={kafka.BootstrapServers}",
            "--FeatureStore:Kafka:Topics:0=plays",
            "--FeatureStore:Ingestion:Mode=Kafka");
        await gateway.StartAsync();
        using var client = new GatewayClient(gateway);
        await client.Registry.ApplyDefinitionsAsync(E2EDefinitions.Request());

        var push = await client.Ingestion.PushEventsAsync(Events.Push(
            Events.Play("p1", "pushed", now.AddSeconds(-3), "golf", "click", 5),
            Events.Play("p2", "pushed", now.AddSeconds(-2), "golf", "view", 7),
            Events.Play("p1", "pushed", now.AddSeconds(-3), "golf", "click", 5)));

        Assert.Equal(3, push.Accepted);
        await AssertCountsAsync(client, new() { ["pushed"] = 2, ["seed"] = 1 });
    }

    /// <summary>Produces plays <paramref name="from"/>.. to users {prefix}0..{prefix}{users-1}, counting them into <paramref name="expected"/>.</summary>
    private static async Task ProducePlaysAsync(MockKafkaCluster kafka, Dictionary<string, long> expected, long start, int from, int count, int users, string prefix)
    {
        var sends = new List<Task>(count);
        for (var i = from; i < from + count; i++)
        {
            var user = $"{prefix}{i % users}";
            var json = string.Create(CultureInfo.InvariantCulture,
                $$"""{"event_id":"{{prefix}}-{{i}}","ts":{{start + i}},"user_id":"{{user}}","sport":"tennis","kind":"view","seconds":1}""");
            sends.Add(kafka.ProduceJsonAsync("plays", user, json));
            expected[user] = expected.GetValueOrDefault(user) + 1;
        }

        await Task.WhenAll(sends);
    }

    private static async Task AssertCountsAsync(GatewayClient client, Dictionary<string, long> expected)
    {
        var request = new GetOnlineFeaturesRequest { EntityType = "user" };
        request.EntityIds.Add(expected.Keys);
        (request.Features ??= new()).References.Add("user_plays:plays_1h");
        var response = await Poll.UntilAsync(
            async () => await client.Serving.GetOnlineFeaturesAsync(request),
            r => r.Entities.Select((e, i) => e.Values[0].Value.Int64Value >= expected[request.EntityIds[i]]).All(ok => ok),
            Timeout,
            "every user's count to reach the produced count");
        for (var i = 0; i < request.EntityIds.Count; i++)
        {
            Assert.Equal(expected[request.EntityIds[i]], response.Entities[i].Values[0].Value.Int64Value);
        }
    }
}
