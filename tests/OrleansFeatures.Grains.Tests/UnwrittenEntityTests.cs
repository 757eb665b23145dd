using OrleansFeatures.Core.Events;
using OrleansFeatures.Grains.Ingestion;
using OrleansFeatures.Grains.Interfaces;

namespace OrleansFeatures.Grains.Tests;

public sealed class UnwrittenEntityTests
{
    private static readonly FeatureEvent[] Events = [];

    [Fact]
    public void Receipts_of_one_activation_keep_the_newest_and_need_no_replay()
    {
        var entity = new UnwrittenEntity();
        entity.Add(new IngestedBatch("user/u1", "plays", Events, Epoch: 7, Sequence: 1), registryVersion: 1);
        entity.Add(new IngestedBatch("user/u1", "plays", Events, Epoch: 7, Sequence: 2), registryVersion: 1);

        Assert.False(entity.NeedsReapply);
        Assert.Equal((7, 2), (entity.Epoch, entity.Sequence));
        Assert.Equal(2, entity.Batches.Count);
    }

    [Fact]
    public void Receipts_of_one_activation_arriving_out_of_order_keep_the_newest_apply()
    {
        var entity = new UnwrittenEntity();
        entity.Add(new IngestedBatch("user/u1", "plays", Events, Epoch: 7, Sequence: 5), registryVersion: 1);
        entity.Add(new IngestedBatch("user/u1", "scores", Events, Epoch: 7, Sequence: 4), registryVersion: 1);

        Assert.False(entity.NeedsReapply);
        Assert.Equal((7, 5), (entity.Epoch, entity.Sequence));
    }

    [Fact]
    public void A_batch_applied_by_a_new_activation_makes_every_kept_batch_need_applying_again()
    {
        var entity = new UnwrittenEntity();
        entity.Add(new IngestedBatch("user/u1", "plays", Events, Epoch: 7, Sequence: 1), registryVersion: 1);
        entity.Add(new IngestedBatch("user/u1", "plays", Events, Epoch: 9, Sequence: 1), registryVersion: 1);

        Assert.True(entity.NeedsReapply);
    }

    [Fact]
    public void A_failed_call_makes_every_kept_batch_need_applying_again()
    {
        var entity = new UnwrittenEntity();
        entity.Add(new IngestedBatch("user/u1", "plays", Events, Epoch: 0, Sequence: 0), registryVersion: 1);
        entity.Add(new IngestedBatch("user/u1", "plays", Events, Epoch: 7, Sequence: 1), registryVersion: 1);

        Assert.True(entity.NeedsReapply);
        Assert.Equal(7, entity.Epoch);
    }

    [Fact]
    public void A_replay_that_lands_in_one_activation_stands_for_every_batch()
    {
        var entity = new UnwrittenEntity();
        entity.Add(new IngestedBatch("user/u1", "plays", Events, Epoch: 0, Sequence: 0), registryVersion: 1);

        Assert.True(entity.Reapplied([new IngestReceipt([], 11, 1), new IngestReceipt([], 11, 2)]));
        Assert.False(entity.NeedsReapply);
        Assert.Equal((11, 2), (entity.Epoch, entity.Sequence));
    }

    [Fact]
    public void A_replay_split_across_activations_stands_for_nothing()
    {
        var entity = new UnwrittenEntity();
        entity.Add(new IngestedBatch("user/u1", "plays", Events, Epoch: 0, Sequence: 0), registryVersion: 1);

        Assert.False(entity.Reapplied([new IngestReceipt([], 11, 1), new IngestReceipt([], 12, 1)]));
        Assert.True(entity.NeedsReapply);
    }

    [Fact]
    public void Each_kept_batch_gives_back_its_own_events_in_order()
    {
        var entity = new UnwrittenEntity();
        var first = new[] { TestDefinitions.Click("e1", 1_000, "click", 1), TestDefinitions.Click("e2", 2_000, "view", 2) };
        var second = new[] { TestDefinitions.Click("e3", 3_000, "click", 3) };
        entity.Add(new IngestedBatch("user/u1", "plays", first, Epoch: 7, Sequence: 1), registryVersion: 1);
        entity.Add(new IngestedBatch("user/u1", "scores", second, Epoch: 7, Sequence: 2), registryVersion: 2);

        Assert.Equal(3, entity.EventCount);
        Assert.Equal(("plays", 1L), (entity.Batches[0].Source, entity.Batches[0].RegistryVersion));
        Assert.Equal(first, entity.EventsOf(0));
        Assert.Equal(("scores", 2L), (entity.Batches[1].Source, entity.Batches[1].RegistryVersion));
        Assert.Equal(second, entity.EventsOf(1));
    }

    [Fact]
    public void A_reset_entity_reused_by_the_next_checkpoint_keeps_nothing_of_the_previous_one()
    {
        var entity = new UnwrittenEntity();
        entity.Add(new IngestedBatch("user/u1", "plays", [TestDefinitions.Click("e1", 1_000, "click", 1)], Epoch: 0, Sequence: 0), registryVersion: 1);

        Assert.True(entity.Reset());
        var next = TestDefinitions.Click("e2", 2_000, "view", 2);
        entity.Add(new IngestedBatch("user/u2", "plays", [next], Epoch: 9, Sequence: 4), registryVersion: 3);

        Assert.False(entity.NeedsReapply);
        Assert.Equal((9, 4), (entity.Epoch, entity.Sequence));
        Assert.Equal(1, entity.EventCount);
        Assert.Single(entity.Batches);
        Assert.Equal([next], entity.EventsOf(0));
    }

    [Fact]
    public void An_entity_that_kept_a_burst_is_not_reused()
    {
        var entity = new UnwrittenEntity();
        for (var i = 0; i < 100; i++)
        {
            entity.Add(new IngestedBatch("user/u1", "plays", Events, Epoch: 7, Sequence: i + 1), registryVersion: 1);
        }

        Assert.False(entity.Reset());
    }
}
