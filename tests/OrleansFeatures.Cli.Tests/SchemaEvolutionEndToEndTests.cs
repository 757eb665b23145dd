using Grpc.Net.Client;
using OrleansFeatures.Core.Events;
using OrleansFeatures.TestInfrastructure;
using OrleansFeatures.V1;
using static OrleansFeatures.Cli.Tests.Plays;

namespace OrleansFeatures.Cli.Tests;

/// <summary>
/// Definitions change under a running store (a new source field, a new feature, then a new view version rebuilt by
/// a backfill); after each change the online values equal a training set built from the current definitions.
/// </summary>
public sealed class SchemaEvolutionEndToEndTests
{
    private const string Version1 = """
        entity: user
        key: user_id
        sources:
          - name: plays
            fields: { event_id: string, ts: int64, user_id: string, seconds: double }
        feature_views:
          - name: plays
            source: plays
            allowed_lateness: 1h
            features:
              - { name: plays_1h, aggregation: count, window: 1h }
              - { name: seconds_1h, aggregation: sum, field: seconds, window: 1h }
        feature_services:
          - name: model
            features: [plays:plays_1h, plays:seconds_1h]
        """;

    // A new source field and a new feature that reads it: both non-breaking.
    private const string Version2 = """
        entity: user
        key: user_id
        sources:
          - name: plays
            fields: { event_id: string, ts: int64, user_id: string, seconds: double, device: string }
        feature_views:
          - name: plays
            source: plays
            allowed_lateness: 1h
            features:
              - { name: plays_1h, aggregation: count, window: 1h }
              - { name: seconds_1h, aggregation: sum, field: seconds, window: 1h }
              - { name: mobile_1h, aggregation: count, window: 1h, where: "device == 'mobile'" }
        feature_services:
          - name: model
            features: [plays:plays_1h, plays:seconds_1h, plays:mobile_1h]
        """;

    [Fact]
    public async Task Online_values_equal_the_training_set_after_each_definition_change()
    {
        using var temp = new TempDirectory();
        await using var gateway = new GatewayProcess(temp.Path);
        await gateway.StartAsync();
        var address = gateway.GrpcAddress.ToString();
        using var channel = GrpcChannel.ForAddress(gateway.GrpcAddress);
        var ingestion = new FeatureIngestion.FeatureIngestionClient(channel);
        var serving = new FeatureServing.FeatureServingClient(channel);
        var definitions = Path.Combine(temp.Path, "plays.yaml");
        var history = Path.Combine(temp.Path, "history.jsonl");
        var lines = new List<string>();
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

        await ApplyAsync(definitions, Version1, address);
        await PushAsync(ingestion, Enumerable.Range(0, 30).Select(i => Play($"a{i}", $"u{i % 3}", now - (40 * 60_000) + (i * 60_000), i)), lines);
        await AssertParityAsync(serving, temp.Path, definitions, history, lines);

        await ApplyAsync(definitions, Version2, address);
        await PushAsync(ingestion, Enumerable.Range(0, 30).Select(i => Play($"b{i}", $"u{i % 3}", now - (9 * 60_000) + (i * 10_000), i, device: i % 2 == 0 ? "mobile" : "tv")), lines);
        await AssertParityAsync(serving, temp.Path, definitions, history, lines);

        // A breaking change (a new window) needs a new view version, which starts empty online: a backfill of the
        // history rebuilds it.
        var version3 = Version2.Replace("allowed_lateness: 1h", "version: 2\n    allowed_lateness: 1h", StringComparison.Ordinal)
            .Replace("{ name: plays_1h, aggregation: count, window: 1h }", "{ name: plays_1h, aggregation: count, window: 2h }", StringComparison.Ordinal);
        await ApplyAsync(definitions, version3, address);
        await File.WriteAllLinesAsync(history, lines);
        var backfill = await Ofs.RunAsync("backfill", history, "--source", "plays", "--address", address, "--output", "json");
        Assert.True(backfill.ExitCode == 0, backfill.ToString());
        Assert.Equal(60, backfill.Json.GetProperty("accepted").GetInt64());
        await AssertParityAsync(serving, temp.Path, definitions, history, lines);
    }

    private static async Task ApplyAsync(string path, string yaml, string address)
    {
        await File.WriteAllTextAsync(path, yaml);
        var apply = await Ofs.RunAsync("apply", path, "--address", address);
        Assert.True(apply.ExitCode == 0, apply.ToString());
    }

    /// <summary>Looks up every user, then builds a training set at the instants around the lookup from the current definitions.</summary>
    private static async Task AssertParityAsync(FeatureServing.FeatureServingClient serving, string folder, string definitions, string history, List<string> lines)
    {
        var lookup = new GetOnlineFeaturesRequest { EntityType = "user", FeatureService = "model" };
        lookup.EntityIds.Add(["u0", "u1", "u2"]);
        var before = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var response = await serving.GetOnlineFeaturesAsync(lookup);
        var after = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() + 1;

        await File.WriteAllLinesAsync(history, lines);
        var entities = Path.Combine(folder, "entities.jsonl");
        await File.WriteAllLinesAsync(entities, lookup.EntityIds.SelectMany(u => new[] { before, after }.Select(t => string.Create(System.Globalization.CultureInfo.InvariantCulture, $$"""{"user_id":"{{u}}","event_timestamp":{{t}}}"""))));
        var output = Path.Combine(folder, $"training-{Guid.NewGuid():N}.parquet");
        var build = await Ofs.RunAsync("training-set", "-d", definitions, "-s", "model", "--events", $"plays={history}", "--entities", entities, "--out", output);
        Assert.True(build.ExitCode == 0, build.ToString());
        var rows = await ReadTrainingSetAsync(output);

        for (var u = 0; u < 3; u++)
        {
            for (var f = 0; f < response.FeatureNames.Count; f++)
            {
                var name = response.FeatureNames[f];
                var value = ToScalar(response.Entities[u].Values[f].Value);
                Assert.True(
                    rows[2 * u].GetValueOrDefault(name) == value || rows[(2 * u) + 1].GetValueOrDefault(name) == value,
                    $"u{u} {name}: served {value}, training set {rows[2 * u].GetValueOrDefault(name)} .. {rows[(2 * u) + 1].GetValueOrDefault(name)}");
            }
        }
    }
}
