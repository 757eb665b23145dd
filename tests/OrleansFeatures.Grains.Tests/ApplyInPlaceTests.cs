using Microsoft.Extensions.DependencyInjection;
using OrleansFeatures.Core.Engine;
using OrleansFeatures.Core.Events;
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
}
