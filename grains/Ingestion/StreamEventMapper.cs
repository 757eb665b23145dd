using Orleans.Runtime;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Core.Routing;
using OrleansFeatures.Grains.Definitions;
using OrleansFeatures.Grains.Interfaces;

namespace OrleansFeatures.Grains.Ingestion;

/// <summary>
/// The rule every stream entrance (a Kafka message, an Event Hubs event) shares: the source's flat JSON value, an
/// event id and time the transport may carry beside it (Kafka headers, Event Hubs properties), and the transport's
/// key become one <see cref="IngestedEvent"/> through the registry's event schema, admission limits and routing plan,
/// or the reason the message is poison. Push executes the same schema and plan (<see cref="EventRouter"/>).
/// </summary>
public sealed class StreamEventMapper(DefinitionCatalog catalog, EventAdmissionPolicy admission, ILocalSiloDetails silo)
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
        var definitions = catalog.Current;
        if (definitions.Routing.ForSource(source) is null)
        {
            definitions = await catalog.RefreshAsync(cancellationToken);
        }

        if (definitions.Version == 0)
        {
            // Nothing applied yet (or not loaded yet on this silo): wait rather than dead-letter good events.
            return StreamEventMapping.NotReady;
        }

        if (definitions.Routing.ForSource(source) is not { } route)
        {
            return StreamEventMapping.Poison($"{transport.SourceKind} '{source}' is not a source in registry version {definitions.Version}");
        }

        var featureEvent = StreamMessage.Read(route.Source, value.Span, metadataId, metadataTime, transport.MessageKind, transport.MetadataKind, out var error);
        if (featureEvent is null)
        {
            return StreamEventMapping.Poison(error!);
        }

        if (admission.Check(featureEvent, definitions.ViewsFedBy(route.Source.Name), transportKey) is { } refused)
        {
            return StreamEventMapping.Poison(refused);
        }

        var entities = new List<EntityRef>(route.Targets.Count);
        switch (route.Route(featureEvent, transportKey, EntrancePolicy.Stream, entities, out var reason))
        {
            case RouteDecision.Skipped:
                return StreamEventMapping.Ignored;
            case RouteDecision.Rejected:
                return StreamEventMapping.Poison(reason!);
        }

        var keys = new string[entities.Count];
        for (var i = 0; i < keys.Length; i++)
        {
            keys[i] = EntityKey.Format(entities[i].EntityType, entities[i].EntityId);
        }

        return new StreamEventMapping(new IngestedEvent(route.Source.Name, definitions.Version, featureEvent, keys, silo.SiloAddress, arrivedMs ?? DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()), null, false);
    }
}

/// <summary>How a transport names its parts in dead-letter reasons.</summary>
public sealed record StreamTransport(string SourceKind, string MessageKind, string MetadataKind)
{
    public static StreamTransport Kafka { get; } = new("topic", "message", "header");

    public static StreamTransport EventHubs { get; } = new("event hub", "event", "property");
}

/// <summary>What one stream message becomes: an event for its partition's ingester, nothing, wait, or poison (with why).</summary>
public sealed record StreamEventMapping(IngestedEvent? Event, string? PoisonReason, bool IsNotReady)
{
    public static StreamEventMapping NotReady { get; } = new(null, null, true);

    /// <summary>Valid, and no view reads its source: skipped (a view added later may read it from an earlier position).</summary>
    public static StreamEventMapping Ignored { get; } = new(null, null, false);

    public static StreamEventMapping Poison(string reason) => new(null, reason, false);
}
