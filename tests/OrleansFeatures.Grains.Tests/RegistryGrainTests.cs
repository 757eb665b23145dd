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

    [Fact]
    public async Task Of_twenty_concurrent_appliers_expecting_one_version_exactly_one_wins_and_the_rest_are_refused()
    {
        using var temp = new TempDirectory();
        await using var cluster = await FeatureStoreCluster.StartAsync(FeatureStoreCluster.NewDatabasePath(temp));
        var registry = cluster.Client.GetGrain<IRegistryGrain>(IRegistryGrain.DefaultKey);
        var baseVersion = await TestDefinitions.ApplyAsync(cluster.Client);

        var results = await Task.WhenAll(Enumerable.Range(0, 20).Select(i =>
            registry.Apply([.. TestDefinitions.Documents(), SourceDocument(i)], dryRun: false, expectedVersion: baseVersion)));

        var winner = Assert.Single(results, r => r.Applied);
        Assert.Equal(baseVersion + 1, winner.Version);
        var refused = results.Where(r => !r.Applied).ToList();
        Assert.Equal(19, refused.Count);
        Assert.All(refused, r => Assert.True(r.VersionConflict));
        Assert.All(refused, r => Assert.Equal(baseVersion + 1, r.Version));
        var snapshot = await registry.GetSnapshot();
        Assert.Equal(baseVersion + 1, snapshot.Version);
        Assert.Equal(2, snapshot.Documents.Count);
    }

    [Fact]
    public async Task Concurrent_appliers_that_reread_after_a_conflict_lose_no_change()
    {
        using var temp = new TempDirectory();
        await using var cluster = await FeatureStoreCluster.StartAsync(FeatureStoreCluster.NewDatabasePath(temp));
        var registry = cluster.Client.GetGrain<IRegistryGrain>(IRegistryGrain.DefaultKey);
        var baseVersion = await TestDefinitions.ApplyAsync(cluster.Client);

        // Read-modify-write: each applier adds its own source document to whatever the registry holds now.
        var conflicts = await Task.WhenAll(Enumerable.Range(0, 20).Select(async i =>
        {
            var refusals = 0;
            while (true)
            {
                var snapshot = await registry.GetSnapshot();
                var result = await registry.Apply([.. snapshot.Documents, SourceDocument(i)], dryRun: false, expectedVersion: snapshot.Version);
                if (result.Applied)
                {
                    return refusals;
                }

                Assert.True(result.VersionConflict, string.Join("; ", result.Errors.Select(e => e.Text).Concat(result.Rejections)));
                refusals++;
            }
        }));

        var final = await registry.GetSnapshot();
        Assert.Equal(baseVersion + 20, final.Version);
        Assert.Equal(21, final.Documents.Count);
        Assert.True(conflicts.Sum() > 0, "the appliers never raced; the test proves nothing");
    }

    [Fact]
    public async Task A_stale_expected_version_is_refused_before_the_documents_are_read()
    {
        using var temp = new TempDirectory();
        await using var cluster = await FeatureStoreCluster.StartAsync(FeatureStoreCluster.NewDatabasePath(temp));
        var registry = cluster.Client.GetGrain<IRegistryGrain>(IRegistryGrain.DefaultKey);
        await TestDefinitions.ApplyAsync(cluster.Client);

        var stale = await registry.Apply(TestDefinitions.Documents("not: [valid"), dryRun: false, expectedVersion: 0);
        var emptyOnly = await registry.Apply([.. TestDefinitions.Documents(), SourceDocument(1)], dryRun: false, expectedVersion: 0);

        Assert.True(stale.VersionConflict);
        Assert.Empty(stale.Errors);
        Assert.True(emptyOnly.VersionConflict);
        Assert.Equal(1, await registry.GetVersion());
    }

    private static DefinitionDocumentDto SourceDocument(int i) => new(
        $"source-{i}.yaml",
        $"sources:\n  - name: extra-{i}\n    fields: {{ event_id: string, ts: int64, user_id: string }}\n");
}
