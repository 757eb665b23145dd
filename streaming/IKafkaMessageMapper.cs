using Confluent.Kafka;
using Orleans.Runtime;

namespace OrleansFeatures.Streaming.Kafka;

/// <summary>
/// Turns consumed Kafka messages into stream events, and stream events into messages. The provider knows nothing
/// of the payload: the application decides which streams a message feeds and what makes it a poison message.
/// </summary>
public interface IKafkaMessageMapper
{
    /// <summary>
    /// The events one message becomes (one message may feed several streams), or a dead-letter reason. Never throws
    /// for a bad message: a message that cannot be mapped returns <see cref="KafkaMapping.DeadLetter"/>.
    /// </summary>
    ValueTask<KafkaMapping> MapAsync(ConsumeResult<byte[]?, byte[]?> message, CancellationToken cancellationToken);

    /// <summary>The message that carries <paramref name="payload"/> of <paramref name="streamId"/> when it is produced through Orleans.</summary>
    (string Topic, Message<byte[]?, byte[]?> Message) ToMessage(StreamId streamId, object payload);
}

/// <summary>One stream event mapped from a message.</summary>
public readonly record struct KafkaMappedEvent(StreamId StreamId, object Payload);

/// <summary>The result of mapping one message: events, or why it goes to the dead-letter topic.</summary>
public sealed class KafkaMapping
{
    private static readonly KafkaMapping NothingToDo = new([], null);
    private static readonly KafkaMapping Wait = new([], null) { IsNotReady = true };

    private KafkaMapping(IReadOnlyList<KafkaMappedEvent> events, string? deadLetterReason)
    {
        Events = events;
        DeadLetterReason = deadLetterReason;
    }

    public IReadOnlyList<KafkaMappedEvent> Events { get; }

    public string? DeadLetterReason { get; }

    /// <summary>The application cannot map anything yet (e.g. definitions not loaded): the partition waits and retries.</summary>
    public bool IsNotReady { get; private init; }

    public static KafkaMapping NotReady => Wait;

    /// <summary>The message is valid but feeds no stream (for example, no view reads it yet); its offset is done.</summary>
    public static KafkaMapping Ignored => NothingToDo;

    public static KafkaMapping Of(IReadOnlyList<KafkaMappedEvent> events) => new(events, null);

    public static KafkaMapping DeadLetter(string reason) => new([], reason);
}
