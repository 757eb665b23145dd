using System.Text;
using Microsoft.Extensions.DependencyInjection;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Grains.Interfaces;
using OrleansFeatures.Streaming.Kafka;
using OrleansFeatures.TestInfrastructure;
using static OrleansFeatures.Streaming.Tests.KafkaFixture;

namespace OrleansFeatures.Streaming.Tests;

[Trait("Speed", "Slow")] // the fast loop leaves it out (tests/README.md): it starts real servers or processes
public sealed class KafkaIngestionTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Events_from_a_plain_producer_become_servable_features()
    {
        using var kafka = new MockKafkaCluster();
        using var temp = new TempDirectory();
        var expected = await ProduceAsync(kafka, 0, 200, users: 10);
        await using var cluster = await StartAsync(kafka, Path.Combine(temp.Path, "store.db"));
        var version = await ApplyDefinitionsAsync(cluster.Client);

        await AssertFeaturesAsync(cluster.Client, version, expected, Timeout);
        await ProduceAsync(kafka, 200, 100, users: 10, expected);
        await AssertFeaturesAsync(cluster.Client, version, expected, Timeout);
    }

    [Fact]
    public async Task A_message_feeding_two_entity_types_is_applied_to_both_exactly_once()
    {
        // Each message feeds a user and a room stream; both batches of one message once shared a sequence token,
        // and Orleans' cache then started the older stream's cursor past its own batch: silently lost events.
        const string users = """
            entity: user
            key: user_id
            sources:
              - name: plays
                fields: { event_id: string, ts: int64, user_id: string, room_id: string, seconds: double }
            feature_views:
              - name: plays
                source: plays
                allowed_lateness: 30d
                features:
                  - { name: n, aggregation: count, window: 30d }
            """;
        const string rooms = """
            entity: room
            key: room_id
            feature_views:
              - name: room_plays
                source: plays
                allowed_lateness: 30d
                features:
                  - { name: n, aggregation: count, window: 30d }
            """;
        using var kafka = new MockKafkaCluster();
        using var temp = new TempDirectory();
        var expected = new Dictionary<(string Type, string Id), long>();
        var sends = new List<Task>();
        for (var i = 0; i < 600; i++)
        {
            var (user, room) = ($"u{i % 37}", $"r{i % 11}");
            sends.Add(kafka.ProduceJsonAsync(Topic, user, $$"""{"event_id":"e{{i}}","ts":{{Base + i}},"user_id":"{{user}}","room_id":"{{room}}","seconds":1}"""));
            expected[("user", user)] = expected.GetValueOrDefault(("user", user)) + 1;
            expected[("room", room)] = expected.GetValueOrDefault(("room", room)) + 1;
        }

        await Task.WhenAll(sends);
        await using var cluster = await StartAsync(kafka, Path.Combine(temp.Path, "store.db"));
        var registry = cluster.Client.GetGrain<IRegistryGrain>(IRegistryGrain.DefaultKey);
        var applied = await registry.Apply([new DefinitionDocumentDto("users.yaml", users), new DefinitionDocumentDto("rooms.yaml", rooms)], dryRun: false);
        Assert.True(applied.Applied, string.Join("; ", applied.Errors.Select(e => e.Text).Concat(applied.Rejections)));
        var version = await registry.GetVersion();

        foreach (var ((type, id), count) in expected)
        {
            var grain = cluster.Client.GetGrain<IEntityGrain>(EntityKey.Format(type, id));
            var view = type == "user" ? "plays" : "room_plays";
            var values = await Poll.UntilAsync(
                () => grain.Read(version, new FeatureRefList([view], ["n"]), Base + 1_000_000_000),
                v => v[0].Status == FeatureStatusKind.Present && v[0].Value.AsInt64 >= count,
                Timeout,
                $"{type} {id} to count {count} events");
            Assert.Equal(ScalarValue.FromInt64(count), values[0].Value);
        }
    }

    [Fact]
    public async Task A_backlog_many_times_the_cache_size_is_applied_exactly_once()
    {
        // The smallest cache (100 batches, 10 per pull) against a backlog of 1,500 events over 300 users on 4
        // partitions: the pulling agent keeps filling the cache up to pressure and must purge its way on. With a
        // cache whose GetMaxAddCount() answers the room left, this stalls within seconds: at 0 the 10.4.2 agent
        // skips its read, and the purge inside it, for good.
        using var kafka = new MockKafkaCluster();
        using var temp = new TempDirectory();
        var expected = await ProduceAsync(kafka, 0, 1_500, users: 300);
        await using var cluster = await StartAsync(kafka, Path.Combine(temp.Path, "store.db"), configure: o => o.CacheSize = 100);
        var version = await ApplyDefinitionsAsync(cluster.Client);

        // Generous: under a loaded CI machine, declaring the killed silo dead and reactivating its grains elsewhere
        // has taken over a minute.
        await AssertFeaturesAsync(cluster.Client, version, expected, TimeSpan.FromSeconds(240));
    }

    [Fact]
    public async Task Poison_messages_go_to_the_dead_letter_topic_and_neighbours_are_applied()
    {
        using var kafka = new MockKafkaCluster();
        using var temp = new TempDirectory();
        await kafka.ProduceJsonAsync(Topic, "u1", Json("a", "u1", Base + 1, 2));
        await kafka.ProduceJsonAsync(Topic, "u1", "{not json");
        await kafka.ProduceJsonAsync(Topic, "u1", """{"event_id":"b","ts":1800000000002,"user_id":"u1","seconds":"many"}""");
        await kafka.ProduceJsonAsync(Topic, "u1", """{"ts":1800000000003,"user_id":"u1","seconds":1}""");
        await kafka.ProduceJsonAsync(Topic, "u1", Json("c", "u1", Base + 4, 3));
        await kafka.ProduceJsonAsync(Topic, "u1", """{"user_id":"u1","seconds":4}""", ("event_id", "d"), ("event_time", "1800000000005"));
        await kafka.ProduceJsonAsync(Topic, "u1", """{"event_id":"f","ts":4102444800000,"user_id":"u1","seconds":1}""");
        await kafka.ProduceJsonAsync(Topic, "u1", """{"event_id":"g","ts":1800000000006,"user_id":"u1","seconds":1e999}""");
        await using var cluster = await StartAsync(kafka, Path.Combine(temp.Path, "store.db"));
        var version = await ApplyDefinitionsAsync(cluster.Client);

        await AssertFeaturesAsync(cluster.Client, version, new() { ["u1"] = (3, 9) }, Timeout);
        var dead = kafka.ReadAll(DeadLetters, expected: 5, Timeout);

        Assert.Equal(5, dead.Count);
        var reasons = dead.Select(d => Header(d, KafkaDeadLetterSink.ReasonHeader)).ToList();
        Assert.Contains(reasons, r => r.Contains("not valid JSON", StringComparison.Ordinal));
        Assert.Contains(reasons, r => r.Contains("'seconds'", StringComparison.Ordinal));
        Assert.Contains(reasons, r => r.Contains("no id", StringComparison.Ordinal));
        Assert.Contains(reasons, r => r.Contains("event 'f': event time 2100-01-01", StringComparison.Ordinal));
        Assert.Contains(reasons, r => r.Contains("event 'g': field 'seconds' is Infinity", StringComparison.Ordinal));
        Assert.All(dead, d =>
        {
            Assert.Equal(Topic, Header(d, KafkaDeadLetterSink.TopicHeader));
            Assert.True(long.TryParse(Header(d, KafkaDeadLetterSink.OffsetHeader), out _));
        });
    }

    [Fact]
    public async Task A_restarted_silo_resumes_from_committed_offsets_with_nothing_lost_or_doubled()
    {
        using var kafka = new MockKafkaCluster();
        using var temp = new TempDirectory();
        var database = Path.Combine(temp.Path, "store.db");
        var expected = await ProduceAsync(kafka, 0, 300, users: 12);
        long version;
        await using (var cluster = await StartAsync(kafka, database))
        {
            version = await ApplyDefinitionsAsync(cluster.Client);
            var producing = ProduceAsync(kafka, 300, 300, users: 12, expected);
            // Stop abruptly while events are still flowing.
            await Poll.UntilAsync(
                () => cluster.Client.GetGrain<IEntityGrain>(EntityKey.Format("user", "u0")).Read(version, Features, Base + 1_000_000_000),
                v => v[0].Status == FeatureStatusKind.Present && v[0].Value.AsInt64 >= 10,
                Timeout,
                "some events to be applied");
            await producing;
            foreach (var silo in cluster.GetActiveSilos().ToList())
            {
                await cluster.KillSiloAsync(silo);
            }
        }

        await ProduceAsync(kafka, 600, 100, users: 12, expected);
        await using var restarted = await StartAsync(kafka, database);
        await AssertFeaturesAsync(restarted.Client, version, expected, Timeout);
    }

    [Fact]
    public async Task Two_silos_split_the_partitions_and_lose_nothing_when_one_is_killed()
    {
        using var kafka = new MockKafkaCluster();
        using var temp = new TempDirectory();
        var log = new CapturedLog();
        var expected = await ProduceAsync(kafka, 0, 200, users: 16);
        await using var cluster = await StartAsync(kafka, Path.Combine(temp.Path, "store.db"), silos: 2, log: log);
        var version = await ApplyDefinitionsAsync(cluster.Client);
        await AssertFeaturesAsync(cluster.Client, version, expected, Timeout);

        var producing = ProduceAsync(kafka, 200, 400, users: 16, expected);
        await cluster.KillSiloAsync(cluster.GetActiveSilos().Skip(1).First());
        await producing;
        await cluster.WaitForLivenessToStabilizeAsync(didKill: true);

        // Generous: under a loaded CI machine, declaring the killed silo dead and reactivating its grains elsewhere
        // has taken over a minute.
        try
        {
            await AssertFeaturesAsync(cluster.Client, version, expected, TimeSpan.FromSeconds(240));
        }
        catch (Exception failure)
        {
            var path = log.Save(nameof(Two_silos_split_the_partitions_and_lose_nothing_when_one_is_killed), await DescribeAsync(cluster.Client, kafka, version, expected));
            throw new Xunit.Sdk.XunitException($"{failure.Message}; silo logs and per-user counts in {path}");
        }
    }

    // What a failed exactness check saw: each user's count against brute force, and each partition's committed offset.
    private static async Task<string> DescribeAsync(IGrainFactory grains, MockKafkaCluster kafka, long version, Dictionary<string, (long Count, double Seconds)> expected)
    {
        var lines = new List<string> { await DescribeCountsAsync(grains, version, expected) };
        using var consumer = new Confluent.Kafka.ConsumerBuilder<byte[]?, byte[]?>(new Confluent.Kafka.ConsumerConfig { BootstrapServers = kafka.BootstrapServers, GroupId = "feature-store-tests" }).Build();
        foreach (var committed in consumer.Committed(Enumerable.Range(0, 4).Select(p => new Confluent.Kafka.TopicPartition(Topic, p)), TimeSpan.FromSeconds(10)))
        {
            var end = consumer.QueryWatermarkOffsets(committed.TopicPartition, TimeSpan.FromSeconds(10)).High;
            lines.Add($"partition {committed.Partition.Value}: committed {committed.Offset}, end {end}");
        }

        return string.Join(Environment.NewLine, lines);
    }

    [Fact]
    public async Task Entities_whose_checkpoint_writes_fail_get_their_events_again_and_count_each_once()
    {
        using var kafka = new MockKafkaCluster();
        using var temp = new TempDirectory();
        var (cluster, version, expected, storage) = await StartCommittedAsync(kafka, temp, events: 100, users: 8);
        await using var _ = cluster;

        // A few writes fail: each failing entity deactivates, loses what it applied, and gets it again from its
        // partition's ingester, whose retried checkpoint then succeeds.
        Interlocked.Exchange(ref storage.EntityWritesToFail, 3);
        await ProduceAsync(kafka, 100, 100, users: 8, expected);

        await Poll.UntilAsync(() => Task.FromResult(CommittedTotal(kafka)), c => c == 200, Timeout, "all 200 offsets committed");
        Assert.Equal(3, storage.EntityWritesFailed);
        await AssertFeaturesAsync(cluster.Client, version, expected, Timeout);
    }

    [Fact]
    public async Task A_checkpoint_that_cannot_write_never_lets_the_committed_offsets_pass_it()
    {
        using var kafka = new MockKafkaCluster();
        using var temp = new TempDirectory();
        var (cluster, _, expected, storage) = await StartCommittedAsync(kafka, temp, events: 60, users: 6);
        await using var _ = cluster;

        Interlocked.Exchange(ref storage.EntityWritesToFail, -1);
        await ProduceAsync(kafka, 60, 60, users: 6, expected);
        // Applied in memory (again after each failed write), never durable: the checkpoint's retries run out, and what
        // the entities held is gone until the partition is read again after a restart.
        await Poll.UntilAsync(() => Task.FromResult(storage.EntityWritesFailed), n => n >= 6 * 4, Timeout, "every entity's checkpoint attempts to fail");
        // Several checkpoint intervals, retries and commit loops while writes keep failing: nothing may commit.
        for (var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(4); DateTime.UtcNow < deadline; await Task.Delay(200))
        {
            Assert.Equal(60, CommittedTotal(kafka));
        }
    }

    [Fact]
    public async Task Events_an_entity_lost_with_an_earlier_activation_are_applied_again_before_a_later_receipt_is_checkpointed()
    {
        // The receipt of a new activation once stood for every kept batch of its entity: a checkpoint then wrote only
        // what the new activation had applied, and the batches the vanished one held unwritten were committed, lost.
        using var kafka = new MockKafkaCluster();
        using var temp = new TempDirectory();
        var expected = await ProduceAsync(kafka, 0, 20, users: 1);
        // No timer checkpoint during the test: the only one runs when the ingesters deactivate, below.
        await using var cluster = await StartAsync(kafka, Path.Combine(temp.Path, "store.db"), flakyStorage: true, ingestion: o => o.CheckpointInterval = TimeSpan.FromMinutes(10));
        var storage = cluster.Silos[0].ServiceProvider.GetRequiredService<FlakyStorage>();
        var version = await ApplyDefinitionsAsync(cluster.Client);
        await AssertFeaturesAsync(cluster.Client, version, expected, Timeout);

        // The activation that applied the first 20 events goes away without writing them (its flush fails).
        var user = cluster.Client.GetGrain<IEntityGrain>(EntityKey.Format("user", "u0"));
        Interlocked.Exchange(ref storage.EntityWritesToFail, -1);
        await cluster.DeactivateAsync(user);
        Interlocked.Exchange(ref storage.EntityWritesToFail, 0);
        Assert.True(storage.EntityWritesFailed >= 1);

        // A new activation applies the next 10; the checkpoint that follows must give it the first 20 again.
        await ProduceAsync(kafka, 20, 10, users: 1, expected);
        await Poll.UntilAsync(() => user.Read(version, Features, Base + 1_000_000_000), v => v[0].Status == FeatureStatusKind.Present, Timeout, "u0 to be active again");
        for (var partition = 0; partition < 4; partition++)
        {
            await cluster.DeactivateAsync(cluster.Client.GetGrain<IPartitionIngesterGrain>($"{Topic}/{partition}"));
        }

        await Poll.UntilAsync(() => Task.FromResult(CommittedTotal(kafka)), c => c == 30, Timeout, "all 30 offsets committed");
        await cluster.DeactivateAsync(user);
        await AssertFeaturesAsync(cluster.Client, version, expected, Timeout);
    }

    // A cluster on storage that can be told to fail, with its first events applied and their offsets committed.
    private static async Task<(Orleans.TestingHost.InProcessTestCluster Cluster, long Version, Dictionary<string, (long Count, double Seconds)> Expected, FlakyStorage Storage)> StartCommittedAsync(
        MockKafkaCluster kafka, TempDirectory temp, int events, int users)
    {
        var expected = await ProduceAsync(kafka, 0, events, users);
        var cluster = await StartAsync(kafka, Path.Combine(temp.Path, "store.db"), flakyStorage: true);
        var version = await ApplyDefinitionsAsync(cluster.Client);
        await AssertFeaturesAsync(cluster.Client, version, expected, Timeout);
        await Poll.UntilAsync(() => Task.FromResult(CommittedTotal(kafka)), c => c == events, Timeout, $"the first {events} offsets committed");
        return (cluster, version, expected, cluster.Silos[0].ServiceProvider.GetRequiredService<FlakyStorage>());
    }

    private static long CommittedTotal(MockKafkaCluster kafka)
    {
        using var consumer = new Confluent.Kafka.ConsumerBuilder<byte[]?, byte[]?>(new Confluent.Kafka.ConsumerConfig { BootstrapServers = kafka.BootstrapServers, GroupId = "feature-store-tests" }).Build();
        var committed = consumer.Committed(Enumerable.Range(0, 4).Select(p => new Confluent.Kafka.TopicPartition(Topic, p)), TimeSpan.FromSeconds(10));
        return committed.Sum(c => c.Offset.IsSpecial ? 0 : c.Offset.Value);
    }

    private static string Header(Confluent.Kafka.ConsumeResult<byte[]?, byte[]?> result, string name) =>
        result.Message.Headers.TryGetLastBytes(name, out var bytes) ? Encoding.UTF8.GetString(bytes) : "";
}
