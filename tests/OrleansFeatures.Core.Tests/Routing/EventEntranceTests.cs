using System.Text;
using OrleansFeatures.Core.Definitions;
using OrleansFeatures.Core.Engine;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Core.Routing;

namespace OrleansFeatures.Core.Tests.Routing;

/// <summary>The steps every entrance takes around the routing plan (normalise, admit, route), from fields and from JSON alike.</summary>
public class EventEntranceTests
{
    private const string Users = """
        entity: user
        key: user_id
        sources:
          - name: plays
            timestamp_field: ts
            event_id_field: event_id
            fields: { event_id: string, ts: int64, user_id: string, seconds: double }
          - name: audit
            timestamp_field: ts
            event_id_field: event_id
            fields: { event_id: string, ts: int64, user_id: string }
        feature_views:
          - name: user_seconds
            source: plays
            features:
              - { name: s, aggregation: sum, field: seconds, window: 1h }
        """;

    private const long Now = 1_800_000_000_000;

    private static readonly DefinitionSet Set = Load();

    [Fact]
    public void A_valid_event_is_normalised_and_routed_to_its_entities()
    {
        var entities = new List<EntityRef> { new("user", "earlier") };

        var verdict = EventEntrance.Enter(Route("plays", EntrancePolicy.Push), null, null, Fields(("event_id", "e1"), ("ts", Now), ("user_id", "u1"), ("seconds", 3L)), null, Now, entities);

        Assert.Equal(RouteDecision.Routed, verdict.Decision);
        Assert.Equal(("e1", Now), (verdict.Event!.EventId, verdict.Event.TimestampMs));
        Assert.Equal(ScalarKind.Double, verdict.Event.Fields["seconds"].Kind);
        Assert.Equal(1, verdict.FirstEntity);
        Assert.Equal([new EntityRef("user", "earlier"), new EntityRef("user", "u1")], entities);
    }

    [Fact]
    public void Fields_and_json_of_the_same_event_give_the_same_verdict()
    {
        var fromFields = EventEntrance.Enter(Route("plays", EntrancePolicy.Stream), "m1", Now, Fields(("user_id", "u1"), ("seconds", 2.5)), null, Now, []);
        var fromJson = EventEntrance.EnterJson(Route("plays", EntrancePolicy.Stream), Encoding.UTF8.GetBytes("""{"user_id":"u1","seconds":2.5}"""), "m1", Now, null, Now, []);

        Assert.Equal((fromFields.Decision, fromFields.Event!.EventId, fromFields.Event.TimestampMs), (fromJson.Decision, fromJson.Event!.EventId, fromJson.Event.TimestampMs));
        Assert.Equal(fromFields.Event.Fields["seconds"], fromJson.Event.Fields["seconds"]);
    }

    [Fact]
    public void An_invalid_event_is_refused_with_the_schema_reason()
    {
        var verdict = EventEntrance.Enter(Route("plays", EntrancePolicy.Push), "e1", Now, Fields(("user_id", "u1"), ("seconds", "many")), null, Now, []);

        Assert.Equal(RouteDecision.Rejected, verdict.Decision);
        Assert.Null(verdict.Event);
        Assert.Contains("field 'seconds' is string", verdict.Reason);
    }

    [Fact]
    public void An_event_ahead_of_the_clock_is_refused_by_admission_and_touches_no_entity()
    {
        var entities = new List<EntityRef>();

        var verdict = EventEntrance.Enter(Route("plays", EntrancePolicy.Push), "e1", Now + (2 * 3_600_000), Fields(("user_id", "u1")), null, Now, entities);

        Assert.Equal(RouteDecision.Rejected, verdict.Decision);
        Assert.Contains("ahead of the server clock", verdict.Reason);
        Assert.Empty(entities);
    }

    [Fact]
    public void Without_a_clock_an_event_is_admitted_as_of_its_own_time()
    {
        var verdict = EventEntrance.Enter(Route("plays", EntrancePolicy.Push), "e1", Now + (2 * 3_600_000), Fields(("user_id", "u1")), null, nowMs: null, []);

        Assert.Equal(RouteDecision.Routed, verdict.Decision);
    }

    [Fact]
    public void An_event_no_view_reads_is_rejected_on_push_and_skipped_on_streams()
    {
        var push = EventEntrance.Enter(Route("audit", EntrancePolicy.Push), "e1", Now, Fields(("user_id", "u1")), null, Now, []);
        var stream = EventEntrance.Enter(Route("audit", EntrancePolicy.Stream), "e1", Now, Fields(("user_id", "u1")), "k", Now, []);

        Assert.Equal((RouteDecision.Rejected, "no feature view reads source 'audit'"), (push.Decision, push.Reason));
        Assert.Equal(RouteDecision.Skipped, stream.Decision);
    }

    [Fact]
    public void A_transport_key_stands_in_for_a_missing_key_and_is_held_to_the_key_limit()
    {
        var keyed = new List<EntityRef>();
        var routed = EventEntrance.Enter(Route("plays", EntrancePolicy.Stream), "e1", Now, Fields(("seconds", 1.0)), "u9", Now, keyed);
        var tooLong = EventEntrance.Enter(Route("plays", EntrancePolicy.Stream), "e2", Now, Fields(("seconds", 1.0)), new string('k', 300), Now, []);

        Assert.Equal(RouteDecision.Routed, routed.Decision);
        Assert.Equal([new EntityRef("user", "u9")], keyed);
        Assert.Equal(RouteDecision.Rejected, tooLong.Decision);
        Assert.Contains("entity key in 'user_id' is 300 characters", tooLong.Reason);
    }

    private static EntranceRoute Route(string source, EntrancePolicy policy)
    {
        var route = RoutingPlan.Compile(Set).ForSource(source)!;
        var fed = Set.FeatureViews.Values.Where(v => v.Source.Name == source).Select(v => new CompiledFeatureView(v)).ToList();
        return new EntranceRoute(route, fed, policy, new EventLimits());
    }

    private static Dictionary<string, ScalarValue> Fields(params (string Name, object Value)[] fields) =>
        fields.ToDictionary(f => f.Name, f => f.Value switch
        {
            string text => ScalarValue.FromString(text),
            long number => ScalarValue.FromInt64(number),
            double number => ScalarValue.FromDouble(number),
            _ => throw new ArgumentException(f.Name),
        });

    private static DefinitionSet Load()
    {
        var loaded = DefinitionLoader.Load([new DefinitionDocument("users.yaml", Users)]);
        Assert.True(loaded.Set is not null, string.Join("; ", loaded.Errors));
        return loaded.Set;
    }
}
