using Orleans.Streaming.EventHubs;

namespace OrleansFeatures.Streaming.EventHubs;

/// <summary>
/// Where partitions and their raw events come from when it is not the hub itself: registered as a singleton, it
/// replaces the AMQP connection (tests and benchmarks feed an in-memory hub through the real adapter factory, cache,
/// pulling agents and checkpoints). Without one, partitions are read from the namespace over AMQP.
/// </summary>
public interface IEventHubPartitionSource
{
    Task<string[]> GetPartitionIdsAsync(string hub, CancellationToken cancellationToken);

    /// <summary>A receiver of <paramref name="partition"/> starting after <paramref name="afterSequenceNumber"/> (at the oldest event when null).</summary>
    IEventHubReceiver CreateReceiver(string hub, string partition, long? afterSequenceNumber);
}
