using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
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
            features: [plays:plays_1m, plays:clicks_2m, plays:seconds_5m, plays:mean_seconds_5m, plays:max_seconds_5m, plays:last_kind, click_rate, spread]
            defaults: { "plays:plays_1m": 0, "plays:mean_seconds_5m": -1.0, spread: 0.0 }
            # Derived columns (request-time features) must match too: a division whose divisor is often 0 (missing),
            # an expired or missing input (EXPIRED / NOT_FOUND, or the column's default), and a branch.
            derived:
              click_rate: "clicks_2m / plays_1m"
              spread: "if(max_seconds_5m > 30, max_seconds_5m - mean_seconds_5m, -1.0)"
        """;

    private static readonly string[] Users = ["u0", "u1", "u2", "u3", "u4", "never"];

    [Fact]
    public Task Training_set_values_equal_what_online_lookups_served_at_the_same_instants() => AssertParityAsync(Yaml, columns: 8, featureTypes: false);

    /// <summary>
    /// The example C# feature type (momentum@1, examples/feature-types) loaded by the gateway from
    /// FeatureStore:FeatureTypes:Directory and by ofs training-set from --feature-types: the same log serves and
    /// trains alike.
    /// </summary>
    [Fact]
    public Task A_csharp_feature_type_serves_online_what_its_training_set_holds() => AssertParityAsync(
        Yaml.Replace(
            "      - { name: max_seconds_5m, aggregation: max, field: seconds, window: 5m }",
            "      - { name: max_seconds_5m, aggregation: max, field: seconds, window: 5m }\n      - { name: momentum_2m, aggregation: momentum@1, field: seconds, window: 2m, type: double }",
            StringComparison.Ordinal).Replace("plays:last_kind, click_rate", "plays:last_kind, plays:momentum_2m, click_rate", StringComparison.Ordinal),
        columns: 9,
        featureTypes: true);

    private static async Task AssertParityAsync(string yaml, int columns, bool featureTypes)
    {
        using var temp = new TempDirectory();
        string[] gatewayArgs = [];
        string[] trainingArgs = [];
        if (featureTypes)
        {
            // A folder holding only the type's assembly, as a silo's image layer or volume would.
            var folder = Directory.CreateDirectory(Path.Combine(temp.Path, "feature-types")).FullName;
            var assembly = typeof(SportsMedia.FeatureTypes.MomentumFeatureType).Assembly.Location;
            File.Copy(assembly, Path.Combine(folder, Path.GetFileName(assembly)));
            gatewayArgs = [$"--FeatureStore:FeatureTypes:Directory={folder}"];
            trainingArgs = ["--feature-types", folder];
        }

        await using var gateway = new GatewayProcess(temp.Path, gatewayArgs);
        await gateway.StartAsync();
        var definitions = Path.Combine(temp.Path, "plays.yaml");
        await File.WriteAllTextAsync(definitions, yaml);
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
        var build = await Ofs.RunAsync(["training-set", "-d", definitions, "-s", "model", "--events", $"plays={events}", "--entities", entities, "--out", output, "--arrival-field", "arrival", "--partitions", "3", "--output", "json", .. trainingArgs]);
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

        Assert.True(compared == lookups.Count * Users.Length * columns, $"{compared} values compared");
        Assert.True(ambiguous * 20 < compared, $"{ambiguous} of {compared} values changed within a lookup's time range; the comparison would prove little");
        Assert.Superset(new HashSet<string> { "PRESENT", "NOT_FOUND", "DEFAULTED" }, statuses);
    }

    /// <summary>
    /// The edges where readers used to differ from the push path: keys that look like numbers or booleans or have
    /// leading zeros, an undeclared field holding a JSON object (a struct in Parquet, JSON text in a quoted CSV cell),
    /// text with commas, quotes and newlines, and events dated up to 50 minutes ahead of their arrival. One log is
    /// pushed while lookups record what was served; the same log as JSON lines, CSV and Parquet, with a CSV entity
    /// table, gives three training sets, each of which must hold every served value.
    /// </summary>
    [Fact]
    public async Task Edge_case_events_serve_what_json_lines_csv_and_parquet_training_sets_hold()
    {
        string[] users = ["0042", "42", "1e3", "true", "007", "none"];
        string[] kinds = ["click", "view", "multi\nline, \"quoted\""];
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
        var random = new Random(23);
        var log = new List<EdgePlay>();
        var lookups = new List<(long Before, long After, GetOnlineFeaturesResponse Response)>();
        var watermark = new Dictionary<string, long>(StringComparer.Ordinal);
        var (late, future) = (0, 0);
        var lastLookupEnd = 0L;

        // One event 59 minutes ahead (inside the 1h skew), then one on time: both ACCEPTED (the on-time one was LATE
        // while the future event time moved the watermark).
        var opened = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        foreach (var opening in new[] { new EdgePlay("f-59m", opened + (59 * 60_000), "0042", "view", 1, "d0", 0), new EdgePlay("on-time", opened, "0042", "click", 2, "d1", 0) })
        {
            var first = new PushEventsRequest { Source = "plays" };
            first.Events.Add(opening.ToPush());
            var answer = await ingestion.PushEventsAsync(first);
            Assert.True(answer.Accepted == 1, answer.ToString());
            var at = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            log.Add(opening with { Arrival = at });
            watermark[opening.User] = Math.Max(watermark.GetValueOrDefault(opening.User, long.MinValue / 2), Math.Min(opening.Ts, at));
            WaitPast(at);
        }

        for (var round = 0; round < 40; round++)
        {
            WaitPast(lastLookupEnd);
            var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            var batch = new List<EdgePlay>();
            for (var i = random.Next(1, 6); i > 0; i--)
            {
                var user = users[random.Next(users.Length - 1)];
                var offset = random.NextDouble() switch
                {
                    < 0.15 => random.Next(60_000, 50 * 60_000),     // ahead of arrival, inside the 1h skew
                    < 0.75 => -random.Next(0, 10_000),
                    _ => -random.Next(10_000, 90_000),               // some beyond the 30s lateness
                };

                // The online watermark follows the entity's clock, the offline one the arrival recorded after the
                // push: a few milliseconds apart. Keep event times clear of that border so both decide alike.
                var ts = now + offset;
                var border = Math.Max(watermark.GetValueOrDefault(user, long.MinValue / 2), now) - 30_000;
                if (Math.Abs(ts - border) < 1_000 || Math.Abs(ts - (watermark.GetValueOrDefault(user, long.MinValue / 2) - 30_000)) < 1_000)
                {
                    ts -= 2_000;
                }

                future += offset > 0 ? 1 : 0;
                batch.Add(new EdgePlay($"{log.Count + batch.Count:D4}", ts, user, kinds[random.Next(kinds.Length)], random.Next(0, 400) / 8.0, $"d{random.Next(3)}", 0));
            }

            var request = new PushEventsRequest { Source = "plays" };
            request.Events.Add(batch.Select(e => e.ToPush()));
            var pushed = await ingestion.PushEventsAsync(request);
            Assert.Equal(0, pushed.Rejected);
            var arrival = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            late += pushed.Late;
            foreach (var play in batch)
            {
                log.Add(play with { Arrival = arrival });
                watermark[play.User] = Math.Max(watermark.GetValueOrDefault(play.User, long.MinValue / 2), Math.Min(play.Ts, arrival));
            }

            WaitPast(arrival);
            var lookup = new GetOnlineFeaturesRequest { EntityType = "user", FeatureService = "model" };
            lookup.EntityIds.Add(users);
            var before = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            var response = await serving.GetOnlineFeaturesAsync(lookup);
            var after = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() + 1;
            lookups.Add((before, after, response));
            lastLookupEnd = after;
        }

        Assert.True(future > 5, $"only {future} events ahead of their arrival");
        Assert.True(late > 0, "the log should hold events beyond the allowed lateness");

        var entities = Path.Combine(temp.Path, "entities.csv");
        var rows = new List<string> { "user_id,event_timestamp" };
        foreach (var (before, after, _) in lookups)
        {
            rows.AddRange(users.SelectMany(user => new[] { string.Create(CultureInfo.InvariantCulture, $"{user},{before}"), string.Create(CultureInfo.InvariantCulture, $"{user},{after}") }));
        }

        await File.WriteAllLinesAsync(entities, rows);
        var jsonLines = Path.Combine(temp.Path, "events.jsonl");
        await File.WriteAllLinesAsync(jsonLines, log.Select(e => e.ToJsonLine()));
        var csv = Path.Combine(temp.Path, "events.csv");
        await File.WriteAllTextAsync(csv, "event_id,ts,user_id,kind,seconds,meta,arrival\r\n" + string.Concat(log.Select(e => e.ToCsvRow())));
        var parquet = Path.Combine(temp.Path, "events.parquet");
        await Parquet.Serialization.ParquetSerializer.SerializeAsync(log.Select(e => e.ToParquetRow()), parquet);

        var sets = new List<List<Dictionary<string, ScalarValue>>>();
        foreach (var events in new[] { jsonLines, csv, parquet })
        {
            var output = Path.Combine(temp.Path, $"training-{Path.GetExtension(events)[1..]}.parquet");
            var build = await Ofs.RunAsync("training-set", "-d", definitions, "-s", "model", "--events", $"plays={events}", "--entities", entities, "--out", output, "--arrival-field", "arrival", "--output", "json");
            Assert.True(build.ExitCode == 0, build.ToString());
            Assert.True(build.Json.GetProperty("late").GetInt64() == late, $"{events}: {build}");
            sets.Add(await ReadTrainingSetAsync(output));
        }

        var compared = 0;
        var ambiguous = 0;
        var present = 0;
        for (var l = 0; l < lookups.Count; l++)
        {
            var response = lookups[l].Response;
            for (var u = 0; u < users.Length; u++)
            {
                foreach (var set in sets)
                {
                    var atBefore = set[(l * users.Length * 2) + (u * 2)];
                    var atAfter = set[(l * users.Length * 2) + (u * 2) + 1];
                    Assert.Equal(users[u], atBefore["user_id"].AsString);
                    for (var f = 0; f < response.FeatureNames.Count; f++)
                    {
                        var name = response.FeatureNames[f];
                        var served = response.Entities[u].Values[f];
                        var servedValue = ToScalar(served.Value);
                        var servedStatus = Cli.Commands.GetCommand.StatusName(served.Status);
                        Assert.True(
                            Matches(atBefore, name, servedValue, servedStatus) || Matches(atAfter, name, servedValue, servedStatus),
                            $"lookup {l} {users[u]} {name}: served {servedValue} {servedStatus}; training set {atBefore.GetValueOrDefault(name)} {atBefore[$"{name}:status"]} .. {atAfter.GetValueOrDefault(name)} {atAfter[$"{name}:status"]}");
                        ambiguous += Matches(atAfter, name, atBefore.GetValueOrDefault(name), atBefore[$"{name}:status"].AsString) ? 0 : 1;
                        present += servedStatus == "PRESENT" ? 1 : 0;
                        compared++;
                    }
                }
            }
        }

        Assert.Equal(lookups.Count * users.Length * 8 * sets.Count, compared);
        Assert.True(ambiguous * 20 < compared, $"{ambiguous} of {compared} values changed within a lookup's time range");
        Assert.True(present * 3 > compared, $"only {present} of {compared} values present");
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

    /// <summary>One event of the edge-case log, in every form it is sent or written in.</summary>
    private sealed record EdgePlay(string Id, long Ts, string User, string Kind, double Seconds, string Device, long Arrival)
    {
        public Event ToPush()
        {
            var play = Play(Id, User, Ts, Seconds, Kind);
            play.Fields["meta"] = new Value { StringValue = MetaJson };
            return play;
        }

        public string ToJsonLine() => JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["event_id"] = Id,
            ["ts"] = Ts,
            ["user_id"] = User,
            ["kind"] = Kind,
            ["seconds"] = Seconds,
            ["meta"] = new Dictionary<string, object> { ["device"] = Device, ["n"] = new[] { 1, 2 } },
            ["arrival"] = Arrival,
        });

        // Keys unquoted, so nothing but the reader's rules keeps 0042, 1e3 and true as they are.
        public string ToCsvRow() => string.Create(CultureInfo.InvariantCulture, $"{Id},{Ts},{User},{Quote(Kind)},{Seconds:R},{Quote(MetaJson)},{Arrival}\r\n");

        public ParquetPlay ToParquetRow() => new()
        {
            EventId = Id,
            Ts = Ts,
            UserId = User,
            Kind = Kind,
            Seconds = Seconds,
            Meta = new ParquetMeta { Device = Device, N = [1, 2] },
            Arrival = Arrival,
        };

        private string MetaJson => $$"""{"device":"{{Device}}","n":[1,2]}""";

        private static string Quote(string text) => $"\"{text.Replace("\"", "\"\"", StringComparison.Ordinal)}\"";
    }

    internal sealed class ParquetPlay
    {
        [JsonPropertyName("event_id")]
        public string EventId { get; set; } = "";

        [JsonPropertyName("ts")]
        public long Ts { get; set; }

        [JsonPropertyName("user_id")]
        public string UserId { get; set; } = "";

        [JsonPropertyName("kind")]
        public string Kind { get; set; } = "";

        [JsonPropertyName("seconds")]
        public double Seconds { get; set; }

        [JsonPropertyName("meta")]
        public ParquetMeta Meta { get; set; } = new();

        [JsonPropertyName("arrival")]
        public long Arrival { get; set; }
    }

    internal sealed class ParquetMeta
    {
        [JsonPropertyName("device")]
        public string Device { get; set; } = "";

        [JsonPropertyName("n")]
        public List<int> N { get; set; } = [];
    }
}
