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
}
