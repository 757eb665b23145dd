using System.Globalization;
using Azure.Messaging.EventHubs;
using OrleansFeatures.Core.Definitions;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Grains.Interfaces;
using OrleansFeatures.Offline.Capture;
using OrleansFeatures.Offline.Files;
using OrleansFeatures.Offline.Lake;
using OrleansFeatures.Offline.PointInTime;
using OrleansFeatures.TestInfrastructure;
using static OrleansFeatures.Streaming.Tests.EventHubFixture;
using static OrleansFeatures.Streaming.Tests.KafkaFixture;

namespace OrleansFeatures.Streaming.Tests;

/// <summary>
/// Event Hubs Capture as the offline source: what a hub delivered live, archived as Capture's Avro files in Blob
/// storage (Azurite), gives a training set whose every cell is what the live Event Hubs path serves.
/// </summary>
[Trait("Speed", "Slow")] // the fast loop leaves it out (tests/README.md): it starts real servers or processes
public sealed class EventHubCaptureParityTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private const string Service = """

        feature_services:
          - name: model
            features: [plays:n, plays:seconds]
        """;

    [Fact]
    public async Task A_training_set_from_the_hubs_capture_files_in_blob_storage_equals_what_the_live_event_hubs_path_serves()
    {
        var hub = new InMemoryEventHub();
        await using var azurite = await AzuriteServer.StartWithBlobAsync();
        using var temp = new TempDirectory();
        var options = Options(azurite, "capture");

        // Producers as they are: ids or times as application properties, keys only as partition keys, repeats
        // (same id), events without a partition key (round robin) and poison.
        const int Count = 240;
        for (var i = 0; i < Count; i++)
        {
            // Every seventh event repeats the id of an earlier event of its user.
            var original = i % 7 == 3 ? i - 3 : i;
            var user = $"u{original % 9}";
            var id = $"e{original}";
            var ts = Base + (i * 60_000L);
            var seconds = (i % 5) + 0.25;
            var fields = new Dictionary<string, string>
            {
                ["event_id"] = $"\"{id}\"",
                ["ts"] = ts.ToString(CultureInfo.InvariantCulture),
                ["user_id"] = $"\"{user}\"",
                ["seconds"] = seconds.ToString(CultureInfo.InvariantCulture),
            };
            var properties = new List<(string, object)>();
            string? partitionKey = user;
            switch (i % 6)
            {
                case 0:
                    fields.Remove("event_id");
                    properties.Add(("event_id", id));
                    break;
                case 1:
                    fields.Remove("ts");
                    properties.Add(("event_time", ts));
                    break;
                case 2:
                    fields.Remove("user_id");
                    break;
                case 4 when i % 7 is not (0 or 3):
                    // Round robin, but not for an id sent twice: which copy counts is decided by arrival order, and
                    // the live path's order across partitions is the pulling agents' (docs/offline.md, "Capture").
                    partitionKey = null;
                    break;
            }

            var body = i % 40 == 39 ? "{not json" : "{" + string.Join(",", fields.Select(f => $"\"{f.Key}\":{f.Value}")) + "}";
            hub.Send(Hub, partitionKey, body, [.. properties]);
        }

        // The live path.
        await using var cluster = await StartAsync(hub, options, Path.Combine(temp.Path, "store.db"));
        var definitions = Yaml + Service;
        var registry = cluster.Client.GetGrain<IRegistryGrain>(IRegistryGrain.DefaultKey);
        var applied = await registry.Apply([new DefinitionDocumentDto("plays.yaml", definitions)], dryRun: false);
        Assert.True(applied.Applied, string.Join("; ", applied.Errors.Select(e => e.Text)));
        var version = await registry.GetVersion();
        await Poll.UntilAsync(() => CheckpointedAsync(options), c => c == Count, Timeout, $"checkpoints to cover all {Count} events");

        // Capture: each partition's events as Avro in Capture's layout, uploaded to Blob storage.
        var container = new Azure.Storage.Blobs.BlobContainerClient(azurite.ConnectionString, "capture");
        await container.CreateIfNotExistsAsync();
        foreach (var partition in await hub.GetPartitionIdsAsync(Hub, CancellationToken.None))
        {
            var received = (await hub.CreateReceiver(Hub, partition, null).ReceiveAsync(10_000, TimeSpan.Zero, CancellationToken.None)).ToList();
            using var file = new MemoryStream();
            CaptureWriter.Write(file, received.Select(e => new CaptureEvent(e.SequenceNumber, e.EnqueuedTime, e.EventBody.ToMemory(), e.PartitionKey, e.Properties.ToDictionary(p => p.Key, p => (object?)p.Value))));
            // The Avro writer closes its stream; a closed MemoryStream still gives its bytes.
            await container.UploadBlobAsync($"ns/{Hub}/{partition}/2026/12/07/19/00/00.avro", BinaryData.FromBytes(file.ToArray()));
        }

        // The training set, read straight from the lake: one row per user and instant.
        var users = Enumerable.Range(0, 9).Select(u => $"u{u}").Append("never").ToList();
        long[] instants = [Base - 1, Base + (30 * 60_000L), Base + (120 * 60_000L), Base + (Count * 60_000L), Base + 1_000_000_000];
        var entities = Path.Combine(temp.Path, "entities.jsonl");
        await File.WriteAllLinesAsync(entities, users.SelectMany(u => instants.Select(t => string.Create(CultureInfo.InvariantCulture, $$"""{"user_id":"{{u}}","event_timestamp":{{t}}}"""))));
        var lake = LakePath.TryParse($"http://127.0.0.1:{azurite.BlobPort}/devstoreaccount1/capture/ns/{Hub}/*/2026/**/*.avro")!;
        var staged = await new LakeStorage(azurite.ConnectionString).StageAsync(lake, Path.Combine(temp.Path, "staged"), CancellationToken.None);
        var output = Path.Combine(temp.Path, "training.parquet");
        var loaded = DefinitionLoader.Load([new DefinitionDocument("plays.yaml", definitions)]);
        var result = await new TrainingSetBuilder(new TrainingSetRequest
        {
            Definitions = loaded.Set!,
            FeatureService = "model",
            Events = [new EventInput(Hub, staged)],
            EntityTable = entities,
            Output = output,
            Limits = new EventLimits { MaxFutureSkew = TimeSpan.FromDays(3650) },
        }).BuildAsync();
        Assert.Equal(Count, result.EventsRead);
        Assert.Equal(Count / 40, result.EventsRejected);
        Assert.True(result.Duplicates > 0);

        var rows = new List<Dictionary<string, ScalarValue>>();
        await foreach (var row in TableReader.ReadAsync(output))
        {
            rows.Add(new Dictionary<string, ScalarValue>(row.Fields, StringComparer.Ordinal));
        }

        Assert.Equal(users.Count * instants.Length, rows.Count);
        var index = 0;
        foreach (var user in users)
        {
            var grain = cluster.Client.GetGrain<IEntityGrain>(EntityKey.Format("user", user));
            foreach (var instant in instants)
            {
                var row = rows[index++];
                var served = await grain.Read(version, Features, instant);
                foreach (var (feature, value) in new[] { ("plays:n", served[0]), ("plays:seconds", served[1]) })
                {
                    var where = $"{user} at {instant}: {feature}";
                    Assert.True(StatusName(value.Status) == row[$"{feature}:status"].AsString, $"{where} served {value.Status}, training set {row[$"{feature}:status"]}");
                    Assert.True(value.Value == row.GetValueOrDefault(feature), $"{where} served {value.Value}, training set {row.GetValueOrDefault(feature)}");
                }
            }
        }

        Assert.Contains(rows, r => r["plays:n:status"].AsString == "PRESENT" && r["plays:n"].AsInt64 > 10);
    }

    private static string StatusName(FeatureStatusKind status) => status switch
    {
        FeatureStatusKind.Present => "PRESENT",
        FeatureStatusKind.NotFound => "NOT_FOUND",
        _ => "EXPIRED",
    };
}
