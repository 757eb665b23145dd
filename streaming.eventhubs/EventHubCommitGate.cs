using OrleansFeatures.Streaming.Kafka;

namespace OrleansFeatures.Streaming.EventHubs;

/// <summary>
/// The commit gate of one partition's stream: what its consumer reports durable advances the partition's checkpoint.
/// Orleans' Event Hubs receiver does not report deliveries, so nothing else does: while no consumer holds the gate
/// (it runs on another silo than the receiver), the checkpoint stays where it is and a restart replays more.
/// Events the receiver consumed without handing them on (dead-lettered, skipped) are covered once everything handed
/// on before them is durable.
/// </summary>
internal sealed class EventHubCommitGate(EventHubPartitionCheckpointer checkpointer) : IStreamCommitGate
{
    private readonly object _lock = new();
    private long _handedOn = -1;
    private long _consumed = -1;
    private long _durable = -1;
    private bool _failed;
    private volatile bool _closed;

    public bool IsClosed => _closed;

    public void Close() => _closed = true;

    public void Hold()
    {
    }

    public void Durable(long sequenceNumber)
    {
        lock (_lock)
        {
            _durable = Math.Max(_durable, sequenceNumber);
            Advance();
        }
    }

    /// <summary>The receiver consumed events through <paramref name="consumed"/>, the newest handed on to the stream being <paramref name="handedOn"/>.</summary>
    public void Consumed(long handedOn, long consumed)
    {
        lock (_lock)
        {
            _handedOn = Math.Max(_handedOn, handedOn);
            _consumed = Math.Max(_consumed, consumed);
            Advance();
        }
    }

    /// <summary>The consumer lost events it had not made durable: the checkpoint stays until the receiver restarts and replays them.</summary>
    public void Fail()
    {
        lock (_lock) _failed = true;
    }

    public void Release()
    {
    }

    private void Advance()
    {
        if (_failed)
        {
            return;
        }

        var through = _durable >= _handedOn ? Math.Max(_durable, _consumed) : _durable;
        if (through >= 0)
        {
            checkpointer.Advance(through);
        }
    }
}
