using OrleansFeatures.Streaming.Kafka;

namespace OrleansFeatures.Streaming.EventHubs;

/// <summary>
/// The commit gate of one partition's stream: what its consumer reports durable advances the partition's checkpoint.
/// Orleans' Event Hubs receiver does not report deliveries, so nothing else does: while no consumer holds the gate
/// (it runs on another silo than the receiver), the checkpoint stays where it is and a restart replays more.
/// </summary>
internal sealed class EventHubCommitGate(EventHubPartitionCheckpointer checkpointer) : IStreamCommitGate
{
    private volatile bool _failed;
    private volatile bool _closed;

    public bool IsClosed => _closed;

    public void Close() => _closed = true;

    public void Hold()
    {
    }

    public void Durable(long sequenceNumber)
    {
        if (!_failed)
        {
            checkpointer.Advance(sequenceNumber);
        }
    }

    /// <summary>The consumer lost events it had not made durable: the checkpoint stays until the receiver restarts and replays them.</summary>
    public void Fail() => _failed = true;

    public void Release()
    {
    }
}
