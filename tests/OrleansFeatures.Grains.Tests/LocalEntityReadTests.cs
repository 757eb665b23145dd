using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;
using OrleansFeatures.Core.Engine;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Grains.Interfaces;
using OrleansFeatures.Grains.Serving;
using OrleansFeatures.TestInfrastructure;

namespace OrleansFeatures.Grains.Tests;

/// <summary>The gateway's read path: entities active on the silo are read from memory, the rest through grain calls, with the grain's own semantics.</summary>
public class LocalEntityReadTests
{
    private const long Now = 1_800_000_000_000;
    private const long Minute = 60_000;
    private const long Day = 24 * 60 * Minute;

    private static readonly FeatureRefList Features = new(
        ["activity", "activity", "activity", "activity"],
        ["last_kind", "clicks_1h", "amount_24h", "no_such_feature"]);

    [Fact]
    public async Task A_local_read_equals_the_grains_read_at_every_instant_windows_and_ttl_included()
    {
        await using var cluster = await FeatureStoreCluster.StartAsync(databasePath: null);
        var version = await TestDefinitions.ApplyAsync(cluster.Client);
        var grain = cluster.Client.GetGrain<IEntityGrain>(EntityKey.Format("user", "u1"));
        await grain.ApplyEvents(version, TestDefinitions.Source,
        [
            TestDefinitions.Click("e1", Now - (50 * Minute), "click", 2.5),
            TestDefinitions.Click("e2", Now - (20 * Minute), "view", 1.0),
            TestDefinitions.Click("e3", Now - (5 * Minute), "click", 0.5),
        ]);
        var (index, reader) = Services(cluster);
        Assert.True(index.TryGet("user", "u1", out _));

        // Evaluated at the read's instant: inside the windows, after the 1h window slides past two clicks, after 24h, after the 30d TTL.
        foreach (var at in new[] { Now, Now + (20 * Minute), Now + (2 * Day), Now + (31 * Day) })
        {
            var byGrain = await grain.Read(version, Features, at);
            var local = new FeatureReading[Features.Count];
            await reader.ReadAsync(version, "user", ["u1"], Features, at, local);
            for (var f = 0; f < Features.Count; f++)
            {
                Assert.Equal(byGrain[f].Value, local[f].Value);
                Assert.Equal(byGrain[f].EventTimeMs, local[f].EventTimeMs);
                Assert.Equal(byGrain[f].Status.ToString(), local[f].Status.ToString());
            }
        }

        var now = new FeatureReading[Features.Count];
        await reader.ReadAsync(version, "user", ["u1"], Features, Now + (20 * Minute), now);
        Assert.Equal(ScalarValue.FromInt64(1), now[1].Value);
        await reader.ReadAsync(version, "user", ["u1"], Features, Now + (31 * Day), now);
        Assert.Equal(ReadingStatus.Expired, now[0].Status);
        Assert.Equal(ReadingStatus.NotFound, now[3].Status);
    }

    [Fact]
    public async Task An_entity_not_active_here_is_read_through_its_grain_and_then_served_locally()
    {
        await using var cluster = await FeatureStoreCluster.StartAsync(databasePath: null);
        var version = await TestDefinitions.ApplyAsync(cluster.Client);
        var (index, reader) = Services(cluster);
        Assert.False(index.TryGet("user", "cold", out _));

        var readings = new FeatureReading[2 * Features.Count];
        await reader.ReadAsync(version, "user", ["cold", "cold"], Features, Now, readings);

        Assert.All(readings, r => Assert.Equal(ReadingStatus.NotFound, r.Status));
        Assert.True(index.TryGet("user", "cold", out var views));
        Assert.True(views.TryRead(version, Features, Now, readings.AsSpan(0, Features.Count)));
        Assert.False(views.TryRead(version + 1, Features, Now, readings.AsSpan(0, Features.Count)));
    }

    [Fact]
    public async Task An_acknowledged_apply_is_visible_to_the_next_local_read()
    {
        await using var cluster = await FeatureStoreCluster.StartAsync(databasePath: null);
        var version = await TestDefinitions.ApplyAsync(cluster.Client);
        var grain = cluster.Client.GetGrain<IEntityGrain>(EntityKey.Format("user", "u2"));
        var (_, reader) = Services(cluster);
        var readings = new FeatureReading[Features.Count];

        for (var i = 0; i < 20; i++)
        {
            await grain.ApplyEvents(version, TestDefinitions.Source, [TestDefinitions.Click($"e{i}", Now - Minute, "click", 1)]);
            await reader.ReadAsync(version, "user", ["u2"], Features, Now, readings);
            Assert.Equal(ScalarValue.FromInt64(i + 1), readings[1].Value);
        }
    }

    [Fact]
    public async Task With_the_warm_tier_off_a_deactivated_entity_leaves_the_index_and_is_read_from_its_next_activation()
    {
        // With the tier on, it is served warm instead (WarmTierTests).
        await using var cluster = await FeatureStoreCluster.StartAsync(databasePath: null, configure: silo =>
            silo.Services.Configure<ServingOptions>(o => o.WarmTierMiB = 0));
        var version = await TestDefinitions.ApplyAsync(cluster.Client);
        var grain = cluster.Client.GetGrain<IEntityGrain>(EntityKey.Format("user", "u3"));
        await grain.ApplyEvents(version, TestDefinitions.Source, [TestDefinitions.Click("e1", Now - Minute, "click", 1)]);
        var (index, reader) = Services(cluster);
        Assert.True(index.TryGet("user", "u3", out var first));

        await cluster.Client.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        await Poll.UntilAsync(() => Task.FromResult(index.TryGet("user", "u3", out _)), present => !present, TimeSpan.FromSeconds(10), "u3 to leave the index");
        Assert.False(first.TryRead(version, Features, Now, new FeatureReading[Features.Count]));

        var readings = new FeatureReading[Features.Count];
        await reader.ReadAsync(version, "user", ["u3"], Features, Now, readings);
        Assert.Equal(ScalarValue.FromInt64(1), readings[1].Value);
        Assert.True(index.TryGet("user", "u3", out var second));
        Assert.NotSame(first, second);
    }

    [Fact]
    public async Task Local_reads_running_beside_applies_see_whole_events_only()
    {
        await using var cluster = await FeatureStoreCluster.StartAsync(databasePath: null);
        var version = await TestDefinitions.ApplyAsync(cluster.Client);
        var grain = cluster.Client.GetGrain<IEntityGrain>(EntityKey.Format("user", "hot"));
        await grain.ApplyEvents(version, TestDefinitions.Source, [TestDefinitions.Click("seed", Now - Minute, "click", 1)]);
        var (_, reader) = Services(cluster);
        using var stop = new CancellationTokenSource();

        // Every event is a click of amount 1, so a consistent reading has clicks_1h == amount_24h, never one ahead of the other.
        var reads = new long[3];
        var readers = Enumerable.Range(0, reads.Length).Select(r => Task.Run(async () =>
        {
            var readings = new FeatureReading[Features.Count];
            long last = 0;
            while (!stop.IsCancellationRequested)
            {
                await reader.ReadAsync(version, "user", ["hot"], Features, Now, readings);
                var clicks = readings[1].Value.AsInt64;
                Assert.Equal(clicks, (long)readings[2].Value.AsDouble);
                Assert.True(clicks >= last);
                last = clicks;
                Interlocked.Increment(ref reads[r]);
            }
        })).ToArray();

        // At least 200 applies, and on until every reader has read beside them a few times (a loaded machine may start
        // the readers late).
        for (var i = 0; i < 200 || (reads.Any(n => n < 10) && i < 20_000); i++)
        {
            await grain.ApplyEvents(version, TestDefinitions.Source, [TestDefinitions.Click($"e{i}a", Now - Minute, "click", 1), TestDefinitions.Click($"e{i}b", Now - Minute, "click", 1)]);
        }

        stop.Cancel();
        await Task.WhenAll(readers);
        Assert.All(reads, n => Assert.True(n >= 10, $"a reader read only {n} times beside the applies"));
    }

    private static (LocalEntityIndex Index, EntityFeatureReader Reader) Services(InProcessTestCluster cluster) =>
        (cluster.Silos[0].ServiceProvider.GetRequiredService<LocalEntityIndex>(), cluster.Silos[0].ServiceProvider.GetRequiredService<EntityFeatureReader>());
}
