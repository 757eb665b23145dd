using OrleansFeatures.Core.Definitions;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Core.Routing;

namespace OrleansFeatures.Core.Tests.Routing;

/// <summary>The one routing rule every entrance executes, and each documented difference between entrances.</summary>
public class RoutingPlanTests
{
    private const string Users = """
        entity: user
        key: user_id
        sources:
          - name: plays
            fields: { event_id: string, ts: int64, user_id: string, content_id: string, seconds: double }
          - name: audit
            fields: { event_id: string, ts: int64, user_id: string }
        feature_views:
          - name: user_plays
            source: plays
            features:
              - { name: n, aggregation: count, window: 1h }
          - name: user_seconds
            source: plays
            features:
              - { name: s, aggregation: sum, field: seconds, window: 1h }
        """;

    private const string Contents = """
        entity: content
        key: content_id
        feature_views:
          - name: content_plays
            source: plays
            features:
              - { name: n, aggregation: count, window: 1h }
        """;

    private static readonly RoutingPlan Plan = Compile();

    [Fact]
    public void A_source_feeding_two_entity_types_touches_one_entity_of_each()
    {
        var entities = new List<EntityRef>();

        var decision = Plan.ForSource("plays")!.Route(Event(("user_id", "u1"), ("content_id", "c9")), null, EntrancePolicy.Push, entities, out var reason);

        Assert.Equal(RouteDecision.Routed, decision);
        Assert.Null(reason);
        Assert.Equal([new EntityRef("content", "c9"), new EntityRef("user", "u1")], entities);
    }

    [Fact]
    public void Two_views_of_one_entity_type_keyed_by_one_field_share_one_target()
    {
        Assert.Equal([new RouteTarget("content", "content_id"), new RouteTarget("user", "user_id")], Plan.ForSource("plays")!.Targets);
    }

    [Fact]
    public void An_unknown_source_has_no_route()
    {
        Assert.Null(Plan.ForSource("nope"));
    }

    [Fact]
    public void An_event_missing_one_key_is_rejected_whole_when_the_entrance_has_no_transport_key()
    {
        var entities = new List<EntityRef>();

        var decision = Plan.ForSource("plays")!.Route(Event(("user_id", "u1")), null, EntrancePolicy.Push, entities, out var reason);

        Assert.Equal(RouteDecision.Rejected, decision);
        Assert.Empty(entities);
        Assert.Contains("field 'content_id' (entity type 'content')", reason);
    }

    [Fact]
    public void A_transport_key_stands_in_for_a_missing_key_field()
    {
        var entities = new List<EntityRef>();

        var decision = Plan.ForSource("plays")!.Route(Event(("user_id", "u1")), "c7", EntrancePolicy.Stream, entities, out _);

        Assert.Equal(RouteDecision.Routed, decision);
        Assert.Equal([new EntityRef("content", "c7"), new EntityRef("user", "u1")], entities);
    }

    [Fact]
    public void A_key_field_wins_over_the_transport_key()
    {
        var entities = new List<EntityRef>();

        Plan.ForSource("plays")!.Route(Event(("user_id", "u1"), ("content_id", "c1")), "other", EntrancePolicy.Stream, entities, out _);

        Assert.Equal([new EntityRef("content", "c1"), new EntityRef("user", "u1")], entities);
    }

    [Fact]
    public void A_source_no_view_reads_is_rejected_on_push()
    {
        var decision = Plan.ForSource("audit")!.Route(Event(("user_id", "u1")), null, EntrancePolicy.Push, [], out var reason);

        Assert.Equal(RouteDecision.Rejected, decision);
        Assert.Equal("no feature view reads source 'audit'", reason);
    }

    [Fact]
    public void A_source_no_view_reads_is_skipped_on_streams()
    {
        var decision = Plan.ForSource("audit")!.Route(Event(("user_id", "u1")), "k", EntrancePolicy.Stream, [], out var reason);

        Assert.Equal(RouteDecision.Skipped, decision);
        Assert.Null(reason);
    }

    [Fact]
    public void Integer_keys_route_by_their_decimal_text()
    {
        var entities = new List<EntityRef>();
        var fields = new Dictionary<string, ScalarValue> { ["user_id"] = ScalarValue.FromInt64(42), ["content_id"] = ScalarValue.FromString("c") };

        Plan.ForSource("plays")!.Route(new FeatureEvent("e", 1, fields), null, EntrancePolicy.Push, entities, out _);

        Assert.Contains(new EntityRef("user", "42"), entities);
    }

    [Fact]
    public void Routing_appends_after_what_the_list_already_holds_and_rolls_back_only_its_own_entries()
    {
        var entities = new List<EntityRef> { new("user", "before") };

        Plan.ForSource("plays")!.Route(Event(("user_id", "u1")), null, EntrancePolicy.Push, entities, out _);

        Assert.Equal([new EntityRef("user", "before")], entities);
    }

    private static RoutingPlan Compile()
    {
        var loaded = DefinitionLoader.Load([new DefinitionDocument("users.yaml", Users), new DefinitionDocument("contents.yaml", Contents)]);
        Assert.True(loaded.Set is not null, string.Join("; ", loaded.Errors));
        return RoutingPlan.Compile(loaded.Set);
    }

    private static FeatureEvent Event(params (string Name, string Value)[] fields) =>
        new("e1", 1_800_000_000_000, fields.ToDictionary(f => f.Name, f => ScalarValue.FromString(f.Value)));
}
