using Timestamp = Google.Protobuf.WellKnownTypes.Timestamp;
using OrleansFeatures.V1;

namespace OrleansFeatures.EndToEnd.Tests;

internal static class Events
{
    public static Event Play(string id, string user, DateTimeOffset time, string sport, string kind, double seconds)
    {
        var e = new Event { EventId = id, EventTime = Timestamp.FromDateTimeOffset(time) };
        e.Fields["user_id"] = new Value { StringValue = user };
        e.Fields["sport"] = new Value { StringValue = sport };
        e.Fields["kind"] = new Value { StringValue = kind };
        e.Fields["seconds"] = new Value { DoubleValue = seconds };
        return e;
    }

    public static PushEventsRequest Push(params Event[] events)
    {
        var request = new PushEventsRequest { Source = "plays" };
        request.Events.Add(events);
        return request;
    }
}
