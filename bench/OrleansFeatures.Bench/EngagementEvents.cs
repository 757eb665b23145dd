using OrleansFeatures.V1;
using Timestamp = Google.Protobuf.WellKnownTypes.Timestamp;

/// <summary>The sports-media engagement event the push benches send: a user viewing a video of a content item.</summary>
internal static class EngagementEvents
{
    public const string Source = "engagement-events";

    /// <summary>Event <paramref name="id"/> (its id "{prefix}{id}"), dated up to ten minutes before <paramref name="now"/>.</summary>
    public static Event View(string prefix, long id, string user, string content, DateTimeOffset now)
    {
        var e = new Event { EventId = $"{prefix}{id}", EventTime = Timestamp.FromDateTimeOffset(now.AddSeconds(-(id % 600))) };
        e.Fields["user_id"] = new Value { StringValue = user };
        e.Fields["content_id"] = new Value { StringValue = content };
        e.Fields["content_type"] = new Value { StringValue = "video" };
        e.Fields["kind"] = new Value { StringValue = "view" };
        e.Fields["sport"] = new Value { StringValue = "football" };
        e.Fields["watch_seconds"] = new Value { DoubleValue = id % 300 };
        return e;
    }
}
