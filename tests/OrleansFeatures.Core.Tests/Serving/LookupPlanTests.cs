using OrleansFeatures.Core.Definitions;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Core.Serving;

namespace OrleansFeatures.Core.Tests.Serving;

public class LookupPlanTests
{
    private const string Yaml = """
        entity: user
        key: user_id
        sources:
          - name: plays
            fields: { event_id: string, ts: int64, user_id: string, item_id: string, sport: string, seconds: double }
        feature_views:
          - name: user_plays
            source: plays
            features:
              - { name: plays_1h, aggregation: count, window: 1h }
              - { name: last_sport, latest: sport }
          - name: item_plays
            entity: item
            source: plays
            key_field: item_id
            features:
              - { name: seconds_24h, aggregation: sum, field: seconds, window: 24h }
        feature_services:
          - name: user_ranker
            features: [user_plays:last_sport, user_plays:plays_1h]
            defaults: { "user_plays:plays_1h": 0 }
          - name: cross
            features: [item_plays:seconds_24h, user_plays:plays_1h]
        """;

    private static readonly LookupLimits Limits = new(MaxEntitiesPerRequest: 3, MaxFeaturesPerRequest: 2, MaxKeyLength: 8);

    private static readonly LookupPlan Plan = LookupPlan.Compile(Load());

    [Fact]
    public void A_service_resolves_to_its_columns_in_service_order_with_its_typed_defaults()
    {
        var columns = Plan.Resolve(new LookupRequest("user", ["u1"], null, "user_ranker"), Limits, out var error);

        Assert.Null(error);
        Assert.NotNull(columns);
        Assert.Equal(["user_plays:last_sport", "user_plays:plays_1h"], columns.Names);
        Assert.Equal(["user_plays", "user_plays"], columns.Views);
        Assert.Equal(["last_sport", "plays_1h"], columns.Features);
        Assert.Null(columns.Defaults[0]);
        Assert.Equal(ScalarValue.FromInt64(0), columns.Defaults[1]);
    }

    [Fact]
    public void A_service_resolves_to_the_same_columns_for_every_request_of_one_registry_version()
    {
        var first = Plan.Resolve(new LookupRequest("user", ["u1"], null, "user_ranker"), Limits, out _);
        var second = Plan.Resolve(new LookupRequest("user", ["u2", "u3"], null, "user_ranker"), Limits, out _);

        Assert.Same(first, second);
    }

    [Fact]
    public void Named_references_resolve_in_request_order_without_defaults()
    {
        var columns = Plan.Resolve(new LookupRequest("user", ["u1"], ["user_plays:plays_1h", "user_plays:last_sport"], null), Limits, out var error);

        Assert.Null(error);
        Assert.Equal(["user_plays:plays_1h", "user_plays:last_sport"], columns!.Names);
        Assert.All(columns.Defaults, d => Assert.Null(d));
    }

    [Fact]
    public void Every_bad_id_and_reference_is_a_field_violation_with_its_path()
    {
        Plan.Resolve(new LookupRequest("user", ["u1", " ", "much-too-long"], ["user_plays", "user_plays:plays_1h"], null), Limits, out var error);

        Assert.NotNull(error);
        Assert.Equal(RequestErrorKind.InvalidArgument, error.Kind);
        Assert.Equal(["entity_ids[1]", "entity_ids[2]", "features.references[0]"], error.Violations.Select(v => v.Field));
        Assert.Contains("is empty", error.Violations[0].Description, StringComparison.Ordinal);
        Assert.Contains("limit is 8", error.Violations[1].Description, StringComparison.Ordinal);
        Assert.Contains("not of the form view:feature", error.Violations[2].Description, StringComparison.Ordinal);
        Assert.Contains("entity_ids[1]: is empty", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0, "entity_ids", "at least one")]
    [InlineData(4, "entity_ids", "the limit is 3")]
    public void The_id_count_is_checked_against_the_limits(int count, string field, string description)
    {
        var ids = Enumerable.Range(0, count).Select(i => $"u{i}").ToArray();
        Plan.Resolve(new LookupRequest("user", ids, null, "user_ranker"), Limits, out var error);

        var violation = Assert.Single(error!.Violations);
        Assert.Equal(field, violation.Field);
        Assert.Contains(description, violation.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void Neither_references_nor_a_service_is_a_violation_of_the_selection()
    {
        Plan.Resolve(new LookupRequest("user", ["u1"], null, null), Limits, out var error);

        Assert.Equal(RequestErrorKind.InvalidArgument, error!.Kind);
        Assert.Equal("selection", Assert.Single(error.Violations).Field);
    }

    [Fact]
    public void More_references_than_the_limit_are_refused()
    {
        Plan.Resolve(new LookupRequest("user", ["u1"], ["user_plays:plays_1h", "user_plays:plays_1h", "user_plays:last_sport"], null), Limits, out var error);

        Assert.Equal("features.references", Assert.Single(error!.Violations).Field);
    }

    [Theory]
    [InlineData("nobody", null, "user_ranker", "entity_type")]
    [InlineData("user", null, "no_such_service", "feature_service")]
    [InlineData("user", "no_view:x", null, "features.references[0]")]
    [InlineData("user", "user_plays:no_feature", null, "features.references[0]")]
    public void Unknown_names_are_not_found_naming_the_field(string entityType, string? reference, string? service, string field)
    {
        Plan.Resolve(new LookupRequest(entityType, ["u1"], reference is null ? null : [reference], service), Limits, out var error);

        Assert.Equal(RequestErrorKind.NotFound, error!.Kind);
        Assert.Equal(field, Assert.Single(error.Violations).Field);
    }

    [Fact]
    public void A_reference_to_a_view_of_another_entity_type_is_invalid()
    {
        Plan.Resolve(new LookupRequest("user", ["u1"], ["item_plays:seconds_24h"], null), Limits, out var error);

        Assert.Equal(RequestErrorKind.InvalidArgument, error!.Kind);
        Assert.Contains("belongs to entity type 'item'", Assert.Single(error.Violations).Description, StringComparison.Ordinal);
    }

    [Fact]
    public void A_service_of_another_entity_type_or_of_several_is_invalid_and_says_where_to_go()
    {
        Plan.Resolve(new LookupRequest("item", ["i1"], null, "user_ranker"), Limits, out var other);
        Plan.Resolve(new LookupRequest("user", ["u1"], null, "cross"), Limits, out var several);

        Assert.Equal(RequestErrorKind.InvalidArgument, other!.Kind);
        Assert.Contains("serves entity type 'user', not 'item'", other.Message, StringComparison.Ordinal);
        Assert.Equal(RequestErrorKind.InvalidArgument, several!.Kind);
        Assert.Contains("call GetInferenceInputs", several.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_service_has_its_inference_plan_compiled_with_the_version()
    {
        Assert.Same(Plan.FindInferencePlan("cross"), Plan.FindInferencePlan("cross"));
        Assert.Equal(["item", "user"], Plan.FindInferencePlan("cross")!.Entities.Select(e => e.EntityType));
        Assert.Null(Plan.FindInferencePlan("no_such_service"));
    }

    [Fact]
    public void Violations_past_the_cap_are_counted_not_listed()
    {
        var plan = LookupPlan.Compile(Load());
        var ids = Enumerable.Repeat("", 30).ToArray();
        plan.Resolve(new LookupRequest("user", ids, null, "user_ranker"), new LookupLimits(100, 10, 8), out var error);

        Assert.Equal(RequestError.MaxViolations, error!.Violations.Count);
        Assert.Equal(10, error.Omitted);
        Assert.EndsWith("and 10 more", error.Message, StringComparison.Ordinal);
    }

    private static DefinitionSet Load()
    {
        var result = DefinitionLoader.Load([new DefinitionDocument("defs.yaml", Yaml), new DefinitionDocument("items.yaml", "entity: item\nkey: item_id\n")]);
        Assert.True(result.Succeeded, string.Join("\n", result.Errors));
        return result.Set!;
    }
}
