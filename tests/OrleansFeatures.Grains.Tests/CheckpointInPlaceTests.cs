using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;
using OrleansFeatures.Core.Engine;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Grains.Interfaces;
using OrleansFeatures.Grains.Serving;

namespace OrleansFeatures.Grains.Tests;

/// <summary>
/// A partition ingester's checkpoint in place (the entity's durable write run from outside its grain's turn, without a
/// <c>Checkpoint</c> call) against applies in place, the grain's own writes and its deactivation. Each test ends by
/// reloading the entity from storage: it reads as every event applied once, and every event delivered again is a
/// duplicate (its de-duplication id was written with the state).
/// </summary>
public class CheckpointInPlaceTests
{
    private const long Now = 1_800_000_000_000;

    // These tests pin the commit protocol, not the arrival rule: an arrival clock that never caps the watermark.
    private const long NoArrivalCap = long.MaxValue;

    private static readonly FeatureRefList AllFeatures = new(["activity", "activity", "activity"], ["clicks_1h", "amount_24h", "last_kind"]);

    private static readonly FeatureEvent[] Events =
    [
        TestDefinitions.Click("e1", Now - 5_000, "click", 1),
        TestDefinitions.Click("e2", Now - 4_000, "view", 2),
        TestDefinitions.Click("e3", Now - 3_000, "click", 4),
    ];

    [Fact]
    public async Task An_apply_in_place_during_a_checkpoint_in_place_is_not_certified_by_its_write_and_the_next_one_writes_it()
    {
        await using var cluster = await FeatureStoreCluster.StartWithControlledStorageAsync();
        var version = await TestDefinitions.ApplyAsync(cluster.Client);
        var (grain, _, views) = await ActivateAsync(cluster, version, "c1");
        var first = ApplyInPlace(views, version, Events[0]);

        // The checkpoint's write is held in storage; an event is applied in place meanwhile.
        var storage = FeatureStoreCluster.ControlledStorage(cluster);
        var hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        storage.HoldMainWrites = hold;
        var checkpoint = views.Checkpointer!.TryCheckpointInPlaceAsync(views.Epoch, first).AsTask();
        await storage.MainWriteHeld.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var during = ApplyInPlace(views, version, Events[1]);
        storage.HoldMainWrites = null;
        hold.SetResult();

        Assert.True(await checkpoint);
        // Written through what the write packed, not through the apply that ran while it was in flight.
        Assert.Equal(first, views.WrittenThrough);
        Assert.True(views.HasUnwritten);
        Assert.True(await views.Checkpointer.TryCheckpointInPlaceAsync(views.Epoch, during));
        Assert.Equal(during, views.WrittenThrough);
        Assert.Equal(1, storage.MostMainWritesInFlight);

        await AssertReloadedHoldsEachEventOnceAsync(cluster, version, grain, views, Events[..2]);
    }

    [Fact]
    public async Task A_checkpoint_in_place_waits_for_the_grains_own_write_and_then_writes_what_that_did_not_cover()
    {
        await using var cluster = await FeatureStoreCluster.StartWithControlledStorageAsync();
        var version = await TestDefinitions.ApplyAsync(cluster.Client);
        var (grain, _, views) = await ActivateAsync(cluster, version, "c2");
        var called = await grain.Ingest(version, TestDefinitions.Source, [Events[0]]);
        var first = ApplyInPlace(views, version, Events[1]);

        // The grain's own checkpoint (its turn) writes and is held in storage; an event is applied in place meanwhile,
        // and the ingester checkpoints it in place.
        var storage = FeatureStoreCluster.ControlledStorage(cluster);
        var hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        storage.HoldMainWrites = hold;
        var grainWrite = grain.Checkpoint(called.Epoch, called.Sequence);
        await storage.MainWriteHeld.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var during = ApplyInPlace(views, version, Events[2]);
        var inPlace = views.Checkpointer!.TryCheckpointInPlaceAsync(views.Epoch, during).AsTask();

        // The write in place did not start beside the grain's: one writer of the entity's state at a time.
        Assert.Equal(1, storage.MainWritesInFlight);
        Assert.False(inPlace.IsCompleted);
        storage.HoldMainWrites = null;
        hold.SetResult();

        Assert.True(await grainWrite);
        Assert.True(await inPlace);
        Assert.True(await grain.Checkpoint(views.Epoch, first));
        Assert.Equal(during, views.WrittenThrough);
        Assert.False(views.HasUnwritten);
        Assert.Equal(1, storage.MostMainWritesInFlight);

        await AssertReloadedHoldsEachEventOnceAsync(cluster, version, grain, views, Events);
    }

    [Fact]
    public async Task A_deactivation_during_a_checkpoint_in_place_waits_for_its_write_and_the_next_activation_proves_it()
    {
        await using var cluster = await FeatureStoreCluster.StartWithControlledStorageAsync();
        var version = await TestDefinitions.ApplyAsync(cluster.Client);
        var (grain, index, views) = await ActivateAsync(cluster, version, "c3");
        var first = ApplyInPlace(views, version, Events[0]);
        var second = ApplyInPlace(views, version, Events[1]);

        // The checkpoint's write is held; the activation is told to go meanwhile. It retires at once (applies in place
        // are refused from then on), then waits for the write in place instead of writing beside it.
        var storage = FeatureStoreCluster.ControlledStorage(cluster);
        var hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        storage.HoldMainWrites = hold;
        var checkpoint = views.Checkpointer!.TryCheckpointInPlaceAsync(views.Epoch, first).AsTask();
        await storage.MainWriteHeld.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var collection = cluster.Client.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        await WaitUntilAsync(() => views.IsRetired);
        Assert.Equal(0, views.TryApplyInPlace(version, TestDefinitions.Source, [Events[2]], [0], NoArrivalCap, new EventOutcome[1], out _));
        Assert.Equal(1, storage.MainWritesInFlight);
        storage.HoldMainWrites = null;
        hold.SetResult();

        Assert.True(await checkpoint);
        await collection;
        Assert.Equal(1, storage.MostMainWritesInFlight);
        // Gone: a checkpoint of its receipt is no longer made in place; the grain call reaches the next activation,
        // which answers from what this one wrote (every apply of it).
        Assert.Null(await views.Checkpointer.TryCheckpointInPlaceAsync(views.Epoch, second + 1));
        Assert.True(await grain.Checkpoint(views.Epoch, second));

        // The refused event goes to the grain (the next activation), as an ingester's delivery sends it.
        await grain.Ingest(version, TestDefinitions.Source, [Events[2]]);
        Assert.True(index.TryGetByGrainKey(EntityKey.Format("user", "c3"), out var next));
        Assert.True(await next.Checkpointer!.TryCheckpointInPlaceAsync(next.Epoch, next.AppliedSequence));
        await AssertReloadedHoldsEachEventOnceAsync(cluster, version, grain, next, Events);
    }

    [Fact]
    public async Task A_checkpoint_in_place_after_the_activation_retired_is_refused_and_answered_by_the_grain()
    {
        await using var cluster = await FeatureStoreCluster.StartWithControlledStorageAsync();
        var version = await TestDefinitions.ApplyAsync(cluster.Client);
        var (grain, index, views) = await ActivateAsync(cluster, version, "c4");
        var applied = ApplyInPlace(views, version, Events[0]);

        // The deactivation's final write is held: the checkpoint in place arrives while the activation is going.
        var storage = FeatureStoreCluster.ControlledStorage(cluster);
        var hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        storage.HoldMainWrites = hold;
        var collection = cluster.Client.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        await storage.MainWriteHeld.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var inPlace = views.Checkpointer!.TryCheckpointInPlaceAsync(views.Epoch, applied).AsTask();
        Assert.False(inPlace.IsCompleted);
        storage.HoldMainWrites = null;
        hold.SetResult();
        await collection;

        // Refused, and nothing of the retired activation is written from outside it; the grain proves the receipt.
        Assert.Null(await inPlace);
        Assert.Equal(1, storage.MostMainWritesInFlight);
        Assert.True(await grain.Checkpoint(views.Epoch, applied));
        Assert.True(index.TryGetByGrainKey(EntityKey.Format("user", "c4"), out var next));
        await AssertReloadedHoldsEachEventOnceAsync(cluster, version, grain, next, Events[..1]);
    }

    /// <summary>Activates the entity (with no events) on the one silo and returns its views in the silo's index.</summary>
    private static async Task<(IEntityGrain Grain, LocalEntityIndex Index, EntityViews Views)> ActivateAsync(
        InProcessTestCluster cluster, long version, string id)
    {
        var key = EntityKey.Format("user", id);
        var grain = cluster.Client.GetGrain<IEntityGrain>(key);
        await grain.Read(version, AllFeatures, Now);
        var index = cluster.Silos[0].ServiceProvider.GetRequiredService<LocalEntityIndex>();
        Assert.True(index.TryGetByGrainKey(key, out var views));
        Assert.NotNull(views.Checkpointer);
        return (grain, index, views);
    }

    /// <summary>Applies one event in place, as a partition ingester on the silo does; returns its receipt's sequence.</summary>
    private static long ApplyInPlace(EntityViews views, long version, FeatureEvent featureEvent)
    {
        var outcomes = new EventOutcome[1];
        Assert.Equal(1, views.TryApplyInPlace(version, TestDefinitions.Source, [featureEvent], [0], NoArrivalCap, outcomes, out var sequence));
        Assert.Equal(EventOutcomeKind.Accepted, outcomes[0].Kind);
        return sequence;
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out");
            await Task.Delay(10);
        }
    }

    /// <summary>
    /// Deactivates the entity (its last activation <paramref name="views"/> has nothing unwritten, so nothing is written
    /// on the way out) and reloads it from storage: it reads as <paramref name="applied"/> applied once each, and each of
    /// them delivered again is a duplicate.
    /// </summary>
    private static async Task AssertReloadedHoldsEachEventOnceAsync(
        InProcessTestCluster cluster, long version, IEntityGrain grain, EntityViews views, FeatureEvent[] applied)
    {
        Assert.False(views.HasUnwritten);
        await cluster.Client.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        var reference = cluster.Client.GetGrain<IEntityGrain>(EntityKey.Format("user", "reference-" + views.Epoch));
        await reference.Ingest(version, TestDefinitions.Source, applied);
        var expected = await reference.Read(version, AllFeatures, Now);

        var reloaded = await grain.Read(version, AllFeatures, Now);
        Assert.Equal(expected, reloaded);
        Assert.Equal(ScalarValue.FromInt64(applied.Count(e => e.EventId is "e1" or "e3")), reloaded[0].Value);
        var again = await grain.Ingest(version, TestDefinitions.Source, applied);
        Assert.All(again.Outcomes, o => Assert.Equal(EventOutcomeKind.Duplicate, o.Kind));
        Assert.Equal(expected, await grain.Read(version, AllFeatures, Now));
    }
}
