using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using OrleansFeatures.Core.Engine;
using OrleansFeatures.Grains.Definitions;
using OrleansFeatures.Grains.Interfaces;
using OrleansFeatures.Grains.Serving;
using OrleansFeatures.TestInfrastructure;
using Xunit.Abstractions;

namespace OrleansFeatures.Grains.Tests;

[CollectionDefinition(nameof(WarmEntityCacheAccountingTests), DisableParallelization = true)]
public sealed class WarmEntityCacheAccountingCollection;

/// <summary>
/// The warm tier's byte budget counts what its entries really hold: its estimate per entry against the live heap that
/// 20,000 entries add, measured after full collections. Not run in parallel: the heap is process-wide.
/// </summary>
[Collection(nameof(WarmEntityCacheAccountingTests))]
public class WarmEntityCacheAccountingTests(ITestOutputHelper output)
{
    [Fact]
    public void The_tier_estimate_of_an_entry_matches_the_heap_it_holds_within_ten_percent()
    {
        // The heap is process-wide: a silo of another test class still shutting down can release megabytes between the
        // two readings (CI once read -1,319 B an entry). Such a reading says nothing of the tier, so it is measured
        // again, up to three times; the last one is asserted.
        var ratio = 0.0;
        for (var attempt = 1; attempt <= 3; attempt++)
        {
            ratio = MeasuredOverEstimated();
            if (ratio is >= 0.9 and <= 1.1)
            {
                break;
            }
        }

        Assert.InRange(ratio, 0.9, 1.1);
    }

    private double MeasuredOverEstimated()
    {
        const int Entries = 20_000;
        var tier = new WarmEntityCache(
            new DefinitionCatalog(null!, FeatureTypeCatalog.Empty, NullLogger<DefinitionCatalog>.Instance),
            Options.Create(new ServingOptions { WarmTierMiB = 1024 }));
        Add(tier, "warm-up", 400);
        var estimateBefore = tier.Bytes;
        var heapBefore = LiveHeap();

        // Read copies of the sizes a 20-feature entity leaves (~450 B), ids as an activation parses them from its key.
        for (var i = 0; i < Entries; i++)
        {
            Add(tier, EntityKey.Parse(EntityKey.Format("user", $"user-{i}")).EntityId, 400 + (i % 100));
        }

        var measured = (LiveHeap() - heapBefore) / (double)Entries;
        var estimated = (tier.Bytes - estimateBefore) / (double)Entries;
        GC.KeepAlive(tier);
        output.WriteLine($"per entry: {measured:0} B measured, {estimated:0} B estimated");

        Assert.Equal(Entries + 1, tier.Count);
        return measured / estimated;
    }

    private static void Add(WarmEntityCache tier, string id, int packedBytes)
    {
        // The entity type as each activation parses it: its own string, which the tier replaces by its shared one.
        var entityType = EntityKey.Parse(EntityKey.Format("user", id)).EntityType;
        var leaving = tier.BeginLeaving(entityType, id)!;
        tier.Complete(entityType, id, leaving, [new WarmEntityCache.WarmView("activity", 1, new byte[packedBytes])]);
    }

    private static long LiveHeap()
    {
        for (var i = 0; i < 3; i++)
        {
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
        }

        return GC.GetTotalMemory(forceFullCollection: false);
    }
}
