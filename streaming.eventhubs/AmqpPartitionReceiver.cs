using Azure.Messaging.EventHubs;
using Azure.Messaging.EventHubs.Consumer;
using Azure.Messaging.EventHubs.Primitives;
using Orleans.Streaming.EventHubs;

namespace OrleansFeatures.Streaming.EventHubs;

/// <summary>Reads one partition over AMQP, starting after the checkpointed sequence number (at the oldest event without one).</summary>
internal sealed class AmqpPartitionReceiver : IEventHubReceiver
{
    private readonly PartitionReceiver _receiver;

    public AmqpPartitionReceiver(EventHubStreamOptions options, string hub, string partition, long? afterSequenceNumber)
    {
        var position = afterSequenceNumber is { } after ? EventPosition.FromSequenceNumber(after, isInclusive: false) : EventPosition.Earliest;
        var receiverOptions = new PartitionReceiverOptions { PrefetchCount = options.PrefetchCount };
        if (string.IsNullOrWhiteSpace(options.ConnectionString))
        {
            _receiver = new PartitionReceiver(options.ConsumerGroup, partition, position, options.FullyQualifiedNamespace!, hub, EventHubCredentials.Create(options), receiverOptions);
        }
        else if (!string.IsNullOrEmpty(EventHubsConnectionStringProperties.Parse(options.ConnectionString).EventHubName))
        {
            // A hub-scoped policy names the hub itself (the validator checked it is this one).
            _receiver = new PartitionReceiver(options.ConsumerGroup, partition, position, options.ConnectionString, receiverOptions);
        }
        else
        {
            _receiver = new PartitionReceiver(options.ConsumerGroup, partition, position, options.ConnectionString, hub, receiverOptions);
        }
    }

    [Obsolete("Use the overload which accepts a CancellationToken.")]
    public Task<IEnumerable<EventData>> ReceiveAsync(int maxCount, TimeSpan waitTime) => ReceiveAsync(maxCount, waitTime, CancellationToken.None);

    public Task<IEnumerable<EventData>> ReceiveAsync(int maxCount, TimeSpan waitTime, CancellationToken cancellationToken) =>
        _receiver.ReceiveBatchAsync(maxCount, waitTime, cancellationToken);

    [Obsolete("Use the overload which accepts a CancellationToken.")]
    public Task CloseAsync() => CloseAsync(CancellationToken.None);

    public Task CloseAsync(CancellationToken cancellationToken) => _receiver.CloseAsync(cancellationToken);
}
