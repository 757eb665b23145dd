using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;
using OrleansFeatures.Core.Engine;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Grains.Ingestion;
using OrleansFeatures.Grains.Interfaces;
using OrleansFeatures.Grains.Serving;

namespace OrleansFeatures.Grains.Tests;

/// <summary>A partition ingester's apply in place (no grain call) against the entity grain's lifecycle.</summary>
public class ApplyInPlaceTests
{
    private const long Now = 1_800_000_000_000;

    // These tests pin the commit protocol, not the arrival rule: an arrival clock that never caps the watermark.
    private const long NoArrivalCap = long.MaxValue;

    private static readonly FeatureRefList Clicks = new(["activity"], ["clicks_1h"]);

    [Fact]
    public async Task An_apply_in_place_before_deactivation_is_in_the_final_write_and_one_racing_it_is_refused_for_the_grain()
    {
        await using var cluster = await FeatureStoreCluster.StartWithControlledStorageAsync();
        var version = await TestDefinitions.ApplyAsync(cluster.Client);
        var key = EntityKey.Format("user", "u1");
        var grain = cluster.Client.GetGrain<IEntityGrain>(key);
        await grain.Ingest(version, TestDefinitions.Source, [TestDefinitions.Click("e1", Now - 3_000, "click", 1)]);
        var index = cluster.Silos[0].ServiceProvider.GetRequiredService<LocalEntityIndex>();
        Assert.True(index.TryGetByGrainKey(key, out var views));

        var outcomes = new EventOutcome[1];
        Assert.Equal(1, views.TryApplyInPlace(version, TestDefinitions.Source, [TestDefinitions.Click("e2", Now - 2_000, "click", 1)], [0], NoArrivalCap, outcomes, out var inPlace));
        Assert.Equal(EventOutcomeKind.Accepted, outcomes[0].Kind);
        // Newer definitions than the entity holds: the grain catches up first, so the apply goes to it.
        Assert.Equal(0, views.TryApplyInPlace(version + 1, TestDefinitions.Source, [TestDefinitions.Click("e9", Now, "click", 1)], [0], NoArrivalCap, outcomes, out _));

        // Deactivate, holding the final write: from its start the activation refuses applies in place.
        var storage = FeatureStoreCluster.ControlledStorage(cluster);
        var hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        storage.HoldMainWrites = hold;
        var collection = cluster.Client.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        await storage.MainWriteHeld.Task.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(0, views.TryApplyInPlace(version, TestDefinitions.Source, [TestDefinitions.Click("e3", Now - 1_000, "click", 1)], [0], NoArrivalCap, outcomes, out _));
        Assert.False(index.TryGetByGrainKey(key, out _));
        storage.HoldMainWrites = null;
        hold.SetResult();
        await collection;

        // The next activation proves the in-place receipt from what the last one wrote; the refused event goes to it.
        Assert.True(await grain.Checkpoint(views.Epoch, inPlace));
        await grain.Ingest(version, TestDefinitions.Source, [TestDefinitions.Click("e3", Now - 1_000, "click", 1)]);
        Assert.Equal(ScalarValue.FromInt64(3), (await grain.Read(version, Clicks, Now))[0].Value);
        Assert.True(index.TryGetByGrainKey(key, out var next));
        Assert.NotEqual(views.Epoch, next.Epoch);
    }

    [Fact]
    public async Task An_apply_in_place_during_a_checkpoint_write_is_not_certified_by_it()
    {
        await using var cluster = await FeatureStoreCluster.StartWithControlledStorageAsync();
        var version = await TestDefinitions.ApplyAsync(cluster.Client);
        var key = EntityKey.Format("user", "u2");
        var grain = cluster.Client.GetGrain<IEntityGrain>(key);
        var first = await grain.Ingest(version, TestDefinitions.Source, [TestDefinitions.Click("e1", Now - 3_000, "click", 1)]);
        var index = cluster.Silos[0].ServiceProvider.GetRequiredService<LocalEntityIndex>();
        Assert.True(index.TryGetByGrainKey(key, out var views));

        var storage = FeatureStoreCluster.ControlledStorage(cluster);
        var hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        storage.HoldMainWrites = hold;
        var checkpoint = grain.Checkpoint(first.Epoch, first.Sequence);
        await storage.MainWriteHeld.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var outcomes = new EventOutcome[1];
        Assert.Equal(1, views.TryApplyInPlace(version, TestDefinitions.Source, [TestDefinitions.Click("e2", Now - 2_000, "click", 1)], [0], NoArrivalCap, outcomes, out var during));
        storage.HoldMainWrites = null;
        hold.SetResult();

        Assert.True(await checkpoint);
        Assert.True(during > views.WrittenThrough);
        Assert.True(await grain.Checkpoint(views.Epoch, during));
        Assert.True(during <= views.WrittenThrough);
    }

    [Fact]
    public async Task A_delivery_applies_in_place_on_the_silos_ingestion_lane_while_the_ingesting_turn_waits()
    {
        await using var cluster = await FeatureStoreCluster.StartWithControlledStorageAsync();
        var version = await TestDefinitions.ApplyAsync(cluster.Client);
        var (key, grain, index, views) = await ActivateAsync(cluster, version, "lane1");
        var lane = cluster.Silos[0].ServiceProvider.GetRequiredService<IngestionLane>();
        var threads = new List<string?>();
        views.BeforeApplyInPlace = _ => threads.Add(Thread.CurrentThread.Name);
        FeatureEvent?[] events = [TestDefinitions.Click("e1", Now - 2_000, "click", 1), TestDefinitions.Click("e2", Now - 1_000, "click", 1)];

        var result = await DispatchAsync(cluster, version, key, index, events, lane);

        Assert.Equal(2, threads.Count);
        Assert.All(threads, name => Assert.StartsWith("ingest-lane-", name));
        Assert.Equal(1, result.AppliedInPlace);
        Assert.Equal([RoutedEventStatus.Accepted, RoutedEventStatus.Accepted], result.Outcomes.Select(o => o.ToResult().Status));
        Assert.Equal(ScalarValue.FromInt64(2), (await grain.Read(version, Clicks, Now))[0].Value);
    }

    private static readonly FeatureRefList AllFeatures = new(["activity", "activity", "activity"], ["clicks_1h", "amount_24h", "last_kind"]);

    // The delivery's event at this position is the first one the activation refuses.
    private const int RefusedAt = 2;

    /// <summary>
    /// One entity's events in one delivery: the first <see cref="RefusedAt"/> are applied in place, the rest go to the
    /// grain; a redelivery of an event from each part checks that neither part is applied twice.
    /// </summary>
    private static FeatureEvent?[] Delivery() =>
    [
        TestDefinitions.Click("e1", Now - 5_000, "click", 1),
        TestDefinitions.Click("e2", Now - 4_000, "view", 2),
        TestDefinitions.Click("e3", Now - 3_000, "click", 4),
        TestDefinitions.Click("e1", Now - 5_000, "click", 1),
        TestDefinitions.Click("e4", Now - 2_000, "purchase", 8),
        TestDefinitions.Click("e3", Now - 3_000, "click", 4),
    ];

    private static readonly RoutedEventStatus[] DeliveryOutcomes =
    [
        RoutedEventStatus.Accepted,
        RoutedEventStatus.Accepted,
        RoutedEventStatus.Accepted,
        RoutedEventStatus.Duplicate,
        RoutedEventStatus.Accepted,
        RoutedEventStatus.Duplicate,
    ];

    [Fact]
    public async Task A_delivery_refused_part_way_by_deactivation_applies_each_event_once_and_answers_per_event_in_order()
    {
        await using var cluster = await FeatureStoreCluster.StartWithControlledStorageAsync();
        var version = await TestDefinitions.ApplyAsync(cluster.Client);
        var (key, grain, index, views) = await ActivateAsync(cluster, version, "p1");

        // Between two events of the delivery the activation starts to deactivate: its final write is held until it has
        // retired its views (OnDeactivateAsync retires them first), then let through.
        var storage = FeatureStoreCluster.ControlledStorage(cluster);
        var hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Task? collection = null;
        views.BeforeApplyInPlace = j =>
        {
            if (j == RefusedAt)
            {
                storage.HoldMainWrites = hold;
                collection = cluster.Client.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
                Assert.True(storage.MainWriteHeld.Task.Wait(TimeSpan.FromSeconds(30)), "the deactivation's final write never started");
                storage.HoldMainWrites = null;
                hold.SetResult();
            }
        };

        var events = Delivery();
        var result = await DispatchAsync(cluster, version, key, index, events);
        Assert.NotNull(collection);
        await collection;

        AssertOutcomesAndParts(result, events);
        var (inPlace, called) = (result.Receipts![0], result.Receipts[1]);
        Assert.Equal(views.Epoch, inPlace.Epoch);
        // The refused rest went to the grain, and so to the next activation.
        Assert.NotEqual(views.Epoch, called.Epoch);
        Assert.NotEqual(0, called.Epoch);
        Assert.True(index.TryGetByGrainKey(key, out var next));
        Assert.Equal(next.Epoch, called.Epoch);

        // The part applied in place is in the retired activation's final write; the rest checkpoints in the next one.
        Assert.True(await grain.Checkpoint(inPlace.Epoch, inPlace.Sequence));
        Assert.True(await grain.Checkpoint(called.Epoch, called.Sequence));
        await AssertStateOfAllEventsOnceAsync(cluster, version, grain, events);
    }

    [Fact]
    public async Task A_delivery_refused_part_way_by_a_view_sync_applies_each_event_once_and_answers_per_event_in_order()
    {
        await using var cluster = await FeatureStoreCluster.StartWithControlledStorageAsync();
        var version = await TestDefinitions.ApplyAsync(cluster.Client);
        var (key, grain, index, views) = await ActivateAsync(cluster, version, "p2");

        // Between two events of the delivery the grain starts to sync its views to new definitions (BeginSync is the
        // first step of SyncViewsLockedAsync); from then on applies in place wait for the grain.
        views.BeforeApplyInPlace = j =>
        {
            if (j == RefusedAt)
            {
                views.BeginSync();
            }
        };

        var events = Delivery();
        var result = await DispatchAsync(cluster, version, key, index, events);
        // The sync ends (at the same version: the definitions did not change in this test); reads are in place again.
        views.BeforeApplyInPlace = null;
        views.MarkSynced(version);

        AssertOutcomesAndParts(result, events);
        var (inPlace, called) = (result.Receipts![0], result.Receipts[1]);
        // Both parts are in the one activation, the grain's after those applied in place.
        Assert.Equal(views.Epoch, inPlace.Epoch);
        Assert.Equal(views.Epoch, called.Epoch);
        Assert.True(inPlace.Sequence < called.Sequence);

        Assert.True(await grain.Checkpoint(inPlace.Epoch, inPlace.Sequence));
        Assert.True(await grain.Checkpoint(called.Epoch, called.Sequence));
        await AssertStateOfAllEventsOnceAsync(cluster, version, grain, events);
    }

    /// <summary>Activates the entity (with no events) on the one silo and returns its views in the silo's index.</summary>
    private static async Task<(string Key, IEntityGrain Grain, LocalEntityIndex Index, EntityViews Views)> ActivateAsync(
        InProcessTestCluster cluster, long version, string id)
    {
        var key = EntityKey.Format("user", id);
        var grain = cluster.Client.GetGrain<IEntityGrain>(key);
        await grain.Read(version, Clicks, Now);
        var index = cluster.Silos[0].ServiceProvider.GetRequiredService<LocalEntityIndex>();
        Assert.True(index.TryGetByGrainKey(key, out var views));
        return (key, grain, index, views);
    }

    /// <summary>Every event of <paramref name="events"/> to the one entity, not durable, applied in place where the activation takes it.</summary>
    private static Task<DispatchResult> DispatchAsync(
        InProcessTestCluster cluster, long version, string key, LocalEntityIndex index, FeatureEvent?[] events, IngestionLane? lane = null)
    {
        var dispatch = new EntityDispatch();
        for (var i = 0; i < events.Length; i++)
        {
            dispatch.Add(key, TestDefinitions.Source, i);
        }

        // The silo's own clock, so events applied in place and by the grain get the same arrival rule.
        var clock = cluster.Silos[0].ServiceProvider.GetRequiredService<TimeProvider>();
        return dispatch.RunAsync(
            cluster.Client, version, events, maxInFlight: 4, CancellationToken.None, durable: false, applyInPlace: index, lane: lane, clock: clock);
    }

    /// <summary>
    /// One outcome per event, in the delivery's order; the part applied in place and the part the grain applied are the
    /// delivery split at <see cref="RefusedAt"/>: every event is in exactly one of them.
    /// </summary>
    private static void AssertOutcomesAndParts(DispatchResult result, FeatureEvent?[] events)
    {
        Assert.Empty(result.Failures);
        Assert.Equal(1, result.AppliedInPlace);
        Assert.Equal(DeliveryOutcomes, result.Outcomes.Select(o => o.ToResult().Status));

        Assert.NotNull(result.Receipts);
        Assert.Equal(2, result.Receipts.Count);
        Assert.Equal(events.Take(RefusedAt), result.Receipts[0].Events);
        Assert.Equal(events.Skip(RefusedAt), result.Receipts[1].Events);
    }

    /// <summary>The entity reads as another entity that got the whole delivery in one grain call, and as counted by hand.</summary>
    private static async Task AssertStateOfAllEventsOnceAsync(
        InProcessTestCluster cluster, long version, IEntityGrain grain, FeatureEvent?[] events)
    {
        var reference = cluster.Client.GetGrain<IEntityGrain>(EntityKey.Format("user", "reference"));
        var all = await reference.Ingest(version, TestDefinitions.Source, [.. events.Select(e => e!)]);
        Assert.Equal(DeliveryOutcomes.Select(s => s.ToString()), all.Outcomes.Select(o => o.Kind.ToString()));

        var expected = await reference.Read(version, AllFeatures, Now);
        var actual = await grain.Read(version, AllFeatures, Now);
        Assert.Equal(expected, actual);
        // e1 and e3 are clicks; 1 + 2 + 4 + 8; e4 is the latest.
        Assert.Equal(ScalarValue.FromInt64(2), actual[0].Value);
        Assert.Equal(ScalarValue.FromDouble(15), actual[1].Value);
        Assert.Equal(ScalarValue.FromString("purchase"), actual[2].Value);
    }
}
