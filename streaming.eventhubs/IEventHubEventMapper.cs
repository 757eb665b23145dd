using Azure.Messaging.EventHubs;

namespace OrleansFeatures.Streaming.EventHubs;

/// <summary>
/// Turns received Event Hubs events into stream payloads. The provider knows nothing of the payload: the application
/// decides what an event becomes and what makes it a poison event. Every event of a partition travels on that
/// partition's one stream, so the partition's consumer can hold its commit gate.
/// </summary>
public interface IEventHubEventMapper
{
    /// <summary>
    /// The payload <paramref name="eventData"/> of <paramref name="hub"/> becomes, or a dead-letter reason. Never throws
    /// for a bad event: one that cannot be mapped returns <see cref="EventHubMapping.DeadLetter"/>.
    /// </summary>
    ValueTask<EventHubMapping> MapAsync(string hub, EventData eventData, CancellationToken cancellationToken);
}

/// <summary>The result of mapping one event: a payload, nothing to do, wait, or why it is dead-lettered.</summary>
public sealed class EventHubMapping
{
    private static readonly EventHubMapping NothingToDo = new(null, null);
    private static readonly EventHubMapping Wait = new(null, null) { IsNotReady = true };

    private EventHubMapping(object? payload, string? deadLetterReason)
    {
        Payload = payload;
        DeadLetterReason = deadLetterReason;
    }

    /// <summary>What the partition's stream carries for the event (Orleans-serializable); null when nothing.</summary>
    public object? Payload { get; }

    public string? DeadLetterReason { get; }

    /// <summary>The application cannot map anything yet (e.g. definitions not loaded): the partition waits and retries.</summary>
    public bool IsNotReady { get; private init; }

    public static EventHubMapping NotReady => Wait;

    /// <summary>The event is valid but feeds nothing (for example, no view reads its source yet).</summary>
    public static EventHubMapping Ignored => NothingToDo;

    public static EventHubMapping Of(object payload) => new(payload, null);

    public static EventHubMapping DeadLetter(string reason) => new(null, reason);
}
