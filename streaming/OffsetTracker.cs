namespace OrleansFeatures.Streaming.Kafka;

/// <summary>
/// Tracks which offsets of one partition are fully delivered, so that the committed offset never passes a message
/// whose events are not yet durable. Not thread-safe: the pulling agent calls it from one turn at a time.
/// </summary>
internal sealed class OffsetTracker
{
    private readonly Queue<long> _order = new();
    private readonly Dictionary<long, int> _pending = [];
    private long? _blockedAt;

    /// <summary>The next offset to commit (one past the last fully delivered message of the contiguous prefix).</summary>
    public long? Committable { get; private set; }

    public int InFlight => _pending.Count;

    /// <summary>Registers a message read from the partition, feeding <paramref name="events"/> stream batches (0 = already done).</summary>
    public void Track(long offset, int events)
    {
        _order.Enqueue(offset);
        _pending[offset] = events;
        Advance();
    }

    /// <summary>One batch holding an event of <paramref name="offset"/> was delivered.</summary>
    public void Delivered(long offset)
    {
        if (_pending.TryGetValue(offset, out var count))
        {
            _pending[offset] = count - 1;
            Advance();
        }
    }

    /// <summary>
    /// Delivery of <paramref name="offset"/> failed for good: commits stop before it, so a restart replays it
    /// (duplicates are absorbed by the consumer) instead of losing it.
    /// </summary>
    public void Block(long offset)
    {
        _blockedAt = _blockedAt is { } blocked ? Math.Min(blocked, offset) : offset;
    }

    public bool IsBlocked => _blockedAt is not null;

    private void Advance()
    {
        while (_order.TryPeek(out var offset) && _pending[offset] <= 0 && (_blockedAt is not { } blocked || offset < blocked))
        {
            _order.Dequeue();
            _pending.Remove(offset);
            Committable = offset + 1;
        }
    }
}
