using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;
using OrleansFeatures.Core.Engine;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Grains.Interfaces;
using SportsMedia.FeatureTypes;

namespace OrleansFeatures.Grains.Tests;

/// <summary>C# feature types in a cluster: each silo reports what it loaded, the registry refuses a type some silo lacks, and entities serve it.</summary>
public class FeatureTypeClusterTests
{
    private const long Now = 1_800_000_000_000;

    private static readonly string Yaml = TestDefinitions.Yaml.Replace(
        "      - { name: amount_24h, aggregation: sum, field: amount, window: 24h }",
        "      - { name: amount_24h, aggregation: sum, field: amount, window: 24h }\n      - { name: momentum_1h, aggregation: momentum@1, field: amount, window: 1h, type: double }",
        StringComparison.Ordinal);

    [Fact]
    public async Task A_definition_naming_a_feature_type_one_silo_lacks_is_refused_naming_that_silo()
    {
        var configured = 0;
        await using var cluster = await FeatureStoreCluster.StartAsync(databasePath: null, silos: 2, configure: silo =>
        {
            // Only the first silo has the type's assembly.
            if (Interlocked.Increment(ref configured) == 1)
            {
                silo.Services.AddSingleton(new FeatureTypeCatalog([new MomentumFeatureType()]));
            }
        });
        Assert.Contains("momentum@1", Yaml, StringComparison.Ordinal);
        var registry = cluster.Client.GetGrain<IRegistryGrain>(IRegistryGrain.DefaultKey);
        var silos = await ReportedAsync(registry, 2);
        var lacking = Assert.Single(cluster.Silos, s => s.ServiceProvider.GetRequiredService<FeatureTypeCatalog>().Ids.Count == 0);
        Assert.Equal(["momentum@1"], silos.Single(s => s.Silo != lacking.SiloAddress.ToParsableString()).Types);

        var result = await registry.Apply(TestDefinitions.Documents(Yaml), dryRun: false);

        Assert.False(result.Applied);
        var error = Assert.Single(result.Errors);
        Assert.Equal("feature_views.activity.features.momentum_1h.aggregation", error.Field);
        Assert.Contains("feature type 'momentum@1' is not loaded on every silo of the cluster: missing on 1 of 2", error.Message, StringComparison.Ordinal);
        Assert.Contains($"{lacking.Name} ({lacking.SiloAddress.ToParsableString()}, loaded: none)", error.Message, StringComparison.Ordinal);
        Assert.Equal("test.yaml", error.File);
        Assert.True(error.Line > 0);
        Assert.Equal(0, await registry.GetVersion());

        // A dry run says the same; definitions without the type still apply.
        Assert.Single((await registry.Apply(TestDefinitions.Documents(Yaml), dryRun: true)).Errors);
        Assert.True((await registry.Apply(TestDefinitions.Documents(), dryRun: false)).Applied);
    }

    [Fact]
    public async Task A_feature_type_loaded_on_every_silo_is_applied_and_served_by_entities()
    {
        await using var cluster = await FeatureStoreCluster.StartAsync(databasePath: null, silos: 1, configure: silo =>
            silo.Services.AddSingleton(new FeatureTypeCatalog([new MomentumFeatureType()])));
        await ReportedAsync(cluster.Client.GetGrain<IRegistryGrain>(IRegistryGrain.DefaultKey), 1);
        var version = await TestDefinitions.ApplyAsync(cluster.Client, Yaml);
        var grain = cluster.Client.GetGrain<IEntityGrain>(EntityKey.Format("user", "u1"));

        await grain.ApplyEvents(version, TestDefinitions.Source,
        [
            TestDefinitions.Click("e1", Now - 60_000, "click", 3),
            TestDefinitions.Click("e2", Now - 10_000, "click", -1),
            TestDefinitions.Click("e3", Now - 30_000, "click", 2),
        ]);

        var read = Assert.Single(await grain.Read(version, new FeatureRefList(["activity"], ["momentum_1h"]), Now));
        Assert.Equal(FeatureStatusKind.Present, read.Status);
        Assert.Equal(-1 + (0.8 * 2) + (0.64 * 3), read.Value.AsDouble, 12);
        Assert.Equal(Now - 10_000, read.EventTimeMs);
    }

    /// <summary>Polls until <paramref name="silos"/> active silos have reported their feature types.</summary>
    private static async Task<List<SiloFeatureTypes>> ReportedAsync(IRegistryGrain registry, int silos)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            var reports = await registry.GetFeatureTypes();
            if (reports.Count == silos && reports.All(r => r.Reported))
            {
                return reports;
            }

            Assert.True(DateTime.UtcNow < deadline, $"silos reported: {string.Join(", ", reports.Select(r => $"{r.Name}={r.Reported}"))}");
            await Task.Delay(100);
        }
    }
}
