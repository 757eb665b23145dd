using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Runtime;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Grains.Interfaces;
using OrleansFeatures.TestInfrastructure;
using static OrleansFeatures.Streaming.Tests.EventHubFixture;
using static OrleansFeatures.Streaming.Tests.KafkaFixture;

namespace OrleansFeatures.Streaming.Tests;

/// <summary>The native Event Hubs path: in-memory partitions behind Orleans' adapter factory, checkpoints and dead letters in Azurite.</summary>
[Trait("Speed", "Slow")] // the fast loop leaves it out (tests/README.md): it starts real servers or processes
public sealed class EventHubIngestionTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Events_from_a_hub_become_servable_features_and_are_checkpointed()
    {
        var hub = new InMemoryEventHub();
        await using var azurite = await AzuriteServer.StartAsync();
        using var temp = new TempDirectory();
        var options = Options(azurite, "servable");
        var expected = Send(hub, 0, 200, users: 10);
        await using var cluster = await StartAsync(hub, options, Path.Combine(temp.Path, "store.db"));
        var version = await ApplyDefinitionsAsync(cluster.Client);

        await AssertFeaturesAsync(cluster.Client, version, expected, Timeout);
        Send(hub, 200, 100, users: 10, expected);
        await AssertFeaturesAsync(cluster.Client, version, expected, Timeout);
        await Poll.UntilAsync(() => CheckpointedAsync(options), c => c == 300, Timeout, "checkpoints to cover all 300 events");
    }

    [Fact]
    public async Task A_restarted_silo_resumes_from_its_checkpoints_with_nothing_lost_or_doubled()
    {
        var hub = new InMemoryEventHub();
        await using var azurite = await AzuriteServer.StartAsync();
        using var temp = new TempDirectory();
        var database = Path.Combine(temp.Path, "store.db");
        var options = Options(azurite, "restart");
        var expected = Send(hub, 0, 300, users: 12);
        long version;
        long checkpointedBeforeKill;
        await using (var cluster = await StartAsync(hub, options, database))
        {
            version = await ApplyDefinitionsAsync(cluster.Client);
            await Poll.UntilAsync(() => CheckpointedAsync(options), c => c > 0, Timeout, "a first checkpoint");
            // Keep events flowing while the silo dies: some are applied and not yet durable, some not read at all.
            Send(hub, 300, 300, users: 12, expected);
            checkpointedBeforeKill = await CheckpointedAsync(options);
            foreach (var silo in cluster.GetActiveSilos().ToList())
            {
                await cluster.KillSiloAsync(silo);
            }
        }

        Send(hub, 600, 100, users: 12, expected);
        await using var restarted = await StartAsync(hub, options, database);
        await AssertFeaturesAsync(restarted.Client, version, expected, Timeout);
        await Poll.UntilAsync(() => CheckpointedAsync(options), c => c == 700, Timeout, "checkpoints to cover all 700 events");
        Assert.True(checkpointedBeforeKill > 0, "the restart should resume from a checkpoint, not from the oldest event");
    }

    [Fact]
    public async Task Two_silos_split_the_partitions_and_lose_nothing_when_one_is_killed()
    {
        var hub = new InMemoryEventHub();
        await using var azurite = await AzuriteServer.StartAsync();
        using var temp = new TempDirectory();
        var options = Options(azurite, "twosilos");
        var log = new CapturedLog();
        var expected = Send(hub, 0, 200, users: 16);
        await using var cluster = await EventHubFixture.StartAsync(hub, options, Path.Combine(temp.Path, "store.db"), silos: 2, log: log);
        var version = await ApplyDefinitionsAsync(cluster.Client);
        await AssertFeaturesAsync(cluster.Client, version, expected, Timeout);

        Send(hub, 200, 400, users: 16, expected);
        await cluster.KillSiloAsync(cluster.GetActiveSilos().Skip(1).First());
        await cluster.WaitForLivenessToStabilizeAsync(didKill: true);

        try
        {
            await AssertFeaturesAsync(cluster.Client, version, expected, TimeSpan.FromSeconds(240));
        }
        catch (Exception failure)
        {
            var summary = await DescribeCountsAsync(cluster.Client, version, expected) + Environment.NewLine + await DescribeCheckpointsAsync(options);
            var path = log.Save("eventhubs-" + nameof(Two_silos_split_the_partitions_and_lose_nothing_when_one_is_killed), summary);
            throw new Xunit.Sdk.XunitException($"{failure.Message}; silo logs and per-user counts in {path}");
        }
    }

    [Fact]
    public async Task Poison_events_go_to_the_dead_letter_table_and_neighbours_are_applied()
    {
        var hub = new InMemoryEventHub(partitions: 1);
        await using var azurite = await AzuriteServer.StartAsync();
        using var temp = new TempDirectory();
        var options = Options(azurite, "poison");
        hub.Send(Hub, "u1", Json("a", "u1", Base + 1, 2));
        hub.Send(Hub, "u1", "{not json");
        hub.Send(Hub, "u1", """{"event_id":"b","ts":1800000000002,"user_id":"u1","seconds":"many"}""");
        hub.Send(Hub, "u1", """{"ts":1800000000003,"user_id":"u1","seconds":1}""");
        hub.Send(Hub, "u1", Json("c", "u1", Base + 4, 3));
        hub.Send(Hub, "u1", """{"user_id":"u1","seconds":4}""", ("event_id", "d"), ("event_time", 1800000000005L));
        hub.Send(Hub, "u1", """{"event_id":"f","ts":4102444800000,"user_id":"u1","seconds":1}""");
        hub.Send(Hub, "u1", """{"event_id":"g","ts":1800000000006,"user_id":"u1","seconds":1e999}""");
        await using var cluster = await StartAsync(hub, options, Path.Combine(temp.Path, "store.db"));
        var version = await ApplyDefinitionsAsync(cluster.Client);

        await AssertFeaturesAsync(cluster.Client, version, new() { ["u1"] = (3, 9) }, Timeout);
        var dead = await Poll.UntilAsync(() => DeadLettersAsync(options), d => d.Count >= 5, Timeout, "five dead letters");

        Assert.Equal(5, dead.Count);
        Assert.Equal([1L, 2, 3, 6, 7], dead.Select(d => d.GetInt64("SequenceNumber")!.Value).Order());
        var reasons = dead.Select(d => d.GetString("Reason")).ToList();
        Assert.Contains(reasons, r => r.Contains("not valid JSON", StringComparison.Ordinal));
        Assert.Contains(reasons, r => r.Contains("'seconds'", StringComparison.Ordinal));
        Assert.Contains(reasons, r => r.Contains("no id", StringComparison.Ordinal));
        Assert.Contains(reasons, r => r.Contains("event 'f': event time 2100-01-01", StringComparison.Ordinal));
        Assert.Contains(reasons, r => r.Contains("event 'g': field 'seconds' is Infinity", StringComparison.Ordinal));
        Assert.All(dead, d =>
        {
            Assert.Equal(Hub, d.GetString("Hub"));
            Assert.Equal("0", d.GetString("Partition"));
            Assert.Equal("u1", d.GetString("EventPartitionKey"));
        });
        Assert.Equal("{not json", Encoding.UTF8.GetString(dead.Single(d => d.GetInt64("SequenceNumber") == 1).GetBinary("Body")));
        // Dead letters are recorded before the checkpoint passes them: all eight events end up covered.
        await Poll.UntilAsync(() => CheckpointedAsync(options), c => c == 8, Timeout, "the checkpoint to pass the dead letters");
    }

    [Fact]
    public async Task A_checkpoint_that_cannot_write_entity_state_never_advances_the_partition_checkpoint()
    {
        var hub = new InMemoryEventHub();
        await using var azurite = await AzuriteServer.StartAsync();
        using var temp = new TempDirectory();
        var options = Options(azurite, "stuck");
        var expected = Send(hub, 0, 60, users: 6);
        await using var cluster = await StartAsync(hub, options, Path.Combine(temp.Path, "store.db"), flakyStorage: true);
        var version = await ApplyDefinitionsAsync(cluster.Client);
        await AssertFeaturesAsync(cluster.Client, version, expected, Timeout);
        await Poll.UntilAsync(() => CheckpointedAsync(options), c => c == 60, Timeout, "the first 60 events checkpointed");

        var storage = cluster.Silos[0].ServiceProvider.GetRequiredService<FlakyStorage>();
        Interlocked.Exchange(ref storage.EntityWritesToFail, -1);
        Send(hub, 60, 60, users: 6);
        // Applied in memory (again after each failed write), never durable: the checkpoint must not pass them.
        await Poll.UntilAsync(() => Task.FromResult(storage.EntityWritesFailed), n => n >= 6, Timeout, "entity writes to fail");
        for (var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(3); DateTime.UtcNow < deadline; await Task.Delay(200))
        {
            Assert.Equal(60, await CheckpointedAsync(options));
        }
    }

    [Fact]
    public async Task A_bad_connection_string_fails_start_up_naming_the_setting()
    {
        var hub = new InMemoryEventHub();
        await using var azurite = await AzuriteServer.StartAsync();
        using var temp = new TempDirectory();
        var options = Options(azurite, "bad");
        options.ConnectionString = "Endpoint=contoso;SharedAccessKey";

        var error = await Assert.ThrowsAnyAsync<Exception>(() => StartAsync(hub, options, Path.Combine(temp.Path, "store.db")));

        var configuration = Unwrap(error);
        Assert.Contains("FeatureStore:EventHubs:ConnectionString", configuration.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("SharedAccessKey\"", configuration.Message, StringComparison.Ordinal);
    }

    private static OrleansConfigurationException Unwrap(Exception error)
    {
        for (Exception? current = error; current is not null; current = current.InnerException)
        {
            if (current is OrleansConfigurationException configuration)
            {
                return configuration;
            }

            if (current is AggregateException aggregate && aggregate.InnerExceptions.OfType<OrleansConfigurationException>().FirstOrDefault() is { } inner)
            {
                return inner;
            }
        }

        throw new Xunit.Sdk.XunitException($"expected an OrleansConfigurationException, got {error}");
    }
}
