using System.Globalization;
using System.Text;
using System.Text.Json;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Offline.Capture;
using OrleansFeatures.Offline.PointInTime;
using OrleansFeatures.TestInfrastructure;
using static OrleansFeatures.Offline.Tests.TrainingSetHarness;

namespace OrleansFeatures.Offline.Tests;

/// <summary>Event Hubs Capture as an input, and sharded runs.</summary>
public sealed class CaptureAndShardTests
{
    [Fact]
    public async Task Capture_files_give_the_rows_json_lines_with_the_enqueued_time_as_arrival_give()
    {
        var (events, rows) = TrainingSetBuilderTests.RandomLog(new Random(27), users: 8, eventCount: 400, rowCount: 120);
        var entityRows = rows.Select(r => Row(r.User, r.Time, r.Label)).ToList();

        using var json = new TempDirectory();
        var reference = events.Select(e => e.Json);
        var (expectedResult, expected) = await BuildAsync(json.Path, reference, entityRows, arrivalField: "arrival");

        // Each event as a producer might send it: the id or the time as an application property, or the key only as
        // the partition key; partitions by user, as an Event Hubs partition key spreads them.
        using var capture = new TempDirectory();
        var folder = Path.Combine(capture.Path, "ns", "plays");
        for (var partition = 0; partition < 2; partition++)
        {
            var sequence = 0L;
            var mine = events.Where(e => PartitionOf(e.User) == partition);
            CaptureWriter.Write(Path.Combine(folder, partition.ToString(CultureInfo.InvariantCulture), "2026", "01", "01", "00", "00", "00.avro"), mine.Select(e => AsProduced(e, sequence++)));
        }

        var (result, fromCapture) = await BuildAsync(capture.Path, [], entityRows, eventsFile: Path.Combine("ns", "plays"));
        Assert.True(expectedResult.Late > 0 && expectedResult.Duplicates > 0, "the log should hold late and duplicate events");
        Assert.Equal(expectedResult.EventsRouted, result.EventsRouted);
        Assert.Equal(expectedResult.Late, result.Late);
        Assert.Equal(expected.Count, fromCapture.Count);
        for (var i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i], fromCapture[i]);
        }
    }

    [Fact]
    public async Task A_capture_record_the_live_path_would_dead_letter_is_rejected_with_its_file_and_record()
    {
        using var temp = new TempDirectory();
        var file = Path.Combine(temp.Path, "capture", "0.avro");
        CaptureWriter.Write(file,
        [
            new CaptureEvent(0, DateTimeOffset.FromUnixTimeMilliseconds(1_767_225_600_000), Encoding.UTF8.GetBytes("""{"event_id":"a","ts":1767225600000,"user_id":"u1","kind":"click","seconds":1}""")),
            new CaptureEvent(1, DateTimeOffset.FromUnixTimeMilliseconds(1_767_225_601_000), Encoding.UTF8.GetBytes("""{"ts":1767225600000,"user_id":"u1","kind":"click","seconds":1}""")),
            new CaptureEvent(2, DateTimeOffset.FromUnixTimeMilliseconds(1_767_225_602_000), ReadOnlyMemory<byte>.Empty),
            new CaptureEvent(3, DateTimeOffset.FromUnixTimeMilliseconds(1_767_225_603_000), Encoding.UTF8.GetBytes("""{"event_id":"d","user_id":"u1","kind":"click","seconds":1}"""), "u1", new Dictionary<string, object?> { ["event_time"] = "yesterday" }),
        ]);
        var (result, rows) = await BuildAsync(temp.Path, [], [Row("u1", 1_767_225_700_000, 1)], eventsFile: "capture");

        Assert.Equal(4, result.EventsRead);
        Assert.Equal(3, result.EventsRejected);
        Assert.Contains(result.RejectedExamples, r => r.StartsWith($"{file}:2: event has no id", StringComparison.Ordinal));
        Assert.Contains(result.RejectedExamples, r => r.StartsWith($"{file}:3: event has no value", StringComparison.Ordinal));
        Assert.Contains(result.RejectedExamples, r => r.StartsWith($"{file}:4: property event_time 'yesterday' is not a time", StringComparison.Ordinal));
        Assert.Equal(1L, Assert.Single(rows)["plays:plays_1h"].AsInt64);
    }

    [Theory]
    [InlineData(3)]
    [InlineData(5)]
    public async Task Shards_together_give_the_rows_of_one_run_cell_for_cell_each_in_entity_table_order(int shards)
    {
        var (events, rows) = TrainingSetBuilderTests.RandomLog(new Random(shards), users: 20, eventCount: 500, rowCount: 200);
        using var temp = new TempDirectory();
        var eventsPath = Path.Combine(temp.Path, "events.jsonl");
        var entitiesPath = Path.Combine(temp.Path, "entities.jsonl");
        await File.WriteAllLinesAsync(eventsPath, events.Select(e => e.Json));
        await File.WriteAllLinesAsync(entitiesPath, rows.Select(r => Row(r.User, r.Time, r.Label)));

        var (_, whole) = await BuildAsync(null, Path.Combine(temp.Path, "whole.parquet"));
        var dataset = Path.Combine(temp.Path, "dataset");
        var parts = new List<Dictionary<string, ScalarValue>>[shards];
        long otherShards = 0;
        await Parallel.ForEachAsync(Enumerable.Range(0, shards), async (i, _) =>
        {
            var shard = new EntityShard(i, shards);
            var (result, part) = await BuildAsync(shard, Path.Combine(dataset, ShardManifest.PartOf(shard)));
            await ShardManifest.RecordAsync(dataset, null, shards, "model", new ShardEntry { Shard = i, File = ShardManifest.PartOf(shard), Rows = result.LabelRows }, CancellationToken.None);
            parts[i] = part;
            Interlocked.Add(ref otherShards, result.EventsOfOtherShards);
        });

        // Every row of the whole run is the next row of its key's shard, and no shard has rows left over.
        var next = new int[shards];
        foreach (var row in whole)
        {
            var shard = EntityShard.Of(row["user_id"].AsString, shards);
            Assert.True(next[shard] < parts[shard].Count, $"shard {shard} lacks a row");
            Assert.Equal(row, parts[shard][next[shard]++]);
        }

        Assert.Equal(parts.Select(p => p.Count), next);
        Assert.All(parts, p => Assert.NotEmpty(p));
        Assert.True(otherShards > 0);
        var manifest = ShardManifest.Parse(await File.ReadAllTextAsync(Path.Combine(dataset, ShardManifest.FileName)), dataset);
        Assert.Equal(shards, manifest.Shards);
        Assert.Equal(Enumerable.Range(0, shards), manifest.Done.Select(d => d.Shard));
        Assert.Equal(whole.Count, manifest.Done.Sum(d => d.Rows));

        async Task<(TrainingSetResult, List<Dictionary<string, ScalarValue>>)> BuildAsync(EntityShard? shard, string output)
        {
            var result = await new TrainingSetBuilder(new TrainingSetRequest
            {
                Definitions = Definitions(),
                FeatureService = "model",
                Events = [new EventInput("plays", eventsPath)],
                EntityTable = entitiesPath,
                Output = output,
                ArrivalField = "arrival",
                Partitions = 3,
                Shard = shard,
                RowGroupSize = 11,
            }).BuildAsync();
            return (result, await ReadAsync(output));
        }
    }

    [Fact]
    public async Task A_manifest_refuses_a_shard_of_a_run_with_another_shard_count()
    {
        using var temp = new TempDirectory();
        await ShardManifest.RecordAsync(temp.Path, null, 4, "model", new ShardEntry { Shard = 1, File = "f", Rows = 3 }, CancellationToken.None);
        var refused = await Assert.ThrowsAsync<InvalidDataException>(() => ShardManifest.RecordAsync(temp.Path, null, 8, "model", new ShardEntry { Shard = 1, File = "f", Rows = 3 }, CancellationToken.None));
        Assert.Contains("in 4 shards, not 'model' in 8", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_shard_is_parsed_from_i_of_n_and_keys_spread_over_every_shard()
    {
        Assert.Equal(new EntityShard(3, 16), EntityShard.Parse("3/16"));
        Assert.Throws<ArgumentException>(() => EntityShard.Parse("16/16"));
        Assert.Throws<ArgumentException>(() => EntityShard.Parse("-1/4"));
        Assert.Throws<ArgumentException>(() => EntityShard.Parse("3"));
        var counts = new int[8];
        for (var i = 0; i < 8000; i++)
        {
            counts[EntityShard.Of($"user-{i}", 8)]++;
        }

        Assert.All(counts, c => Assert.InRange(c, 850, 1150));
        Assert.Equal(EntityShard.Of("ü-42", 7), EntityShard.Of("ü-42", 7));
    }

    private static int PartitionOf(string user) => user[^1] % 2;

    private static CaptureEvent AsProduced(TrainingSetBuilderTests.LoggedEvent e, long sequence)
    {
        var body = new Dictionary<string, object>
        {
            ["event_id"] = e.Event.EventId,
            ["ts"] = e.Event.TimestampMs,
            ["user_id"] = e.User,
            ["kind"] = e.Event.Fields["kind"].AsString,
            ["seconds"] = e.Event.Fields["seconds"].AsDouble,
        };
        var properties = new Dictionary<string, object?>();
        switch (sequence % 4)
        {
            case 0:
                body.Remove("event_id");
                properties["event_id"] = e.Event.EventId;
                break;
            case 1:
                body.Remove("ts");
                properties["event_time"] = DateTimeOffset.FromUnixTimeMilliseconds(e.Event.TimestampMs).ToString("O", CultureInfo.InvariantCulture);
                break;
            case 2:
                body.Remove("user_id");
                break;
        }

        return new CaptureEvent(sequence, DateTimeOffset.FromUnixTimeMilliseconds(e.Arrival), JsonSerializer.SerializeToUtf8Bytes(body), e.User, properties);
    }
}
