using Orleans.Runtime;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Core.Routing;
using OrleansFeatures.Grains.Interfaces;

namespace OrleansFeatures.Grains.Ingestion;

/// <summary>
/// What every stream entrance (a Kafka message, an Event Hubs event) does with a message: the source's flat JSON value,
/// an event id and time the transport may carry beside it (Kafka headers, Event Hubs properties), and the transport's
/// key go through core's <see cref="EventEntrance"/> (the steps push and offline take too) and become one
/// <see cref="IngestedEvent"/>, or the reason the message is poison.
/// </summary>
public sealed class StreamEventMapper(IngestionEntrance entrance, ILocalSiloDetails silo)
{
    public const string EventIdField = StreamMessage.EventIdField;
    public const string EventTimeField = StreamMessage.EventTimeField;

    /// <param name="transport">How the transport names a source and the metadata beside the value, for reasons.</param>
    /// <param name="source">The topic or hub: a definition source.</param>
    /// <param name="value">The JSON value.</param>
    /// <param name="metadataId">An <c>event_id</c> carried beside the value, if any.</param>
    /// <param name="metadataTime">An <c>event_time</c> carried beside the value (Unix ms or ISO-8601), if any.</param>
    /// <param name="transportKey">The message key or partition key: the entity id when the event lacks its key field.</param>
    /// <param name="arrivedMs">When the source got the message (Unix ms: Kafka timestamp, Event Hubs enqueued time), if known; else now.</param>
    public async ValueTask<StreamEventMapping> MapAsync(
        StreamTransport transport,
        string source,
        ReadOnlyMemory<byte> value,
        string? metadataId,
        string? metadataTime,
        string? transportKey,
        long? arrivedMs,
        CancellationToken cancellationToken)
    {
        var (definitions, found) = await entrance.FindAsync(source, EntrancePolicy.Stream, cancellationToken);
        if (definitions.Version == 0)
        {
            // Nothing applied yet (or not loaded yet on this silo): wait rather than dead-letter good events.
            return StreamEventMapping.NotReady;
        }

        if (found is not { } route)
        {
            return StreamEventMapping.Poison($"{transport.SourceKind} '{source}' is not a source in registry version {definitions.Version}");
        }

        // One list per thread, reused: it is read into the event's keys below, with no await in between.
        var entities = t_entities ??= new List<EntityRef>(4);
        entities.Clear();
        var verdict = EventEntrance.EnterMessage(
            route, value.Span, metadataId, metadataTime, transport.MessageKind, transport.MetadataKind, transportKey, entrance.NowMs, entities);
        return verdict.Decision switch
        {
            RouteDecision.Routed => new StreamEventMapping(
                new IngestedEvent(route.Route.Source.Name, definitions.Version, verdict.Event!, IngestionEntrance.GrainKeys(entities, verdict.FirstEntity), silo.SiloAddress, arrivedMs ?? DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()),
                null,
                false),
            RouteDecision.Skipped => StreamEventMapping.Ignored,
            _ => StreamEventMapping.Poison(verdict.Reason!),
        };
    }

    [ThreadStatic]
    private static List<EntityRef>? t_entities;
}

/// <summary>How a transport names its parts in dead-letter reasons.</summary>
public sealed record StreamTransport(string SourceKind, string MessageKind, string MetadataKind)
{
    public static StreamTransport Kafka { get; } = new("topic", "message", "header");

    public static StreamTransport EventHubs { get; } = new("event hub", "event", "property");
}

/// <summary>What one stream message becomes: an event for its partition's ingester, nothing, wait, or poison (with why).</summary>
public readonly record struct StreamEventMapping(IngestedEvent? Event, string? PoisonReason, bool IsNotReady)
{
    // A struct: the mapping of every message was an object that died at once.
    public static StreamEventMapping NotReady { get; } = new(null, null, true);

    /// <summary>Valid, and no view reads its source: skipped (a view added later may read it from an earlier position).</summary>
    public static StreamEventMapping Ignored { get; } = new(null, null, false);

    public static StreamEventMapping Poison(string reason) => new(null, reason, false);
}
