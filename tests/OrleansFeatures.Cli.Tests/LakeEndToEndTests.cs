using System.Globalization;
using System.Text;
using System.Text.Json;
using Azure.Storage.Blobs;
using Grpc.Net.Client;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Offline.Capture;
using OrleansFeatures.Offline.PointInTime;
using OrleansFeatures.TestInfrastructure;
using OrleansFeatures.V1;
using static OrleansFeatures.Cli.Tests.Plays;

namespace OrleansFeatures.Cli.Tests;

/// <summary>
/// History in the lake: Event Hubs Capture files and an entity table in Blob storage (Azurite). <c>ofs backfill</c>
/// loads the Capture files into a new view of the real gateway, and <c>ofs training-set --shard i/N</c> runs read the
/// same files and write a partitioned dataset back to the lake; every cell equals what the gateway then serves.
/// </summary>
public sealed class LakeEndToEndTests
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
            allowed_lateness: 1d
            features:
              - { name: plays_1d, aggregation: count, window: 1d }
              - { name: seconds_1d, aggregation: sum, field: seconds, window: 1d }
              - { name: last_kind, latest: kind }
        feature_services:
          - name: model
            features: [plays:plays_1d, plays:seconds_1d, plays:last_kind]
        """;

    private static readonly string[] Users = ["u0", "u1", "u2", "u3", "u4", "never"];

    [Fact]
    public async Task Backfill_and_sharded_training_sets_run_straight_from_capture_files_in_blob_storage_and_agree_with_the_store()
    {
        using var temp = new TempDirectory();
        await using var azurite = await AzuriteServer.StartWithBlobAsync();
        await using var gateway = new GatewayProcess(temp.Path);
        await gateway.StartAsync();
        var address = gateway.GrpcAddress.ToString();
        var definitions = Path.Combine(temp.Path, "plays.yaml");
        await File.WriteAllTextAsync(definitions, Yaml);
        Assert.Equal(0, (await Ofs.RunAsync("apply", definitions, "--address", address)).ExitCode);

        // The hub's last hour, as Capture archived it: two partitions (keyed by user), ids and times sometimes as
        // application properties, keys sometimes only as the partition key, one id sent twice.
        var lake = $"http://127.0.0.1:{azurite.BlobPort}/devstoreaccount1";
        var container = new BlobContainerClient(azurite.ConnectionString, "history");
        await container.CreateIfNotExistsAsync();
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var partitions = new List<CaptureEvent>[] { [], [] };
        for (var i = 0; i < 200; i++)
        {
            var user = $"u{i % 5}";
            var ts = now - (60 * 60_000) + (i * 15_000);
            var body = new Dictionary<string, object> { ["event_id"] = i == 150 ? "p145" : $"p{i}", ["ts"] = ts, ["user_id"] = user, ["kind"] = i % 3 == 0 ? "click" : "view", ["seconds"] = (i % 9) + 0.5 };
            var properties = new Dictionary<string, object?>();
            switch (i % 4)
            {
                case 0:
                    properties["event_id"] = body["event_id"];
                    body.Remove("event_id");
                    break;
                case 1:
                    properties["event_time"] = ts;
                    body.Remove("ts");
                    break;
                case 2:
                    body.Remove("user_id");
                    break;
            }

            var partition = partitions[user[^1] % 2];
            partition.Add(new CaptureEvent(partition.Count, DateTimeOffset.FromUnixTimeMilliseconds(ts + 2_000), JsonSerializer.SerializeToUtf8Bytes(body), user, properties));
        }

        for (var p = 0; p < partitions.Length; p++)
        {
            using var file = new MemoryStream();
            CaptureWriter.Write(file, partitions[p]);
            await container.UploadBlobAsync($"capture/ns/plays/{p}/2026/12/07/18/00/00.avro", BinaryData.FromBytes(file.ToArray()));
        }

        var capture = $"{lake}/history/capture/ns/plays/*/**/*.avro";
        var backfill = await Ofs.RunAsync(
            "backfill", capture, "--source", "plays", "--storage-connection-string", azurite.ConnectionString, "--progress-file", Path.Combine(temp.Path, "progress"), "--address", address, "--output", "json");
        Assert.True(backfill.ExitCode == 0, backfill.ToString());
        Assert.Equal(199, backfill.Json.GetProperty("accepted").GetInt64());
        Assert.Equal(1, backfill.Json.GetProperty("duplicates").GetInt64());

        // The entity table in the lake too: one row per user, after the history.
        var at = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var table = string.Join('\n', Users.Select(u => string.Create(CultureInfo.InvariantCulture, $$"""{"user_id":"{{u}}","event_timestamp":{{at}},"label":{{u.Length}}}""")));
        await container.UploadBlobAsync("labels/rows.jsonl", BinaryData.FromString(table));

        const int Shards = 2;
        for (var shard = 0; shard < Shards; shard++)
        {
            var run = await Ofs.RunAsync(
                "training-set", "-d", definitions, "-s", "model", "--events", $"plays={capture}", "--entities", $"{lake}/history/labels/", "--out", $"{lake}/history/training",
                "--shard", $"{shard}/{Shards}", "--storage-connection-string", azurite.ConnectionString, "--temp-dir", temp.Path, "--output", "json");
            Assert.True(run.ExitCode == 0, run.ToString());
            Assert.Equal(200, run.Json.GetProperty("events_read").GetInt64());
            Assert.Equal(shard + 1, run.Json.GetProperty("shards_done").GetArrayLength());
        }

        var manifest = ShardManifest.Parse((await container.GetBlobClient($"training/{ShardManifest.FileName}").DownloadContentAsync()).Value.Content.ToString(), "manifest");
        Assert.Equal([0, 1], manifest.Done.Select(d => d.Shard));
        var rows = new Dictionary<string, Dictionary<string, ScalarValue>>();
        foreach (var entry in manifest.Done)
        {
            var local = Path.Combine(temp.Path, $"part-{entry.Shard}.parquet");
            await container.GetBlobClient($"training/{entry.File}").DownloadToAsync(local);
            var part = await ReadTrainingSetAsync(local);
            Assert.Equal(entry.Rows, part.Count);
            Assert.All(part, r => Assert.Equal(entry.Shard, EntityShard.Of(r["user_id"].AsString, Shards)));
            foreach (var row in part)
            {
                rows.Add(row["user_id"].AsString, row);
            }
        }

        Assert.Equal(Users.Order(StringComparer.Ordinal), rows.Keys.Order(StringComparer.Ordinal));
        Assert.Empty(Directory.EnumerateDirectories(temp.Path, "ofs-lake-*"));

        // What the store serves now, from the backfilled view, is every cell of the training set.
        using var channel = GrpcChannel.ForAddress(gateway.GrpcAddress);
        var lookup = new GetOnlineFeaturesRequest { EntityType = "user", FeatureService = "model" };
        lookup.EntityIds.Add(Users);
        var served = await new FeatureServing.FeatureServingClient(channel).GetOnlineFeaturesAsync(lookup);
        for (var u = 0; u < Users.Length; u++)
        {
            for (var f = 0; f < served.FeatureNames.Count; f++)
            {
                var name = served.FeatureNames[f];
                var value = served.Entities[u].Values[f];
                var row = rows[Users[u]];
                Assert.True(
                    Cli.Commands.GetCommand.StatusName(value.Status) == row[$"{name}:status"].AsString && ToScalar(value.Value) == row.GetValueOrDefault(name),
                    $"{Users[u]} {name}: served {ToScalar(value.Value)} {value.Status}, training set {row.GetValueOrDefault(name)} {row[$"{name}:status"]}");
            }
        }

        Assert.Equal(40, rows["u1"]["plays:plays_1d"].AsInt64);
    }
}
