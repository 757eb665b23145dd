using System.Globalization;
using System.Text.RegularExpressions;
using OrleansFeatures.TestInfrastructure;
using OrleansFeatures.V1;

namespace OrleansFeatures.EndToEnd.Tests;

/// <summary>Scrapes a running gateway after a known workload: every series the alert rules and the dashboard use exists, with the expected counts.</summary>
public sealed partial class ObservabilityEndToEndTests
{
    private const string LookupRoute = "/orleansfeatures.v1.FeatureServing/GetOnlineFeatures";

    [Fact]
    public async Task Every_metric_an_alert_or_panel_uses_is_emitted_with_the_counts_of_a_known_workload()
    {
        using var kafka = new MockKafkaCluster();
        using var temp = new TempDirectory();
        var now = DateTimeOffset.UtcNow;
        await kafka.ProduceJsonAsync("plays", "seed", Json("k0", "kafka0", now));
        await using var gateway = new GatewayProcess(
            temp.Path,
            $"--FeatureStore:Kafka:BootstrapServers={kafka.BootstrapServers}",
            "--FeatureStore:Kafka:Topics:0=plays",
            "--FeatureStore:Kafka:DeadLetterTopic=plays-dead");
        await gateway.StartAsync();
        using var client = new GatewayClient(gateway);
        await client.Registry.ApplyDefinitionsAsync(E2EDefinitions.Request());

        // 6 pushed events: 4 accepted, 1 a duplicate of the first, 1 rejected (from the future).
        var push = await client.Ingestion.PushEventsAsync(Events.Push(
            Events.Play("p1", "pushed", now.AddSeconds(-4), "golf", "view", 1),
            Events.Play("p2", "pushed", now.AddSeconds(-3), "golf", "view", 1),
            Events.Play("p3", "pushed", now.AddSeconds(-2), "golf", "view", 1),
            Events.Play("p4", "pushed", now.AddSeconds(-1), "golf", "view", 1),
            Events.Play("p1", "pushed", now.AddSeconds(-4), "golf", "view", 1),
            Events.Play("future", "pushed", new DateTimeOffset(2100, 1, 1, 0, 0, 0, TimeSpan.Zero), "golf", "view", 1)));
        Assert.Equal((4, 1, 1), (push.Accepted, push.Duplicates, push.Rejected));

        // Kafka: the seed and 2 more events, and one message that is not JSON (dead-lettered).
        await kafka.ProduceJsonAsync("plays", "kafka1", Json("k1", "kafka1", now));
        await kafka.ProduceJsonAsync("plays", "kafka2", Json("k2", "kafka2", now));
        await kafka.ProduceJsonAsync("plays", "bad", "not json");
        var lookup = new GetOnlineFeaturesRequest { EntityType = "user" };
        lookup.EntityIds.Add(["kafka0", "kafka1", "kafka2", "pushed"]);
        (lookup.Features ??= new()).References.Add("user_plays:plays_1h");
        await Poll.UntilAsync(
            async () => await client.Serving.GetOnlineFeaturesAsync(lookup),
            r => r.Entities.All(e => e.Values[0].Value?.Int64Value >= 1),
            TimeSpan.FromSeconds(60),
            "the Kafka events to be servable");

        using var http = new HttpClient();
        var metrics = new Uri(gateway.HttpAddress, "metrics");
        var scrape = await Poll.UntilAsync(
            () => http.GetStringAsync(metrics),
            text => Value(text, "orleansfeatures_kafka_messages_dead_lettered_total") >= 1 && Value(text, "orleansfeatures_events_accepted_total") >= 7,
            TimeSpan.FromSeconds(30),
            "the dead letter and every accepted event to be counted");

        // Azure Storage requests happen only in AzureStorage mode: ClusterEndToEndTests checks those series.
        var used = UsedSeries().Where(name => !AzureOnlySeries.Contains(name)).ToList();
        Assert.NotEmpty(used);
        var missing = used.Where(name => !Regex.IsMatch(scrape, $"^{name}(\\{{| )", RegexOptions.Multiline)).ToList();
        Assert.True(missing.Count == 0, $"series used by alerts or panels but not emitted: {string.Join(", ", missing)}");

        Assert.Equal(7, Value(scrape, "orleansfeatures_events_accepted_total")); // 4 pushed + 3 from Kafka
        Assert.Equal(1, Value(scrape, "orleansfeatures_events_rejected_total"));
        Assert.Equal(1, Value(scrape, "orleansfeatures_events_duplicate_total"));
        Assert.Equal(1, Value(scrape, "orleansfeatures_kafka_messages_dead_lettered_total"));
        Assert.Equal(0, Value(scrape, "orleansfeatures_storage_failures_total"));
        Assert.Equal(0, Value(scrape, "orleansfeatures_ingest_checkpoint_failures_total"));
        Assert.Equal(0, Value(scrape, "orleansfeatures_ingest_checkpoint_replays_total"));
        Assert.Equal(0, Value(scrape, "orleansfeatures_azure_storage_failures_total"));

        // Freshness: one observation per entity call that accepted events. The push's 4 accepted events (and its
        // duplicate) went to one entity in one call; the 3 Kafka events to 3 entities, one call each.
        Assert.Equal(1, Value(scrape, "orleansfeatures_ingest_freshness_seconds_count{.*path=\"push\".*}"));
        Assert.Equal(1, Value(scrape, "orleansfeatures_ingest_freshness_seconds_bucket{.*path=\"push\".*le=\"\\+Inf\".*}"));
        Assert.Equal(3, Value(scrape, "orleansfeatures_ingest_freshness_seconds_count{.*path=\"stream\".*}"));
        Assert.Equal(4, Value(scrape, "orleansfeatures_ingest_freshness_seconds_count{.*source=\"plays\".*}"));
        Assert.True(Value(scrape, $"http_server_request_duration_seconds_count{{.*http_route=\"{LookupRoute}\".*}}") >= 1);
    }

    /// <summary>Series only a silo in AzureStorage mode emits (the failures counter starts at 0 in every mode).</summary>
    internal static readonly string[] AzureOnlySeries = ["orleansfeatures_azure_storage_requests_total", "orleansfeatures_azure_storage_duration_seconds_bucket"];

    /// <summary>Every metric name in infra/observability's alert rules and dashboard, histogram suffixes kept.</summary>
    internal static List<string> UsedSeries()
    {
        var directory = Path.Combine(RepositoryPaths.Root, "infra", "observability");
        var text = File.ReadAllText(Path.Combine(directory, "alerts.yaml")) + File.ReadAllText(Path.Combine(directory, "dashboard.json"));
        return [.. SeriesName().Matches(text).Select(m => m.Value).Distinct()];
    }

    /// <summary>Sum of the samples of <paramref name="series"/> (a name, or a name and a label pattern) in a scrape.</summary>
    internal static double Value(string scrape, string series)
    {
        var total = 0.0;
        var pattern = series.Contains('{', StringComparison.Ordinal) ? series : $"{Regex.Escape(series)}(\\{{[^}}]*\\}})?";
        foreach (Match match in Regex.Matches(scrape, $"^{pattern} ([0-9.eE+-]+)", RegexOptions.Multiline))
        {
            total += double.Parse(match.Groups[match.Groups.Count - 1].Value, CultureInfo.InvariantCulture);
        }

        return total;
    }

    private static string Json(string id, string user, DateTimeOffset time) => string.Create(CultureInfo.InvariantCulture,
        $$"""{"event_id":"{{id}}","ts":{{time.ToUnixTimeMilliseconds()}},"user_id":"{{user}}","sport":"tennis","kind":"view","seconds":1}""");

    [GeneratedRegex(@"\b(orleansfeatures_[a-z_]+|http_server_request_duration_seconds_(bucket|count))\b")]
    private static partial Regex SeriesName();
}
