using OrleansFeatures.Grains.Interfaces;
using OrleansFeatures.TestInfrastructure;

namespace OrleansFeatures.Grains.Tests;

public class RegistryGrainTests
{
    [Fact]
    public async Task Apply_returns_a_plan_and_bumps_the_version()
    {
        using var temp = new TempDirectory();
        await using var cluster = await FeatureStoreCluster.StartAsync(FeatureStoreCluster.NewDatabasePath(temp));
        var registry = cluster.Client.GetGrain<IRegistryGrain>(IRegistryGrain.DefaultKey);

        var result = await registry.Apply(TestDefinitions.Documents(), dryRun: false);

        Assert.True(result.Applied);
        Assert.Equal(1, result.Version);
        Assert.Contains(result.Changes, c => c.Kind == "added" && c.Name.Contains("activity", StringComparison.Ordinal));
        Assert.Equal(1, (await registry.GetSnapshot()).Version);
    }

    [Fact]
    public async Task Dry_run_plans_without_applying()
    {
        using var temp = new TempDirectory();
        await using var cluster = await FeatureStoreCluster.StartAsync(FeatureStoreCluster.NewDatabasePath(temp));
        var registry = cluster.Client.GetGrain<IRegistryGrain>(IRegistryGrain.DefaultKey);

        var plan = await registry.Apply(TestDefinitions.Documents(), dryRun: true);

        Assert.False(plan.Applied);
        Assert.NotEmpty(plan.Changes);
        Assert.Equal(0, await registry.GetVersion());
    }

    [Fact]
    public async Task Invalid_definitions_are_reported_with_file_and_line_and_not_applied()
    {
        using var temp = new TempDirectory();
        await using var cluster = await FeatureStoreCluster.StartAsync(FeatureStoreCluster.NewDatabasePath(temp));
        var registry = cluster.Client.GetGrain<IRegistryGrain>(IRegistryGrain.DefaultKey);

        var result = await registry.Apply(TestDefinitions.Documents(TestDefinitions.Yaml.Replace("aggregation: sum", "aggregation: avg", StringComparison.Ordinal)), dryRun: false);

        Assert.False(result.Applied);
        var error = Assert.Single(result.Errors);
        Assert.Equal("test.yaml", error.File);
        Assert.True(error.Line > 0);
        Assert.Contains("avg", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, await registry.GetVersion());
    }

    [Fact]
    public async Task Removing_a_feature_is_rejected_unless_the_view_version_is_bumped()
    {
        using var temp = new TempDirectory();
        await using var cluster = await FeatureStoreCluster.StartAsync(FeatureStoreCluster.NewDatabasePath(temp));
        var registry = cluster.Client.GetGrain<IRegistryGrain>(IRegistryGrain.DefaultKey);
        await registry.Apply(TestDefinitions.Documents(), dryRun: false);
        var withoutSum = TestDefinitions.Yaml
            .Replace("      - { name: amount_24h, aggregation: sum, field: amount, window: 24h }\n", "", StringComparison.Ordinal)
            .Replace("activity:clicks_1h, activity:amount_24h,", "activity:clicks_1h,", StringComparison.Ordinal);

        var rejected = await registry.Apply(TestDefinitions.Documents(withoutSum), dryRun: false);
        var bumped = await registry.Apply(TestDefinitions.Documents(withoutSum.Replace("    source: clicks\n", "    version: 2\n    source: clicks\n", StringComparison.Ordinal)), dryRun: false);

        Assert.False(rejected.Applied);
        Assert.Contains(rejected.Rejections, r => r.Contains("amount_24h", StringComparison.Ordinal));
        Assert.True(bumped.Applied, string.Join("; ", bumped.Errors.Select(e => e.Text).Concat(bumped.Rejections)));
        Assert.Equal(2, bumped.Version);
    }
}
