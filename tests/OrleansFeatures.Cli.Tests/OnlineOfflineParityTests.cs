using System.Globalization;
using Grpc.Net.Client;
using OrleansFeatures.Core.Events;
using OrleansFeatures.TestInfrastructure;
using OrleansFeatures.V1;
using static OrleansFeatures.Cli.Tests.Plays;

namespace OrleansFeatures.Cli.Tests;

/// <summary>
/// Training/serving parity: a random event log (late, duplicate and out-of-order events) is pushed to the real
/// gateway while lookups record what was served; the same log, with each event's arrival time, becomes a training
/// set with one row per lookup; every served value must equal the training set's.
/// </summary>
public sealed class OnlineOfflineParityTests
{
    private const string Yaml = """
        entity: user
        key: user_id
        sources:
          - name: plays
            fields: { event_id: string, ts: int64, user_id: string, kind: string, seconds: double }
        feature_views:
          - name: plays
            source: plays
            ttl: 90s
            allowed_lateness: 30s
            features:
              - { name: last_kind, latest: kind }
              - { name: plays_1m, aggregation: count, window: 1m }
              - { name: clicks_2m, aggregation: count, window: 2m, where: "kind == 'click'" }
              - { name: seconds_5m, aggregation: sum, field: seconds, window: 5m }
              - { name: mean_seconds_5m, aggregation: mean, field: seconds, window: 5m }
              - { name: max_seconds_5m, aggregation: max, field: seconds, window: 5m }
        feature_services:
          - name: model
            features: [plays:plays_1m, plays:clicks_2m, plays:seconds_5m, plays:mean_seconds_5m, plays:max_seconds_5m, plays:last_kind]
            defaults: { "plays:plays_1m": 0, "plays:mean_seconds_5m": -1.0 }
        """;

    private static readonly string[] Users = ["u0", "u1", "u2", "u3", "u4", "never"];

    [Fact]
    public async Task Training_set_values_equal_what_online_lookups_served_at_the_same_instants()
    {
        using var temp = new TempDirectory();
        await using var gateway = new GatewayProcess(temp.Path);
        await gateway.StartAsync();
        var definitions = Path.Combine(temp.Path, "plays.yaml");
        await File.WriteAllTextAsync(definitions, Yaml);
        var apply = await Ofs.RunAsync("apply", definitions, "--address", gateway.GrpcAddress.ToString());
        Assert.True(apply.ExitCode == 0, apply.ToString());

        using var channel = GrpcChannel.ForAddress(gateway.GrpcAddress);
        var ingestion = new FeatureIngestion.FeatureIngestionClient(channel);
        var serving = new FeatureServing.FeatureServingClient(channel);
        var random = new Random(2026);
        var eventLines = new List<string>();
        var sent = new List<Event>();
        var lookups = new List<(long Before, long After, GetOnlineFeaturesResponse Response)>();
        var late = 0;
        var lastLookupEnd = 0L;
        for (var round = 0; round < 60; round++)
        {
            // Strictly after the previous lookup, so each event's arrival orders it against every lookup.
            WaitPast(lastLookupEnd);
            var request = new PushEventsRequest { Source = "plays" };
            var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            for (var i = random.Next(1, 6); i > 0; i--)
            {
                request.Events.Add(sent.Count > 0 && random.NextDouble() < 0.12 ? sent[random.Next(sent.Count)] : NewEvent(random, sent.Count + request.Events.Count, now));
            }

            var pushed = await ingestion.PushEventsAsync(request);
            var arrival = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            late += pushed.Late;
            foreach (var pushedEvent in request.Events)
            {
                sent.Add(pushedEvent);
                eventLines.Add(ToJson(pushedEvent, arrival));
            }

            // A lookup evaluates at the server's clock, somewhere between the two instants recorded around it.
            WaitPast(arrival);
            var lookup = new GetOnlineFeaturesRequest { EntityType = "user", FeatureService = "model" };
            lookup.EntityIds.Add(Users);
            var before = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            var response = await serving.GetOnlineFeaturesAsync(lookup);
            var after = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() + 1;
            lookups.Add((before, after, response));
            lastLookupEnd = after;
            if (round % 15 == 14)
            {
                // Let windows slide and values age past the TTL between some lookups.
                await Task.Delay(random.Next(200, 1500));
            }
        }

        Assert.True(late > 0, "the log should hold events beyond the allowed lateness");
        Assert.True(sent.Select(e => e.Fields["event_id"].StringValue).Distinct().Count() < sent.Count, "the log should hold replays");

        var events = Path.Combine(temp.Path, "events.jsonl");
        await File.WriteAllLinesAsync(events, eventLines);
        var entities = Path.Combine(temp.Path, "entities.jsonl");
        var rows = new List<string>();
        foreach (var (before, after, _) in lookups)
        {
            foreach (var user in Users)
            {
                rows.Add(string.Create(CultureInfo.InvariantCulture, $$"""{"user_id":"{{user}}","event_timestamp":{{before}}}"""));
                rows.Add(string.Create(CultureInfo.InvariantCulture, $$"""{"user_id":"{{user}}","event_timestamp":{{after}}}"""));
            }
        }

        await File.WriteAllLinesAsync(entities, rows);
        var output = Path.Combine(temp.Path, "training.parquet");
        var build = await Ofs.RunAsync("training-set", "-d", definitions, "-s", "model", "--events", $"plays={events}", "--entities", entities, "--out", output, "--arrival-field", "arrival", "--partitions", "3", "--output", "json");
        Assert.True(build.ExitCode == 0, build.ToString());
        Assert.Equal(late, build.Json.GetProperty("late").GetInt64());

        var offline = await ReadTrainingSetAsync(output);

        var compared = 0;
        var ambiguous = 0;
        var statuses = new HashSet<string>(StringComparer.Ordinal);
        for (var l = 0; l < lookups.Count; l++)
        {
            var response = lookups[l].Response;
            for (var u = 0; u < Users.Length; u++)
            {
                var atBefore = offline[(l * Users.Length * 2) + (u * 2)];
                var atAfter = offline[(l * Users.Length * 2) + (u * 2) + 1];
                Assert.Equal(Users[u], atBefore["user_id"].AsString);
                for (var f = 0; f < response.FeatureNames.Count; f++)
                {
                    var name = response.FeatureNames[f];
                    var served = response.Entities[u].Values[f];
                    var servedValue = ToScalar(served.Value);
                    var servedStatus = Cli.Commands.GetCommand.StatusName(served.Status);
                    statuses.Add(servedStatus);
                    var matchesBefore = Matches(atBefore, name, servedValue, servedStatus);
                    var matchesAfter = Matches(atAfter, name, servedValue, servedStatus);
                    var agree = Matches(atAfter, name, atBefore.GetValueOrDefault(name), atBefore[$"{name}:status"].AsString);
                    Assert.True(
                        matchesBefore || matchesAfter,
                        $"lookup {l} at [{lookups[l].Before}, {lookups[l].After}] {Users[u]} {name}: served {servedValue} {servedStatus}; training set {atBefore.GetValueOrDefault(name)} {atBefore[$"{name}:status"]} .. {atAfter.GetValueOrDefault(name)} {atAfter[$"{name}:status"]}");
                    if (!agree)
                    {
                        ambiguous++;
                    }

                    compared++;
                }
            }
        }

        Assert.True(compared == lookups.Count * Users.Length * 6, $"{compared} values compared");
        Assert.True(ambiguous * 20 < compared, $"{ambiguous} of {compared} values changed within a lookup's time range; the comparison would prove little");
        Assert.Superset(new HashSet<string> { "PRESENT", "NOT_FOUND", "DEFAULTED" }, statuses);
    }

    private static bool Matches(Dictionary<string, ScalarValue> row, string name, ScalarValue value, string status) =>
        row.GetValueOrDefault(name) == value && row[$"{name}:status"].AsString == status;

    private static void WaitPast(long unixMs)
    {
        while (DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() <= unixMs)
        {
            Thread.Yield();
        }
    }

    private static Event NewEvent(Random random, int n, long now)
    {
        // Mostly recent, some up to a minute and a half behind: out of order, some beyond the 30s lateness.
        var behind = random.NextDouble() switch
        {
            < 0.7 => random.Next(0, 10_000),
            < 0.9 => random.Next(10_000, 40_000),
            _ => random.Next(40_000, 90_000),
        };
        return Play($"e{n}", Users[random.Next(Users.Length - 1)], now - behind, random.Next(0, 400) / 8.0, random.NextDouble() < 0.4 ? "click" : "view");
    }
}
