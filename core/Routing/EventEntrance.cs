using OrleansFeatures.Core.Engine;
using OrleansFeatures.Core.Events;

namespace OrleansFeatures.Core.Routing;

/// <summary>
/// The steps every entrance (push, Kafka, Event Hubs, the offline training-set builder) takes around the routing plan,
/// in one place: normalise the event against its source (<see cref="EventSchema"/>), admit it
/// (<see cref="EventAdmission"/>), and route it (<see cref="SourceRoute.Route"/>). Entrances differ only by what they
/// pass in: the <see cref="EntrancePolicy"/>, a transport key, and the clock admission checks against. Finding the
/// route (and refreshing definitions on a miss) is the online caller's, since offline has one fixed definition set.
/// </summary>
public static class EventEntrance
{
    /// <summary>An event given as fields (push, offline files); <paramref name="eventId"/> and <paramref name="timestampMs"/> override the source's id and time fields when given.</summary>
    public static EntranceVerdict Enter(
        in EntranceRoute route,
        string? eventId,
        long? timestampMs,
        IReadOnlyDictionary<string, ScalarValue> fields,
        string? transportKey,
        long? nowMs,
        List<EntityRef> entities)
    {
        var featureEvent = EventSchema.Normalize(route.Route.Source, eventId, timestampMs, fields, out var error);
        return featureEvent is null ? EntranceVerdict.Refused(error!) : Admit(route, featureEvent, transportKey, nowMs, entities);
    }

    /// <summary>An event given as a flat JSON value (a Kafka message, an Event Hubs event) and the id and time the transport carries beside it.</summary>
    public static EntranceVerdict EnterJson(
        in EntranceRoute route,
        ReadOnlySpan<byte> json,
        string? eventId,
        long? timestampMs,
        string? transportKey,
        long? nowMs,
        List<EntityRef> entities)
    {
        var featureEvent = EventSchema.ReadJson(route.Route.Source, json, eventId, timestampMs, out var error);
        return featureEvent is null ? EntranceVerdict.Refused(error!) : Admit(route, featureEvent, transportKey, nowMs, entities);
    }

    /// <summary>
    /// Admits a normalised event and appends the entities it touches to <paramref name="entities"/>.
    /// <paramref name="nowMs"/>: the clock an event time may not be too far ahead of; null takes the event's own time
    /// (an offline replay without arrival times, where no event is ahead of itself).
    /// </summary>
    private static EntranceVerdict Admit(in EntranceRoute route, FeatureEvent featureEvent, string? transportKey, long? nowMs, List<EntityRef> entities)
    {
        if (EventAdmission.Check(featureEvent, route.FedViews, transportKey, nowMs ?? featureEvent.TimestampMs, route.Limits) is { } refused)
        {
            return EntranceVerdict.Refused(refused);
        }

        var first = entities.Count;
        return route.Route.Route(featureEvent, transportKey, route.Policy, entities, out var reason) switch
        {
            RouteDecision.Routed => new EntranceVerdict(RouteDecision.Routed, featureEvent, null, first),
            RouteDecision.Skipped => new EntranceVerdict(RouteDecision.Skipped, featureEvent, null, first),
            _ => EntranceVerdict.Refused(reason!),
        };
    }
}

/// <summary>What an entrance executes for one source: its route, the views it feeds (admission checks their keys), the policy and the limits.</summary>
public readonly record struct EntranceRoute(SourceRoute Route, IReadOnlyList<CompiledFeatureView> FedViews, EntrancePolicy Policy, EventLimits Limits);

/// <summary>
/// What became of one event at the entrance: <see cref="RouteDecision.Routed"/> with the normalised event (its
/// entities were appended from <see cref="FirstEntity"/> on), <see cref="RouteDecision.Skipped"/> (no view reads the
/// source, and the entrance skips such events), or <see cref="RouteDecision.Rejected"/> with the reason (invalid,
/// refused by admission, or unroutable).
/// </summary>
public readonly record struct EntranceVerdict(RouteDecision Decision, FeatureEvent? Event, string? Reason, int FirstEntity)
{
    public static EntranceVerdict Refused(string reason) => new(RouteDecision.Rejected, null, reason, 0);
}
