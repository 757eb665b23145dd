using Microsoft.Extensions.DependencyInjection;
using Orleans.Runtime;
using Orleans.Storage;
using Orleans.TestingHost;
using OrleansFeatures.Core.Engine;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Grains.Definitions;
using OrleansFeatures.Grains.State;
using OrleansFeatures.Grains.Interfaces;
using OrleansFeatures.TestInfrastructure;

namespace OrleansFeatures.Grains.Tests;

public class EntityGrainTests
{
    private const long Now = 1_800_000_000_000;

    private static readonly FeatureRefList Features = new(
        ["activity", "activity", "activity"],
        ["last_kind", "clicks_1h", "amount_24h"]);

    [Fact]
    public async Task Events_are_applied_to_the_view_and_served()
    {
        using var temp = new TempDirectory();
        await using var cluster = await FeatureStoreCluster.StartAsync(FeatureStoreCluster.NewDatabasePath(temp));
        var version = await TestDefinitions.ApplyAsync(cluster.Client);
        var grain = cluster.Client.GetGrain<IEntityGrain>(EntityKey.Format("user", "u1"));

        var outcomes = await grain.ApplyEvents(version, TestDefinitions.Source,
        [
            TestDefinitions.Click("e1", Now - 60_000, "click", 2.5),
            TestDefinitions.Click("e2", Now - 30_000, "view", 1.0),
            TestDefinitions.Click("e3", Now - 10_000, "click", 0.5),
        ]);

        Assert.All(outcomes, o => Assert.Equal(EventOutcomeKind.Accepted, o.Kind));
        var values = await grain.Read(version, Features, Now);
        Assert.Equal(ScalarValue.FromString("click"), values[0].Value);
        Assert.Equal(Now - 10_000, values[0].EventTimeMs);
        Assert.Equal(ScalarValue.FromInt64(2), values[1].Value);
        Assert.Equal(ScalarValue.FromDouble(4.0), values[2].Value);
        Assert.All(values, v => Assert.Equal(FeatureStatusKind.Present, v.Status));
    }

    [Fact]
    public async Task Memory_storage_persists_state_with_the_binary_serializer()
    {
        // Orleans' memory storage defaults to a JSON serializer that cannot write the engine's values.
        await using var cluster = await FeatureStoreCluster.StartAsync(databasePath: null);
        var version = await TestDefinitions.ApplyAsync(cluster.Client);
        var grain = cluster.Client.GetGrain<IEntityGrain>(EntityKey.Format("user", "u1"));

        var outcomes = await grain.ApplyEvents(version, TestDefinitions.Source, [TestDefinitions.Click("e1", Now - 60_000, "click", 2.5)]);

        Assert.Equal(EventOutcomeKind.Accepted, Assert.Single(outcomes).Kind);
        Assert.Equal(ScalarValue.FromString("click"), (await grain.Read(version, Features, Now))[0].Value);
    }

    [Fact]
    public async Task A_lookup_is_answered_while_the_entitys_state_write_is_in_flight()
    {
        await using var held = await StartWithHeldApplyAsync();
        var read = held.Grain.Read(held.Version, Features, Now);

        // Answered from memory while the write waits: the applied event is visible, not yet acknowledged.
        var values = await read.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.False(held.Apply.IsCompleted);
        Assert.Equal(ScalarValue.FromString("view"), values[0].Value);
        Assert.Equal(ScalarValue.FromDouble(3.5), values[2].Value);

        Assert.Equal(EventOutcomeKind.Accepted, Assert.Single(await held.ReleaseAsync()).Kind);
    }

    [Fact]
    public async Task A_lookup_that_needs_newer_definitions_waits_for_the_write_in_flight()
    {
        await using var held = await StartWithHeldApplyAsync();

        // A new registry version (same view version, one more feature): the views are rebound, never mid-write.
        var newer = await TestDefinitions.ApplyAsync(held.Cluster.Client, TestDefinitions.Yaml.Replace(
            "      - { name: last_kind",
            "      - { name: views_1h, aggregation: count, window: 1h, where: \"kind == 'view'\" }\n      - { name: last_kind", StringComparison.Ordinal));
        Assert.True(newer > held.Version);
        var read = held.Grain.Read(newer, Features, Now);
        await Task.Delay(200);
        Assert.False(read.IsCompleted);

        Assert.Equal(EventOutcomeKind.Accepted, Assert.Single(await held.ReleaseAsync()).Kind);
        var values = await read.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(ScalarValue.FromString("view"), values[0].Value);
        Assert.Equal(ScalarValue.FromInt64(1), values[1].Value);
    }

    [Fact]
    public async Task Entity_without_events_reads_as_not_found()
    {
        using var temp = new TempDirectory();
        await using var cluster = await FeatureStoreCluster.StartAsync(FeatureStoreCluster.NewDatabasePath(temp));
        var version = await TestDefinitions.ApplyAsync(cluster.Client);

        var values = await cluster.Client.GetGrain<IEntityGrain>(EntityKey.Format("user", "nobody")).Read(version, Features, Now);

        Assert.All(values, v => Assert.Equal(FeatureStatusKind.NotFound, v.Status));
    }

    [Fact]
    public async Task Duplicate_event_id_is_applied_once()
    {
        using var temp = new TempDirectory();
        await using var cluster = await FeatureStoreCluster.StartAsync(FeatureStoreCluster.NewDatabasePath(temp));
        var version = await TestDefinitions.ApplyAsync(cluster.Client);
        var grain = cluster.Client.GetGrain<IEntityGrain>(EntityKey.Format("user", "u1"));

        await grain.ApplyEvents(version, TestDefinitions.Source, [TestDefinitions.Click("e1", Now - 1_000, "click", 1)]);
        var again = await grain.ApplyEvents(version, TestDefinitions.Source, [TestDefinitions.Click("e1", Now - 1_000, "click", 1)]);

        Assert.Equal(EventOutcomeKind.Duplicate, again[0].Kind);
        var values = await grain.Read(version, Features, Now);
        Assert.Equal(ScalarValue.FromInt64(1), values[1].Value);
    }

    [Fact]
    public async Task Event_older_than_the_allowed_lateness_is_reported_late_and_not_counted()
    {
        // The silo's clock caps the watermark (core/Engine/README.md), so this lateness test runs at the real time.
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        using var temp = new TempDirectory();
        await using var cluster = await FeatureStoreCluster.StartAsync(FeatureStoreCluster.NewDatabasePath(temp));
        var version = await TestDefinitions.ApplyAsync(cluster.Client);
        var grain = cluster.Client.GetGrain<IEntityGrain>(EntityKey.Format("user", "u1"));

        await grain.ApplyEvents(version, TestDefinitions.Source, [TestDefinitions.Click("e1", now, "view", 1)]);
        var late = await grain.ApplyEvents(version, TestDefinitions.Source, [TestDefinitions.Click("e0", now - 2 * 3_600_000, "view", 5)]);

        Assert.Equal(EventOutcomeKind.Late, late[0].Kind);
        var values = await grain.Read(version, Features, now);
        Assert.Equal(ScalarValue.FromDouble(1), values[2].Value);
    }

    [Fact]
    public async Task State_survives_a_silo_kill_and_restart()
    {
        using var temp = new TempDirectory();
        var database = FeatureStoreCluster.NewDatabasePath(temp);
        long version;
        await using (var cluster = await FeatureStoreCluster.StartAsync(database))
        {
            version = await TestDefinitions.ApplyAsync(cluster.Client);
            var grain = cluster.Client.GetGrain<IEntityGrain>(EntityKey.Format("user", "u7"));
            for (var i = 0; i < 20; i++)
            {
                var outcome = await grain.ApplyEvents(version, TestDefinitions.Source, [TestDefinitions.Click($"e{i}", Now - (i * 1_000), i % 2 == 0 ? "click" : "view", 1)]);
                Assert.Equal(EventOutcomeKind.Accepted, outcome[0].Kind);
            }

            // No graceful deactivation: whatever was acknowledged must already be on disk.
            foreach (var silo in cluster.GetActiveSilos().ToList())
            {
                await cluster.KillSiloAsync(silo);
            }
        }

        await using (var restarted = await FeatureStoreCluster.StartAsync(database))
        {
            Assert.Equal(version, await restarted.Client.GetGrain<IRegistryGrain>(IRegistryGrain.DefaultKey).GetVersion());
            var grain = restarted.Client.GetGrain<IEntityGrain>(EntityKey.Format("user", "u7"));
            var values = await grain.Read(version, Features, Now);
            Assert.Equal(ScalarValue.FromInt64(10), values[1].Value);
            Assert.Equal(ScalarValue.FromDouble(20), values[2].Value);
            Assert.Equal(ScalarValue.FromString("click"), values[0].Value);

            // Replays after the restart are still recognised as duplicates.
            var replay = await grain.ApplyEvents(version, TestDefinitions.Source, [TestDefinitions.Click("e3", Now - 3_000, "view", 1)]);
            Assert.Equal(EventOutcomeKind.Duplicate, replay[0].Kind);
        }
    }

    [Fact]
    public async Task Grain_reactivates_with_its_state_on_the_surviving_silo_when_its_silo_is_killed()
    {
        using var temp = new TempDirectory();
        await using var cluster = await FeatureStoreCluster.StartAsync(FeatureStoreCluster.NewDatabasePath(temp), silos: 2);
        var version = await TestDefinitions.ApplyAsync(cluster.Client);
        var keys = Enumerable.Range(0, 12).Select(i => EntityKey.Format("user", $"k{i}")).ToList();
        foreach (var key in keys)
        {
            await cluster.Client.GetGrain<IEntityGrain>(key).ApplyEvents(version, TestDefinitions.Source, [TestDefinitions.Click($"{key}-1", Now - 5_000, "click", 3)]);
        }

        var secondary = cluster.GetActiveSilos().Skip(1).First();
        await cluster.KillSiloAsync(secondary);
        await cluster.WaitForLivenessToStabilizeAsync(didKill: true);

        foreach (var key in keys)
        {
            var values = await cluster.Client.GetGrain<IEntityGrain>(key).Read(version, Features, Now);
            Assert.Equal(ScalarValue.FromInt64(1), values[1].Value);
            Assert.Equal(ScalarValue.FromDouble(3), values[2].Value);
        }
    }

    /// <summary>An entity with one event applied ("e1", a click of 2.5) whose next apply ("e2", a view of 1.0) is held at its main state write.</summary>
    private static async Task<HeldApply> StartWithHeldApplyAsync()
    {
        var cluster = await FeatureStoreCluster.StartWithControlledStorageAsync();
        var version = await TestDefinitions.ApplyAsync(cluster.Client);
        var grain = cluster.Client.GetGrain<IEntityGrain>(EntityKey.Format("user", "u1"));
        await grain.ApplyEvents(version, TestDefinitions.Source, [TestDefinitions.Click("e1", Now - 60_000, "click", 2.5)]);
        var storage = FeatureStoreCluster.ControlledStorage(cluster);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        storage.HoldMainWrites = release;
        var apply = grain.ApplyEvents(version, TestDefinitions.Source, [TestDefinitions.Click("e2", Now - 30_000, "view", 1.0)]);
        await storage.MainWriteHeld.Task.WaitAsync(TimeSpan.FromSeconds(10));
        return new HeldApply(cluster, version, grain, apply, storage, release);
    }

    private sealed record HeldApply(InProcessTestCluster Cluster, long Version, IEntityGrain Grain, Task<EventOutcome[]> Apply, ControlledStorage Storage, TaskCompletionSource Release) : IAsyncDisposable
    {
        /// <summary>Lets the held write (and any later one) through and returns the apply's outcomes.</summary>
        public async Task<EventOutcome[]> ReleaseAsync()
        {
            Storage.HoldMainWrites = null;
            Release.SetResult();
            return await Apply;
        }

        public ValueTask DisposeAsync() => Cluster.DisposeAsync();
    }
}
