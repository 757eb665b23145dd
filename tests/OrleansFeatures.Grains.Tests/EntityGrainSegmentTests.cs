using Microsoft.Extensions.DependencyInjection;
using Orleans.Runtime;
using Orleans.Storage;
using Orleans.TestingHost;
using OrleansFeatures.Core.Engine;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Grains.Definitions;
using OrleansFeatures.Grains.Hosting;
using OrleansFeatures.Grains.Interfaces;
using OrleansFeatures.Grains.State;
using OrleansFeatures.TestInfrastructure;

namespace OrleansFeatures.Grains.Tests;

/// <summary>
/// De-duplication ids sealed into segment states (written before the main state that references them): exact counts
/// and duplicates across restarts, expired segments deleted, unreferenced segments ignored.
/// </summary>
public class EntityGrainSegmentTests
{
    private const long Now = 1_800_000_000_000;
    private const string View = "activity";
    private const int Batch = 100;

    private static readonly FeatureRefList Features = new([View, View, View], ["last_kind", "clicks_1h", "amount_24h"]);

    [Fact]
    public async Task State_with_sealed_segments_survives_a_silo_kill_exactly()
    {
        using var temp = new TempDirectory();
        var database = FeatureStoreCluster.NewDatabasePath(temp);
        const int events = 1_300;
        const string key = "user/busy";
        long version;
        await using (var cluster = await FeatureStoreCluster.StartAsync(database))
        {
            version = await TestDefinitions.ApplyAsync(cluster.Client);
            var grain = cluster.Client.GetGrain<IEntityGrain>(key);
            await ApplyInBatchesAsync(grain, version, events);

            // Seals after batches 6 and 12 (600 open ids each time); the main state holds only the last 100 ids.
            var main = await ReadMainAsync(cluster, key);
            Assert.Equal([0, 1], main.SeenSegments[View].Segments.Select(s => s.Number));
            Assert.Equal(2, main.SeenSegments[View].NextNumber);
            Assert.Equal(Batch, FeatureViewState.ReadSnapshot(main.Views[View]).SeenEvents.Count);
            Assert.Equal(600, (await ReadSegmentAsync(cluster, key, 0))!.Count);

            foreach (var silo in cluster.GetActiveSilos().ToList())
            {
                await cluster.KillSiloAsync(silo);
            }
        }

        await using (var restarted = await FeatureStoreCluster.StartAsync(database))
        {
            var grain = restarted.Client.GetGrain<IEntityGrain>(key);
            await AssertCountsAsync(grain, version, events);

            // Replays from both segments and from the open ids are duplicates, in one batch and one by one.
            var replay = await grain.ApplyEvents(version, TestDefinitions.Source, [EventAt(0, events), EventAt(599, events), EventAt(700, events), EventAt(1_299, events)]);
            Assert.All(replay, o => Assert.Equal(EventOutcomeKind.Duplicate, o.Kind));
            await AssertCountsAsync(grain, version, events);
        }
    }

    [Fact]
    public async Task Expired_segments_are_dropped_from_the_state_and_deleted()
    {
        // The silo's clock caps the watermark (core/Engine/README.md), so this lateness test runs at the real time.
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        using var temp = new TempDirectory();
        await using var cluster = await FeatureStoreCluster.StartAsync(FeatureStoreCluster.NewDatabasePath(temp));
        var version = await TestDefinitions.ApplyAsync(cluster.Client);
        const string key = "user/expiring";
        var grain = cluster.Client.GetGrain<IEntityGrain>(key);
        var old = Enumerable.Range(0, 600).Select(i => TestDefinitions.Click($"old-{i}", now - (3 * 3_600_000) + i, "click", 1)).ToArray();
        await grain.ApplyEvents(version, TestDefinitions.Source, old);
        Assert.NotNull(await ReadSegmentAsync(cluster, key, 0));

        // Moves the lateness bound past every id of segment 0.
        await grain.ApplyEvents(version, TestDefinitions.Source, [TestDefinitions.Click("new", now, "click", 1)]);

        Assert.Empty((await ReadMainAsync(cluster, key)).SeenSegments[View].Segments);
        Assert.Null(await ReadSegmentAsync(cluster, key, 0));
        Assert.Equal(EventOutcomeKind.Late, (await grain.ApplyEvents(version, TestDefinitions.Source, [old[0]]))[0].Kind);
    }

    [Fact]
    public async Task A_segment_whose_delete_failed_is_deleted_after_the_next_write()
    {
        // The silo's clock caps the watermark (core/Engine/README.md), so this lateness test runs at the real time.
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await using var cluster = await FeatureStoreCluster.StartWithControlledStorageAsync();
        var version = await TestDefinitions.ApplyAsync(cluster.Client);
        const string key = "user/leftover";
        var grain = cluster.Client.GetGrain<IEntityGrain>(key);
        var old = Enumerable.Range(0, 600).Select(i => TestDefinitions.Click($"old-{i}", now - (3 * 3_600_000) + i, "click", 1)).ToArray();
        await grain.ApplyEvents(version, TestDefinitions.Source, old);
        var storage = FeatureStoreCluster.ControlledStorage(cluster);

        // Segment 0 expires with this write, but its delete fails: the write records it as still to delete.
        storage.FailSegmentDeletes = true;
        await grain.ApplyEvents(version, TestDefinitions.Source, [TestDefinitions.Click("new-1", now, "click", 1)]);
        Assert.NotNull(await ReadSegmentAsync(cluster, key, 0));
        var main = await ReadMainAsync(cluster, key);
        Assert.Empty(main.SeenSegments[View].Segments);
        Assert.Equal([EntityStateStore.SegmentStateName(View, 0)], main.SegmentsToDelete);

        storage.FailSegmentDeletes = false;
        await grain.ApplyEvents(version, TestDefinitions.Source, [TestDefinitions.Click("new-2", now, "click", 1)]);
        Assert.Null(await ReadSegmentAsync(cluster, key, 0));
        await grain.ApplyEvents(version, TestDefinitions.Source, [TestDefinitions.Click("new-3", now, "click", 1)]);
        Assert.Empty((await ReadMainAsync(cluster, key)).SegmentsToDelete);
    }

    [Fact]
    public async Task A_segment_written_without_its_main_write_is_ignored_and_then_overwritten()
    {
        using var temp = new TempDirectory();
        var database = FeatureStoreCluster.NewDatabasePath(temp);
        const string key = "user/crashed";
        long version;
        await using (var cluster = await FeatureStoreCluster.StartAsync(database))
        {
            version = await TestDefinitions.ApplyAsync(cluster.Client);
            await ApplyInBatchesAsync(cluster.Client.GetGrain<IEntityGrain>(key), version, 600);

            // What a crash after step 1 of a persist leaves: segment 1 is durable, the main state never referenced it.
            // Its ids were never acknowledged, so a replay of them must be accepted.
            var orphan = new FeatureViewState((await cluster.Silos[0].ServiceProvider.GetRequiredService<DefinitionCatalog>().EnsureAtLeastAsync(version)).FindView(View)!);
            orphan.Apply(TestDefinitions.Click("unacknowledged", Now, "click", 1));
            await Storage(cluster).WriteStateAsync(EntityStateStore.SegmentStateName(View, 1), GrainId.Create("entity", key),
                new GrainState<SeenSegmentState>(new SeenSegmentState { Data = orphan.EncodeSeenSegment(out _, out _) }));
            foreach (var silo in cluster.GetActiveSilos().ToList())
            {
                await cluster.KillSiloAsync(silo);
            }
        }

        await using (var restarted = await FeatureStoreCluster.StartAsync(database))
        {
            var grain = restarted.Client.GetGrain<IEntityGrain>(key);
            await AssertCountsAsync(grain, version, 600);
            Assert.Equal(EventOutcomeKind.Accepted, (await grain.ApplyEvents(version, TestDefinitions.Source, [TestDefinitions.Click("unacknowledged", Now, "click", 1)]))[0].Kind);

            // The next seal takes number 1 again and overwrites the leftover (its ETag is read first).
            var more = Enumerable.Range(0, 600).Select(i => TestDefinitions.Click($"more-{i}", Now - 500_000 + i, "view", 1)).ToArray();
            Assert.All(await grain.ApplyEvents(version, TestDefinitions.Source, more), o => Assert.Equal(EventOutcomeKind.Accepted, o.Kind));
            var segment1 = await ReadSegmentAsync(restarted, key, 1);
            Assert.Equal(601, segment1!.Count);
            Assert.Contains(segment1, e => e.IdHash == FeatureViewState.HashEventId("unacknowledged"));
            Assert.Equal([0, 1], (await ReadMainAsync(restarted, key)).SeenSegments[View].Segments.Select(s => s.Number));
        }
    }

    [Fact]
    public async Task Memory_storage_keeps_segments_across_reactivation()
    {
        await using var cluster = await FeatureStoreCluster.StartAsync(databasePath: null);
        var version = await TestDefinitions.ApplyAsync(cluster.Client);
        const string key = "user/in-memory";
        const int events = 700;
        await ApplyInBatchesAsync(cluster.Client.GetGrain<IEntityGrain>(key), version, events);
        Assert.Equal(600, (await ReadSegmentAsync(cluster, key, 0))!.Count);

        await cluster.Client.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);

        var grain = cluster.Client.GetGrain<IEntityGrain>(key);
        await AssertCountsAsync(grain, version, events);
        var replay = await grain.ApplyEvents(version, TestDefinitions.Source, [EventAt(3, events), EventAt(650, events)]);
        Assert.All(replay, o => Assert.Equal(EventOutcomeKind.Duplicate, o.Kind));
    }

    [Theory]
    [InlineData("segment")]
    [InlineData("main")]
    public async Task A_write_that_fails_while_sealing_fails_the_call_and_the_replay_counts_once(string failing)
    {
        await using var cluster = await FeatureStoreCluster.StartWithControlledStorageAsync();
        var version = await TestDefinitions.ApplyAsync(cluster.Client);
        var key = $"user/unlucky-{failing}";
        const int events = 600;
        var grain = cluster.Client.GetGrain<IEntityGrain>(key);
        await ApplyInBatchesAsync(grain, version, 500);
        var storage = FeatureStoreCluster.ControlledStorage(cluster);

        // The 6th batch seals. "segment": the segment is stored but its write reports failure. "main": the segment
        // is stored, then the main write (the commit point) is lost. Either way the batch is not acknowledged.
        storage.FailSegmentWrites = failing == "segment";
        storage.FailMainWrites = failing == "main";
        var last = Enumerable.Range(500, Batch).Select(i => EventAt(i, events)).ToArray();
        await Assert.ThrowsAnyAsync<Exception>(() => grain.ApplyEvents(version, TestDefinitions.Source, last));
        storage.FailSegmentWrites = storage.FailMainWrites = false;
        Assert.NotNull(await ReadSegmentAsync(cluster, key, 0));
        Assert.Empty((await ReadMainAsync(cluster, key)).SeenSegments.SelectMany(s => s.Value.Segments));

        // The sender retries: nothing of the batch was committed, so it is accepted, once, and sealed into segment 0.
        Assert.All(await grain.ApplyEvents(version, TestDefinitions.Source, last), o => Assert.Equal(EventOutcomeKind.Accepted, o.Kind));
        Assert.Equal(events, (await ReadSegmentAsync(cluster, key, 0))!.Count);
        await cluster.Client.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        await AssertCountsAsync(grain, version, events);
        Assert.All(await grain.ApplyEvents(version, TestDefinitions.Source, [EventAt(0, events), EventAt(599, events)]), o => Assert.Equal(EventOutcomeKind.Duplicate, o.Kind));
    }

    private static async Task ApplyInBatchesAsync(IEntityGrain grain, long version, int events)
    {
        for (var start = 0; start < events; start += Batch)
        {
            var batch = Enumerable.Range(start, Math.Min(Batch, events - start)).Select(i => EventAt(i, events)).ToArray();
            var outcomes = await grain.ApplyEvents(version, TestDefinitions.Source, batch);
            Assert.All(outcomes, o => Assert.Equal(EventOutcomeKind.Accepted, o.Kind));
        }
    }

    /// <summary>Event i of n: one a second up to a second before <see cref="Now"/>, clicks on even i, amount i.</summary>
    private static FeatureEvent EventAt(int i, int n) => TestDefinitions.Click($"e{i}", Now - ((n - i) * 1_000L), i % 2 == 0 ? "click" : "view", i);

    private static async Task AssertCountsAsync(IEntityGrain grain, long version, int events)
    {
        var values = await grain.Read(version, Features, Now);
        Assert.Equal(ScalarValue.FromInt64((events + 1) / 2), values[1].Value);
        Assert.Equal(ScalarValue.FromDouble(events * (events - 1) / 2.0), values[2].Value);
    }

    [Fact]
    public async Task A_stored_view_in_an_unknown_packed_format_fails_the_activation_naming_entity_view_and_format()
    {
        using var temp = new TempDirectory();
        await using var cluster = await FeatureStoreCluster.StartAsync(FeatureStoreCluster.NewDatabasePath(temp));
        var version = await TestDefinitions.ApplyAsync(cluster.Client);
        const string key = "user/from-the-future";
        var grain = cluster.Client.GetGrain<IEntityGrain>(key);
        await grain.ApplyEvents(version, TestDefinitions.Source, [EventAt(0, 1)]);
        await cluster.Client.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);

        // The stored bytes now start with a format this version does not know (as a later release would write).
        var stored = new GrainState<EntityState>(new EntityState());
        await Storage(cluster).ReadStateAsync("entity", GrainId.Create("entity", key), stored);
        stored.State!.Views[View][0] = 99;
        await Storage(cluster).WriteStateAsync("entity", GrainId.Create("entity", key), stored);

        var error = await Assert.ThrowsAnyAsync<Exception>(() => grain.Read(version, Features, Now));

        var message = error.ToString();
        Assert.Contains($"entity {key}: the stored state of view '{View}' cannot be read", message, StringComparison.Ordinal);
        Assert.Contains($"format 99; this version reads {FeatureViewState.ReadableFormats} only", message, StringComparison.Ordinal);
    }

    private static IGrainStorage Storage(InProcessTestCluster cluster) =>
        cluster.Silos[0].ServiceProvider.GetRequiredKeyedService<IGrainStorage>(FeatureStoreStorage.Name);

    private static async Task<EntityState> ReadMainAsync(InProcessTestCluster cluster, string key)
    {
        var stored = new GrainState<EntityState>(new EntityState());
        await Storage(cluster).ReadStateAsync("entity", GrainId.Create("entity", key), stored);
        return stored.State!;
    }

    private static async Task<List<SeenId>?> ReadSegmentAsync(InProcessTestCluster cluster, string key, int number)
    {
        var stored = new GrainState<SeenSegmentState>(new SeenSegmentState());
        await Storage(cluster).ReadStateAsync(EntityStateStore.SegmentStateName(View, number), GrainId.Create("entity", key), stored);
        return stored.RecordExists ? [.. FeatureViewState.ReadSeenSegment(stored.State!.Data)] : null;
    }
}
