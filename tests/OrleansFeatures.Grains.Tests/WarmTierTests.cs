using System.Collections.Immutable;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Runtime;
using Orleans.Runtime.Placement;
using Orleans.TestingHost;
using OrleansFeatures.Core.Engine;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Grains.Definitions;
using OrleansFeatures.Grains.Interfaces;
using OrleansFeatures.Grains.Serving;
using OrleansFeatures.Grains.State;
using OrleansFeatures.TestInfrastructure;

namespace OrleansFeatures.Grains.Tests;

/// <summary>
/// The warm and cold read paths: a deactivated entity is served from its packed state without activating it, exactly
/// as its activation would answer, and never after an activation (on any silo) has started applying events.
/// </summary>
public class WarmTierTests
{
    private const long Now = 1_800_000_000_000;
    private const long Minute = 60_000;
    private const long Day = 24 * 60 * Minute;

    private static readonly FeatureRefList Features = new(
        ["activity", "activity", "activity", "activity", "no_such_view"],
        ["last_kind", "clicks_1h", "amount_24h", "no_such_feature", "x"]);

    private static readonly long[] Instants = [Now, Now + (20 * Minute), Now + (2 * Day), Now + (31 * Day)];

    [Fact]
    public async Task A_warm_read_equals_the_active_read_at_every_instant_windows_and_ttl_included()
    {
        await using var cluster = await FeatureStoreCluster.StartAsync(databasePath: null);
        var version = await TestDefinitions.ApplyAsync(cluster.Client);
        await ApplyAsync(cluster, version, "u1",
            TestDefinitions.Click("e1", Now - (50 * Minute), "click", 2.5),
            TestDefinitions.Click("e2", Now - (20 * Minute), "view", 1.0),
            TestDefinitions.Click("e3", Now - (5 * Minute), "click", 0.5));
        var silo = Silo(cluster);
        var active = await ReadAtInstantsAsync(silo.Reader, version, "u1");

        await DeactivateAsync(cluster, silo, "u1");
        var warm = await ReadAtInstantsAsync(silo.Reader, version, "u1");

        Assert.Equal(active, warm);
        Assert.False(silo.Index.TryGet("user", "u1", out _));
        Assert.Equal(ScalarValue.FromInt64(1), warm[1][1].Value);
        Assert.Equal(ReadingStatus.Expired, warm[3][0].Status);
        Assert.Equal(ReadingStatus.NotFound, warm[0][3].Status);
        Assert.Equal(ReadingStatus.NotFound, warm[0][4].Status);
        Assert.True(silo.Warm.Bytes > 0);
    }

    [Fact]
    public async Task First_variance_stddev_and_count_distinct_are_served_warm_from_the_copy_as_the_activation_serves_them()
    {
        var yaml = TestDefinitions.Yaml.Replace("      - { name: amount_24h", """
                  - { name: first_kind_1h, aggregation: first, field: kind, window: 1h }
                  - { name: amount_var_24h, aggregation: variance, field: amount, window: 24h }
                  - { name: amount_sd_1h, aggregation: stddev, field: amount, window: 1h, tile: 5m }
                  - { name: kinds_24h, aggregation: count_distinct, field: kind, window: 24h }
                  - { name: amount_24h
            """.TrimEnd(), StringComparison.Ordinal);
        FeatureRefList features = new(
            ["activity", "activity", "activity", "activity"],
            ["first_kind_1h", "amount_var_24h", "amount_sd_1h", "kinds_24h"]);
        await using var cluster = await FeatureStoreCluster.StartAsync(databasePath: null);
        var version = await TestDefinitions.ApplyAsync(cluster.Client, yaml);
        await ApplyAsync(cluster, version, "u7",
            TestDefinitions.Click("e1", Now - (50 * Minute), "view", 2.5),
            TestDefinitions.Click("e2", Now - (20 * Minute), "click", 1.0),
            TestDefinitions.Click("e3", Now - (5 * Minute), "buy", 0.5),
            TestDefinitions.Click("e4", Now - (3 * Minute), "click", 7.25));
        var silo = Silo(cluster);
        var active = await ReadAsync(silo.Reader, version, features);

        await DeactivateAsync(cluster, silo, "u7");
        var warm = new List<FeatureReading[]>();
        foreach (var at in Instants)
        {
            // Served by the warm tier itself, not by an activation or storage.
            var readings = new FeatureReading[features.Count];
            Assert.True(silo.Warm.TryRead(version, "user", "u7", features, at, readings));
            warm.Add(readings);
        }

        Assert.Equal(active, warm);
        Assert.Equal(active, await ReadAsync(silo.Reader, version, features));
        Assert.False(silo.Index.TryGet("user", "u7", out _));
        Assert.Equal(ScalarValue.FromString("view"), warm[0][0].Value);
        Assert.Equal(ScalarValue.FromInt64(3), warm[0][3].Value);
        // 2.5, 1, 0.5 and 7.25 (mean 2.8125): the squared deviations sum to 28.421875.
        Assert.Equal(Math.Sqrt(28.421875 / 4), warm[0][2].Value.AsDouble, 12);
    }

    [Fact]
    public async Task Last_n_lists_are_served_warm_from_the_copy_as_the_activation_serves_them()
    {
        var yaml = TestDefinitions.Yaml.Replace("      - { name: amount_24h", """
                  - { name: last_kinds_1h, aggregation: last_n, n: 3, field: kind, window: 1h }
                  - { name: last_amounts_24h, aggregation: last_n, n: 2, field: amount, window: 24h, tile: 1h }
                  - { name: amount_24h
            """.TrimEnd(), StringComparison.Ordinal);
        FeatureRefList features = new(["activity", "activity"], ["last_kinds_1h", "last_amounts_24h"]);
        await using var cluster = await FeatureStoreCluster.StartAsync(databasePath: null);
        var version = await TestDefinitions.ApplyAsync(cluster.Client, yaml);
        await ApplyAsync(cluster, version, "u7",
            TestDefinitions.Click("e1", Now - (50 * Minute), "view", 2.5),
            TestDefinitions.Click("e2", Now - (20 * Minute), "click", 1.0),
            TestDefinitions.Click("e4", Now - (3 * Minute), "click", 7.25),
            TestDefinitions.Click("e3", Now - (5 * Minute), "buy", 0.5));
        var silo = Silo(cluster);
        var active = await ReadAsync(silo.Reader, version, features);

        await DeactivateAsync(cluster, silo, "u7");
        var warm = new List<FeatureReading[]>();
        foreach (var at in Instants)
        {
            var readings = new FeatureReading[features.Count];
            Assert.True(silo.Warm.TryRead(version, "user", "u7", features, at, readings));
            warm.Add(readings);
        }

        Assert.Equal(active, warm);
        Assert.Equal(active, await ReadAsync(silo.Reader, version, features));
        Assert.Equal(ScalarValue.FromList([ScalarValue.FromString("click"), ScalarValue.FromString("buy"), ScalarValue.FromString("click")]), warm[0][0].Value);
        Assert.Equal(ScalarValue.FromList([ScalarValue.FromDouble(7.25), ScalarValue.FromDouble(0.5)]), warm[0][1].Value);
    }

    [Fact]
    public async Task A_warm_copy_written_for_other_features_of_the_same_version_is_not_served_and_storage_answers()
    {
        await using var cluster = await FeatureStoreCluster.StartAsync(databasePath: null);
        var version = await TestDefinitions.ApplyAsync(cluster.Client);
        var silo = Silo(cluster);
        await ApplyAsync(cluster, version, "u9",
            TestDefinitions.Click("e1", Now - (30 * Minute), "click", 4),
            TestDefinitions.Click("e2", Now - (2 * Minute), "view", 1.5));
        var active = await ReadAtInstantsAsync(silo.Reader, version, "u9");
        await DeactivateAsync(cluster, silo, "u9");

        // A copy names no feature: one written for the same version's features in another order must not be read
        // against this silo's order (its bytes would answer for other features).
        var view = silo.Catalog.Current.FindView("activity")!;
        var reordered = new CompiledFeatureView(view.Definition with { Features = [.. view.Definition.Features.Reverse()] });
        var state = new FeatureViewState(reordered);
        state.Apply(TestDefinitions.Click("other", Now - Minute, "click", 100));
        var leaving = silo.Warm.BeginLeaving("user", "u9")!;
        silo.Warm.Complete("user", "u9", leaving, [new WarmEntityCache.WarmView("activity", view.Definition.Version, EngineStateMapper.PackForRead(state))]);

        Assert.False(silo.Warm.TryRead(version, "user", "u9", Features, Now, new FeatureReading[Features.Count]));
        Assert.Equal(active, await ReadAtInstantsAsync(silo.Reader, version, "u9"));
    }

    [Fact]
    public async Task An_event_for_a_warm_entity_activates_it_and_its_warm_copy_is_not_served_again()
    {
        await using var cluster = await FeatureStoreCluster.StartAsync(databasePath: null);
        var version = await TestDefinitions.ApplyAsync(cluster.Client);
        var silo = Silo(cluster);
        await ApplyAsync(cluster, version, "u2", TestDefinitions.Click("e1", Now - Minute, "click", 1));
        await DeactivateAsync(cluster, silo, "u2");

        await ApplyAsync(cluster, version, "u2", TestDefinitions.Click("e2", Now - Minute, "click", 1));

        Assert.False(silo.Warm.TryRead(version, "user", "u2", Features, Now, new FeatureReading[Features.Count]));
        Assert.True(silo.Index.TryGet("user", "u2", out _));
        var readings = new FeatureReading[Features.Count];
        await silo.Reader.ReadAsync(version, "user", ["u2"], Features, Now, readings);
        Assert.Equal(ScalarValue.FromInt64(2), readings[1].Value);
    }

    [Fact]
    public async Task A_read_racing_activations_of_a_warm_entity_never_answers_behind_an_acknowledged_event()
    {
        await using var cluster = await FeatureStoreCluster.StartAsync(databasePath: null);
        var version = await TestDefinitions.ApplyAsync(cluster.Client);
        var silo = Silo(cluster);
        long acknowledged = 0;
        using var stop = new CancellationTokenSource();
        var reads = 0L;
        var readers = Enumerable.Range(0, 2).Select(_ => Task.Run(async () =>
        {
            var readings = new FeatureReading[Features.Count];
            while (!stop.IsCancellationRequested)
            {
                // Whatever was acknowledged before this read started must be in its answer.
                var floor = Volatile.Read(ref acknowledged);
                await silo.Reader.ReadAsync(version, "user", ["u3"], Features, Now, readings);
                var seen = readings[1].Status == ReadingStatus.Present ? readings[1].Value.AsInt64 : 0;
                Assert.True(seen >= floor, $"read {seen} clicks after {floor} were acknowledged");
                Interlocked.Increment(ref reads);
            }
        })).ToArray();

        for (var round = 1; round <= 6; round++)
        {
            await ApplyAsync(cluster, version, "u3", TestDefinitions.Click($"e{round}", Now - Minute, "click", 1));
            Volatile.Write(ref acknowledged, round);
            await DeactivateAsync(cluster, silo, "u3");
        }

        await stop.CancelAsync();
        await Task.WhenAll(readers);
        Assert.True(Interlocked.Read(ref reads) > 0);
    }

    [Fact]
    public async Task An_activation_on_any_silo_drops_the_warm_copy_on_every_silo()
    {
        await using var cluster = await FeatureStoreCluster.StartAsync(databasePath: null, silos: 2);
        var version = await TestDefinitions.ApplyAsync(cluster.Client);
        var silos = cluster.Silos.Select(s => Services(s.ServiceProvider)).ToArray();
        await Poll.UntilAsync(() => Task.FromResult(silos.All(s => s.Catalog.Current.Version >= version)), ok => ok, TimeSpan.FromSeconds(10), "both silos to load the definitions");

        // A warm copy on both silos (as left by an activation there), then an activation somewhere: whichever silo
        // it lands on, the other one's copy must go before it applies anything, or that silo would serve a stale value.
        var remoteDrops = 0;
        for (var e = 0; e < 6; e++)
        {
            var id = $"m{e}";
            foreach (var silo in silos)
            {
                PlantWarmCopy(silo, id, clicks: 1);
                Assert.True(silo.Warm.TryRead(version, "user", id, Features, Now, new FeatureReading[Features.Count]));
            }

            await ApplyAsync(cluster, version, id, TestDefinitions.Click($"{id}-a", Now - Minute, "click", 1), TestDefinitions.Click($"{id}-b", Now - Minute, "click", 1));

            var activeOn = silos.Single(s => s.Index.TryGet("user", id, out _));
            remoteDrops += silos.Count(s => s != activeOn);
            foreach (var silo in silos)
            {
                Assert.False(silo.Warm.TryRead(version, "user", id, Features, Now, new FeatureReading[Features.Count]));
                var readings = new FeatureReading[Features.Count];
                await silo.Reader.ReadAsync(version, "user", [id], Features, Now, readings);
                Assert.Equal(ScalarValue.FromInt64(2), readings[1].Value);
            }
        }

        Assert.True(remoteDrops > 0);
    }

    [Fact]
    public async Task A_stopping_silo_drops_its_warm_copies_and_activations_elsewhere_apply_without_it()
    {
        await using var cluster = await FeatureStoreCluster.StartAsync(databasePath: null, silos: 3);
        var version = await TestDefinitions.ApplyAsync(cluster.Client);
        var victim = cluster.Silos[2];
        var silos = cluster.Silos.Select(s => Services(s.ServiceProvider)).ToArray();
        await Poll.UntilAsync(() => Task.FromResult(silos.All(s => s.Catalog.Current.Version >= version)), ok => ok, TimeSpan.FromSeconds(10), "every silo to load the definitions");
        var ids = Enumerable.Range(0, 5).Select(e => $"s{e}").ToArray();
        foreach (var id in ids)
        {
            PlantWarmCopy(silos[2], id, clicks: 1);
        }

        await cluster.StopSiloAsync(victim);

        // Closed as its stop began, before the cluster saw it stopping: nothing it held can be served any more.
        Assert.Equal(0, silos[2].Warm.Count);
        Assert.All(ids, id => Assert.False(silos[2].Warm.TryRead(version, "user", id, Features, Now, new FeatureReading[Features.Count])));
        foreach (var id in ids)
        {
            await ApplyAsync(cluster, version, id, TestDefinitions.Click($"{id}-a", Now - Minute, "click", 1));
            var readings = new FeatureReading[Features.Count];
            await silos[0].Reader.ReadAsync(version, "user", [id], Features, Now, readings);
            Assert.Equal(ScalarValue.FromInt64(1), readings[1].Value);
        }
    }

    [Fact]
    public async Task A_closed_warm_tier_takes_no_copy_and_keeps_its_leaving_markers()
    {
        await using var cluster = await FeatureStoreCluster.StartAsync(databasePath: null);
        var version = await TestDefinitions.ApplyAsync(cluster.Client);
        var silo = Silo(cluster);
        await Poll.UntilAsync(() => Task.FromResult(silo.Catalog.Current.Version >= version), ok => ok, TimeSpan.FromSeconds(10), "the silo to load the definitions");
        PlantWarmCopy(silo, "before", clicks: 1);
        var leaving = silo.Warm.BeginLeaving("user", "leaving")!;

        silo.Warm.Close();

        Assert.Equal(0, silo.Warm.Count);
        Assert.False(silo.Warm.TryRead(version, "user", "before", Features, Now, new FeatureReading[Features.Count]));
        // A deactivation under way still sends this silo's readers to its grain, and its copy is not kept.
        Assert.True(silo.Warm.IsLeaving("user", "leaving"));
        var view = silo.Catalog.Current.FindView("activity")!;
        silo.Warm.Complete("user", "leaving", leaving, [new WarmEntityCache.WarmView("activity", view.Definition.Version, EngineStateMapper.PackForRead(new FeatureViewState(view)))]);
        Assert.False(silo.Warm.IsLeaving("user", "leaving"));
        Assert.Equal(0, silo.Warm.Count);
        PlantWarmCopy(silo, "after", clicks: 1);
        Assert.False(silo.Warm.TryRead(version, "user", "after", Features, Now, new FeatureReading[Features.Count]));
    }

    [Fact]
    public async Task A_silos_warm_tier_is_reached_once_membership_says_it_is_active_before_its_grain_manifest_arrives()
    {
        var joined = SiloAddress.New(System.Net.IPAddress.Loopback, 11_112, 2);
        var stopping = SiloAddress.New(System.Net.IPAddress.Loopback, 11_113, 3);
        var membership = new FixedMembership(new ClusterMembershipSnapshot(
            ImmutableDictionary<SiloAddress, ClusterMember>.Empty
                .Add(joined, new ClusterMember(joined, SiloStatus.Active, "joined"))
                .Add(stopping, new ClusterMember(stopping, SiloStatus.ShuttingDown, "stopping")),
            new MembershipVersion(7)));
        var director = new SiloPinnedPlacementDirector(membership);
        // The placing silo has no grain manifest of the joined silo yet: it is not among the compatible silos.
        var context = new NoCompatibleSilos();

        Assert.Equal(joined, await director.OnAddActivation(SiloPinnedPlacement.Instance, Target(joined), context));
        await Assert.ThrowsAsync<SiloUnavailableException>(() => director.OnAddActivation(SiloPinnedPlacement.Instance, Target(stopping), context));

        static PlacementTarget Target(SiloAddress silo) =>
            new(GrainId.Create("warmtier", silo.ToParsableString()), [], default, 0);
    }

    private sealed class FixedMembership(ClusterMembershipSnapshot snapshot) : IClusterMembershipService
    {
        public ClusterMembershipSnapshot CurrentSnapshot => snapshot;

        public IAsyncEnumerable<ClusterMembershipSnapshot> MembershipUpdates => throw new NotSupportedException();

        public ValueTask Refresh(MembershipVersion minimumVersion = default, CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

        public Task<bool> TryKill(SiloAddress siloAddress) => throw new NotSupportedException();
    }

    private sealed class NoCompatibleSilos : IPlacementContext
    {
        public SiloAddress LocalSilo => SiloAddress.New(System.Net.IPAddress.Loopback, 11_111, 1);

        public SiloStatus LocalSiloStatus => SiloStatus.Active;

        public SiloAddress[] GetCompatibleSilos(PlacementTarget target) => [];

        public IReadOnlyDictionary<ushort, SiloAddress[]> GetCompatibleSilosWithVersions(PlacementTarget target) => new Dictionary<ushort, SiloAddress[]>();
    }

    [Fact]
    public async Task Warm_entities_beyond_the_byte_budget_are_evicted_least_recently_read_first()
    {
        await using var cluster = await FeatureStoreCluster.StartAsync(databasePath: null, configure: silo =>
            silo.Services.Configure<ServingOptions>(o => o.WarmTierMiB = 1));
        var version = await TestDefinitions.ApplyAsync(cluster.Client);
        var silo = Silo(cluster);
        await silo.Catalog.EnsureAtLeastAsync(version);
        PlantWarmCopy(silo, "kept", clicks: 1);
        var size = silo.Warm.Bytes;
        var fits = (int)((1024 * 1024) / size);
        for (var i = 0; i < fits * 2; i++)
        {
            // Read "kept" as often as others arrive: it is never the least recently read.
            Assert.True(silo.Warm.TryRead(version, "user", "kept", Features, Now, new FeatureReading[Features.Count]));
            PlantWarmCopy(silo, $"w{i}", clicks: 1);
        }

        Assert.InRange(silo.Warm.Bytes, 1, 1024 * 1024);
        Assert.InRange(silo.Warm.Count, fits / 2, fits);
        Assert.True(silo.Warm.TryRead(version, "user", "kept", Features, Now, new FeatureReading[Features.Count]));
        Assert.False(silo.Warm.TryRead(version, "user", "w0", Features, Now, new FeatureReading[Features.Count]));
    }

    [Fact]
    public async Task Cold_entities_of_a_request_are_read_from_sqlite_in_one_batch_without_activating_them()
    {
        using var directory = new TempDirectory("orleansfeatures-warm-cold");
        await using var cluster = await FeatureStoreCluster.StartAsync(FeatureStoreCluster.NewDatabasePath(directory));
        var version = await TestDefinitions.ApplyAsync(cluster.Client);
        var silo = Silo(cluster);
        await ApplyAsync(cluster, version, "c1",
            TestDefinitions.Click("e1", Now - (50 * Minute), "click", 2.5),
            TestDefinitions.Click("e2", Now - (5 * Minute), "view", 1.0));
        await ApplyAsync(cluster, version, "c2", TestDefinitions.Click("e3", Now - (30 * Minute), "click", 4));
        var active = await ReadAtInstantsAsync(silo.Reader, version, "c1", "c2", "never-seen");

        await DeactivateAsync(cluster, silo, "c1");
        await DeactivateAsync(cluster, silo, "c2");
        // Out of the warm tier too: only storage holds them now.
        silo.Warm.Invalidate("user", "c1");
        silo.Warm.Invalidate("user", "c2");

        var cold = await ReadAtInstantsAsync(silo.Reader, version, "c1", "c2", "never-seen");

        Assert.Equal(active, cold);
        Assert.False(silo.Index.TryGet("user", "c1", out _));
        Assert.False(silo.Index.TryGet("user", "c2", out _));
        Assert.False(silo.Index.TryGet("user", "never-seen", out _));
    }

    private static async Task<List<FeatureReading[]>> ReadAsync(EntityFeatureReader reader, long version, FeatureRefList features)
    {
        var all = new List<FeatureReading[]>();
        foreach (var at in Instants)
        {
            var readings = new FeatureReading[features.Count];
            await reader.ReadAsync(version, "user", ["u7"], features, at, readings);
            all.Add(readings);
        }

        return all;
    }

    private static async Task<List<FeatureReading[]>> ReadAtInstantsAsync(EntityFeatureReader reader, long version, params string[] ids)
    {
        var all = new List<FeatureReading[]>();
        foreach (var at in Instants)
        {
            var readings = new FeatureReading[ids.Length * Features.Count];
            await reader.ReadAsync(version, "user", ids, Features, at, readings);
            all.Add(readings);
        }

        return all;
    }

    private static Task ApplyAsync(InProcessTestCluster cluster, long version, string id, params FeatureEvent[] events) =>
        cluster.Client.GetGrain<IEntityGrain>(EntityKey.Format("user", id)).ApplyEvents(version, TestDefinitions.Source, events);

    private static async Task DeactivateAsync(InProcessTestCluster cluster, SiloServices silo, string id)
    {
        // Collected again while polling: a reader that found the entity leaving activated it once more through its grain.
        await Poll.UntilAsync(async () =>
            {
                await cluster.Client.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
                return !silo.Index.TryGet("user", id, out _) && silo.Warm.TryRead(0, "user", id, Features, Now, new FeatureReading[Features.Count]);
            },
            warm => warm, TimeSpan.FromSeconds(20), $"{id} to become warm");
    }

    /// <summary>A warm copy of user <paramref name="id"/> with <paramref name="clicks"/> recent clicks, as a deactivation there would leave it.</summary>
    private static void PlantWarmCopy(SiloServices silo, string id, int clicks)
    {
        var view = silo.Catalog.Current.FindView("activity")!;
        var state = new FeatureViewState(view);
        for (var i = 0; i < clicks; i++)
        {
            state.Apply(TestDefinitions.Click($"{id}-planted-{i}", Now - Minute, "click", 1));
        }

        var leaving = silo.Warm.BeginLeaving("user", id)!;
        silo.Warm.Complete("user", id, leaving, [new WarmEntityCache.WarmView("activity", view.Definition.Version, EngineStateMapper.PackForRead(state))]);
    }

    private static SiloServices Silo(InProcessTestCluster cluster) => Services(cluster.Silos[0].ServiceProvider);

    private static SiloServices Services(IServiceProvider services) => new(
        services.GetRequiredService<LocalEntityIndex>(),
        services.GetRequiredService<WarmEntityCache>(),
        services.GetRequiredService<EntityFeatureReader>(),
        services.GetRequiredService<DefinitionCatalog>());

    private sealed record SiloServices(LocalEntityIndex Index, WarmEntityCache Warm, EntityFeatureReader Reader, DefinitionCatalog Catalog);
}

/// <summary>The warm tier's and the entity lifetime's settings are refused at start-up when out of range, naming the setting.</summary>
public class WarmTierSettingsTests
{
    [Theory]
    [InlineData(-1, false)]
    [InlineData(0, true)]
    [InlineData(256, true)]
    [InlineData(ServingOptions.MaxWarmTierMiB + 1, false)]
    public void The_warm_tier_budget_is_checked(int mib, bool valid)
    {
        var result = new ServingOptionsValidator().Validate(null, new ServingOptions { WarmTierMiB = mib });
        Assert.Equal(valid, result.Succeeded);
        if (!valid)
        {
            Assert.Contains("FeatureStore:Serving:WarmTierMiB", result.FailureMessage);
        }
    }

    [Theory]
    [InlineData(30, false)]
    [InlineData(60, false)]
    [InlineData(65, true)]
    [InlineData(2 * 3600, true)]
    [InlineData(31 * 86400, false)]
    public void The_entity_idle_timeout_is_checked(int seconds, bool valid)
    {
        var result = new ServingOptionsValidator().Validate(null, new EntityLifetimeOptions { IdleTimeout = TimeSpan.FromSeconds(seconds) });
        Assert.Equal(valid, result.Succeeded);
        if (!valid)
        {
            Assert.Contains("FeatureStore:Entities:IdleTimeout", result.FailureMessage);
        }
    }

    [Fact]
    public async Task The_idle_timeout_becomes_the_entity_grains_collection_age_only()
    {
        await using var cluster = await FeatureStoreCluster.StartAsync(databasePath: null, configure: silo =>
            silo.Services.Configure<EntityLifetimeOptions>(o => o.IdleTimeout = TimeSpan.FromMinutes(7)));
        var collection = cluster.Silos[0].ServiceProvider.GetRequiredService<Microsoft.Extensions.Options.IOptions<Orleans.Configuration.GrainCollectionOptions>>().Value;
        Assert.Equal(TimeSpan.FromMinutes(7), collection.ClassSpecificCollectionAge[typeof(EntityGrain).FullName!]);
        Assert.Equal(TimeSpan.FromMinutes(15), collection.CollectionAge);
    }
}
