using System.Globalization;
using System.Text.Json;
using OrleansFeatures.Core.Definitions;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Offline.Files;
using OrleansFeatures.Offline.PointInTime;

namespace OrleansFeatures.Offline.Tests;

/// <summary>Writes events and entity rows as JSON lines, builds a training set, and reads the Parquet output back.</summary>
internal static class TrainingSetHarness
{
    public const string Yaml = """
        entity: user
        key: user_id
        sources:
          - name: plays
            fields: { event_id: string, ts: int64, user_id: string, kind: string, seconds: double }
        feature_views:
          - name: plays
            source: plays
            ttl: 2h
            allowed_lateness: 10m
            features:
              - { name: last_kind, latest: kind }
              - { name: plays_1h, aggregation: count, window: 1h }
              - { name: clicks_1h, aggregation: count, window: 1h, where: "kind == 'click'" }
              - { name: seconds_1h, aggregation: sum, field: seconds, window: 1h }
              - { name: max_seconds_1h, aggregation: max, field: seconds, window: 1h }
        feature_services:
          - name: model
            features: [plays:plays_1h, plays:clicks_1h, plays:seconds_1h, plays:max_seconds_1h, plays:last_kind]
            defaults: { "plays:plays_1h": 0 }
        """;

    public static DefinitionSet Definitions(string yaml = Yaml)
    {
        var loaded = DefinitionLoader.Load([new DefinitionDocument("plays.yaml", yaml)]);
        Assert.True(loaded.Succeeded, string.Join("\n", loaded.Errors));
        return loaded.Set!;
    }

    public static string Event(string id, string user, long ts, string kind, double seconds, long? arrival = null) =>
        JsonSerializer.Serialize(arrival is { } at
            ? new Dictionary<string, object> { ["event_id"] = id, ["ts"] = ts, ["user_id"] = user, ["kind"] = kind, ["seconds"] = seconds, ["arrival"] = at }
            : new Dictionary<string, object> { ["event_id"] = id, ["ts"] = ts, ["user_id"] = user, ["kind"] = kind, ["seconds"] = seconds });

    public static string Row(string user, long timestampMs, long label) =>
        string.Create(CultureInfo.InvariantCulture, $"{{\"user_id\":\"{user}\",\"event_timestamp\":{timestampMs},\"label\":{label}}}");

    public static async Task<(TrainingSetResult Result, List<Dictionary<string, ScalarValue>> Rows)> BuildAsync(
        string folder,
        IEnumerable<string> events,
        IEnumerable<string> rows,
        string? arrivalField = null,
        int partitions = 4,
        DefinitionSet? definitions = null,
        string eventsFile = "events.jsonl",
        string entitiesFile = "entities.jsonl")
    {
        var eventsPath = Path.Combine(folder, eventsFile);
        if (!File.Exists(eventsPath) && !Directory.Exists(eventsPath))
        {
            await File.WriteAllLinesAsync(eventsPath, events);
        }

        var entitiesPath = Path.Combine(folder, entitiesFile);
        if (!File.Exists(entitiesPath))
        {
            await File.WriteAllLinesAsync(entitiesPath, rows);
        }

        var output = Path.Combine(folder, $"training-{Guid.NewGuid():N}.parquet");
        var result = await new TrainingSetBuilder(new TrainingSetRequest
        {
            Definitions = definitions ?? Definitions(),
            FeatureService = "model",
            Events = [new EventInput("plays", eventsPath)],
            EntityTable = entitiesPath,
            Output = output,
            ArrivalField = arrivalField,
            Partitions = partitions,
            RowGroupSize = 7,
        }).BuildAsync();
        return (result, await ReadAsync(output));
    }

    public static async Task<List<Dictionary<string, ScalarValue>>> ReadAsync(string parquet)
    {
        var rows = new List<Dictionary<string, ScalarValue>>();
        await foreach (var row in TableReader.ReadAsync(parquet))
        {
            rows.Add(new Dictionary<string, ScalarValue>(row.Fields, StringComparer.Ordinal));
        }

        return rows;
    }
}
