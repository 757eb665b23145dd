using OrleansFeatures.Core.Definitions;

namespace OrleansFeatures.Core.Tests.Definitions;

public class DefinitionPlannerTests
{
    private const string V1 = """
        entity: user
        key: user_id
        sources:
          - name: clicks
            fields: { event_id: string, ts: int64, user_id: string, kind: string, amount: double }
        feature_views:
          - name: activity
            source: clicks
            features:
              - { name: clicks_1h, aggregation: count, window: 1h }
              - { name: amount_24h, aggregation: sum, field: amount, window: 24h }
        """;

    [Fact]
    public void Everything_is_added_against_an_empty_registry()
    {
        var plan = DefinitionPlanner.Plan(DefinitionSet.Empty, Load(V1));

        Assert.True(plan.IsAllowed);
        Assert.Contains(plan.Changes, c => c is { Kind: ChangeKind.Added, ObjectType: "feature_view", Name: "activity" });
        Assert.Contains(plan.Changes, c => c is { Kind: ChangeKind.Added, ObjectType: "entity", Name: "user" });
    }

    [Fact]
    public void Adding_a_feature_is_not_breaking()
    {
        var plan = Plan(V1, V1.Replace("    features:\n", "    features:\n      - { name: n_5m, aggregation: count, window: 5m }\n", StringComparison.Ordinal));

        Assert.True(plan.IsAllowed);
        Assert.Contains(plan.Changes, c => c is { Kind: ChangeKind.Added, ObjectType: "feature", Name: "activity:n_5m" });
    }

    [Fact]
    public void Removing_a_feature_is_rejected_unless_the_view_version_is_bumped()
    {
        var removed = V1.Replace("\n      - { name: amount_24h, aggregation: sum, field: amount, window: 24h }", "", StringComparison.Ordinal);

        var rejected = Plan(V1, removed);
        var bumped = Plan(V1, removed.Replace("    source: clicks", "    version: 2\n    source: clicks", StringComparison.Ordinal));

        Assert.False(rejected.IsAllowed);
        Assert.Contains("activity:amount_24h", Assert.Single(rejected.Rejections), StringComparison.Ordinal);
        Assert.True(bumped.IsAllowed);
        Assert.Contains(bumped.Changes, c => c.Description.Contains("restarts empty", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("window: 1h", "window: 2h", "window 1h → 2h")]
    [InlineData("aggregation: sum", "aggregation: max", "aggregation Sum → Max")]
    [InlineData("aggregation: count, window: 1h }", "aggregation: count, window: 1h, where: \"kind == 'click'\" }", "filter")]
    public void Changing_how_a_feature_is_computed_is_breaking(string find, string replace, string reason)
    {
        var plan = Plan(V1, V1.Replace(find, replace, StringComparison.Ordinal));

        Assert.False(plan.IsAllowed);
        Assert.Contains(reason, Assert.Single(plan.Rejections), StringComparison.Ordinal);
    }

    [Fact]
    public void Changing_the_ttl_is_not_breaking()
    {
        var plan = Plan(V1, V1.Replace("    source: clicks", "    source: clicks\n    ttl: 1d", StringComparison.Ordinal));

        Assert.True(plan.IsAllowed);
        Assert.Contains(plan.Changes, c => c is { Kind: ChangeKind.Changed, ObjectType: "feature_view" });
    }

    [Fact]
    public void Removing_a_view_or_lowering_its_version_is_breaking()
    {
        var v2 = V1.Replace("    source: clicks", "    version: 2\n    source: clicks", StringComparison.Ordinal);

        Assert.False(Plan(v2, V1).IsAllowed);
        Assert.False(Plan(V1, "entity: user\nkey: user_id\n").IsAllowed);
    }

    private static DefinitionPlan Plan(string current, string proposed) => DefinitionPlanner.Plan(Load(current), Load(proposed));

    private static DefinitionSet Load(string yaml)
    {
        var result = DefinitionLoader.Load([new DefinitionDocument("defs.yaml", yaml)]);
        Assert.True(result.Succeeded, string.Join("\n", result.Errors));
        return result.Set!;
    }
}
