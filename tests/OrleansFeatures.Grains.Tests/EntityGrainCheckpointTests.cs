using Microsoft.Extensions.DependencyInjection;
using Orleans.Runtime;
using Orleans.Storage;
using Orleans.TestingHost;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Grains.Interfaces;
using OrleansFeatures.Grains.State;
using OrleansFeatures.TestInfrastructure;

namespace OrleansFeatures.Grains.Tests;

/// <summary>Ingest applies in memory; a checkpoint (or deactivation) makes it durable; a receipt proves which.</summary>
public class EntityGrainCheckpointTests
{
    private const long Now = 1_800_000_000_000;

    private static readonly FeatureRefList Features = new(["activity"], ["clicks_1h"]);

    [Fact]
    public async Task Ingested_events_are_servable_at_once_and_written_only_by_a_checkpoint()
    {
        using var temp = new TempDirectory();
        await using var cluster = await FeatureStoreCluster.StartAsync(FeatureStoreCluster.NewDatabasePath(temp));
        var version = await TestDefinitions.ApplyAsync(cluster.Client);
        var key = EntityKey.Format("user", "u1");
        var grain = cluster.Client.GetGrain<IEntityGrain>(key);

        var first = await grain.Ingest(version, TestDefinitions.Source, [TestDefinitions.Click("e1", Now - 1_000, "click", 1)]);
        var second = await grain.Ingest(version, TestDefinitions.Source, [TestDefinitions.Click("e2", Now - 500, "click", 1), TestDefinitions.Click("e1", Now - 1_000, "click", 1)]);

        Assert.Equal([EventOutcomeKind.Accepted, EventOutcomeKind.Duplicate], second.Outcomes.Select(o => o.Kind));
        Assert.Equal(first.Epoch, second.Epoch);
        Assert.True(second.Sequence > first.Sequence);
        Assert.Equal(ScalarValue.FromInt64(2), (await grain.Read(version, Features, Now))[0].Value);
        Assert.Null(await StoredAsync(cluster, key));

        Assert.True(await grain.Checkpoint(second.Epoch, second.Sequence));

        var stored = await StoredAsync(cluster, key);
        Assert.NotNull(stored);
        Assert.Equal((second.Epoch, second.Sequence), (stored.WrittenByEpoch, stored.WrittenThroughSequence));
    }

    [Fact]
    public async Task A_deactivating_entity_writes_what_it_ingested_and_its_receipt_stays_provable()
    {
        using var temp = new TempDirectory();
        await using var cluster = await FeatureStoreCluster.StartAsync(FeatureStoreCluster.NewDatabasePath(temp));
        var version = await TestDefinitions.ApplyAsync(cluster.Client);
        var key = EntityKey.Format("user", "idle");
        var grain = cluster.Client.GetGrain<IEntityGrain>(key);
        var receipt = await grain.Ingest(version, TestDefinitions.Source, [TestDefinitions.Click("e1", Now - 1_000, "click", 1)]);

        await cluster.Client.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        await Poll.UntilAsync(() => StoredAsync(cluster, key), s => s is not null, TimeSpan.FromSeconds(20), "the deactivation to write the entity");

        // A new activation answers for the old one from what that one wrote.
        Assert.True(await grain.Checkpoint(receipt.Epoch, receipt.Sequence));
        Assert.Equal(ScalarValue.FromInt64(1), (await grain.Read(version, Features, Now))[0].Value);
    }

    [Fact]
    public async Task A_receipt_of_an_activation_that_never_wrote_it_is_refused()
    {
        using var temp = new TempDirectory();
        await using var cluster = await FeatureStoreCluster.StartAsync(FeatureStoreCluster.NewDatabasePath(temp));
        var version = await TestDefinitions.ApplyAsync(cluster.Client);
        var grain = cluster.Client.GetGrain<IEntityGrain>(EntityKey.Format("user", "u2"));
        var receipt = await grain.Ingest(version, TestDefinitions.Source, [TestDefinitions.Click("e1", Now - 1_000, "click", 1)]);

        Assert.False(await grain.Checkpoint(receipt.Epoch + 1, 1));
    }

    [Fact]
    public async Task A_failed_checkpoint_write_throws_and_the_new_activation_refuses_the_old_receipt()
    {
        await using var cluster = await FeatureStoreCluster.StartWithControlledStorageAsync();
        var version = await TestDefinitions.ApplyAsync(cluster.Client);
        var storage = FeatureStoreCluster.ControlledStorage(cluster);
        var grain = cluster.Client.GetGrain<IEntityGrain>(EntityKey.Format("user", "u3"));
        var receipt = await grain.Ingest(version, TestDefinitions.Source, [TestDefinitions.Click("e1", Now - 1_000, "click", 1)]);

        storage.FailMainWrites = true;
        await Assert.ThrowsAnyAsync<Exception>(() => grain.Checkpoint(receipt.Epoch, receipt.Sequence));
        // The failed write deactivates the grain; its deactivation cannot write either.
        await Poll.UntilAsync(() => grain.Ingest(version, TestDefinitions.Source, []), r => r.Epoch != receipt.Epoch, TimeSpan.FromSeconds(20), "a new activation");

        Assert.False(await grain.Checkpoint(receipt.Epoch, receipt.Sequence));
    }

    private static async Task<EntityState?> StoredAsync(InProcessTestCluster cluster, string key)
    {
        var storage = cluster.Silos[0].ServiceProvider.GetRequiredKeyedService<IGrainStorage>(FeatureStoreStorage.Name);
        var stored = new GrainState<EntityState>(new EntityState());
        await storage.ReadStateAsync("entity", GrainId.Create("entity", key), stored);
        return stored.RecordExists ? stored.State : null;
    }
}
