using System.Globalization;
using System.Net;
using OrleansFeatures.TestInfrastructure;
using OrleansFeatures.V1;

namespace OrleansFeatures.EndToEnd.Tests;

/// <summary>
/// The gateway with Kafka configured while no broker answers: it starts, serves lookups and Direct pushes, reports
/// not ready for ingestion, and catches up once a broker appears.
/// </summary>
public sealed class KafkaBrokerDownEndToEndTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task With_the_broker_unreachable_and_partitions_configured_the_gateway_serves_lookups_and_pushes_and_is_not_ready_for_ingestion()
    {
        using var temp = new TempDirectory();
        var nothingListening = FreePort.Next();
        await using var gateway = new GatewayProcess(temp.Path, KafkaArgs(nothingListening));
        await gateway.StartAsync();
        using var client = new GatewayClient(gateway);
        await client.Registry.ApplyDefinitionsAsync(E2EDefinitions.Request());

        var push = await client.Ingestion.PushEventsAsync(Events.Push(Events.Play("d1", "u1", DateTimeOffset.UtcNow, "tennis", "click", 3)));
        Assert.Equal(EventStatus.Accepted, Assert.Single(push.Results).Status);
        Assert.Equal(1, await PlaysAsync(client, "u1"));

        var (status, body) = await IngestionReadinessAsync(gateway, s => s == HttpStatusCode.ServiceUnavailable);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        Assert.Contains("plays/0", body, StringComparison.Ordinal);
        Assert.Contains("plays/1", body, StringComparison.Ordinal);
        using var http = new HttpClient();
        Assert.True((await http.GetAsync(new Uri($"http://127.0.0.1:{gateway.HttpPort}/healthz/ready"))).IsSuccessStatusCode);
        Assert.True(gateway.IsRunning);
    }

    [Fact]
    public async Task With_the_broker_unreachable_and_no_partition_count_start_up_fails_naming_the_setting()
    {
        using var temp = new TempDirectory();
        var args = KafkaArgs(FreePort.Next()).Where(a => !a.Contains("Partitions", StringComparison.Ordinal)).ToArray();
        await using var gateway = new GatewayProcess(temp.Path, args);
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => gateway.StartAsync());
        Assert.Contains("FeatureStore:Kafka:Partitions:plays=<partitions>", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_broker_that_appears_after_start_up_is_consumed_and_ingestion_becomes_ready()
    {
        using var temp = new TempDirectory();
        var port = FreePort.Next();
        await using var gateway = new GatewayProcess(temp.Path, KafkaArgs(port, partitions: 4));
        await gateway.StartAsync();
        using var client = new GatewayClient(gateway);
        await client.Registry.ApplyDefinitionsAsync(E2EDefinitions.Request());
        await IngestionReadinessAsync(gateway, s => s == HttpStatusCode.ServiceUnavailable);

        // The mock cluster picks its own ports; a forwarder on the configured port stands in for its bootstrap
        // address. A new topic on the mock gets 4 partitions, as configured.
        using var kafka = new MockKafkaCluster();
        var time = DateTimeOffset.UtcNow.AddMinutes(-5).ToUnixTimeMilliseconds();
        var sends = new List<Task>();
        for (var i = 0; i < 40; i++)
        {
            var user = $"c{i % 4}";
            sends.Add(kafka.ProduceJsonAsync("plays", user, string.Create(CultureInfo.InvariantCulture,
                $$"""{"event_id":"late{{i}}","ts":{{time + i}},"user_id":"{{user}}","sport":"golf","kind":"view","seconds":1}""")));
        }

        await Task.WhenAll(sends);
        await using var forwarder = new TcpForwarder(port, kafka.BootstrapServers.Split(',')[0]);

        await IngestionReadinessAsync(gateway, s => s == HttpStatusCode.OK);
        for (var u = 0; u < 4; u++)
        {
            var user = $"c{u}";
            await Poll.UntilAsync(() => PlaysAsync(client, user), n => n == 10, Timeout, $"10 plays of {user} from the topic");
        }
    }

    private static string[] KafkaArgs(int port, int partitions = 2) =>
    [
        $"--FeatureStore:Kafka:BootstrapServers=127.0.0.1:{port}",
        "--FeatureStore:Kafka:Topics:0=plays",
        $"--FeatureStore:Kafka:Partitions:plays={partitions}",
        "--FeatureStore:Kafka:MetadataTimeout=00:00:02",
        "--FeatureStore:Kafka:DeadLetterTopic=",
    ];

    private static async Task<long> PlaysAsync(GatewayClient client, string user)
    {
        var lookup = new GetOnlineFeaturesRequest { EntityType = "user" };
        lookup.EntityIds.Add(user);
        (lookup.Features ??= new()).References.Add("user_plays:plays_1h");
        var response = await client.Serving.GetOnlineFeaturesAsync(lookup);
        return Assert.Single(response.Entities).Values[0].Value.Int64Value;
    }

    private static async Task<(HttpStatusCode Status, string Body)> IngestionReadinessAsync(GatewayProcess gateway, Func<HttpStatusCode, bool> wanted)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        return await Poll.UntilAsync(
            async () =>
            {
                using var response = await http.GetAsync(new Uri($"http://127.0.0.1:{gateway.HttpPort}/healthz/ingestion"));
                return (response.StatusCode, await response.Content.ReadAsStringAsync());
            },
            r => wanted(r.StatusCode),
            Timeout,
            "/healthz/ingestion");
    }
}
