using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.Logging;
using Orleans.Runtime;
using Orleans.Streams;

namespace OrleansFeatures.Streaming.Kafka;

/// <summary>Creates one <see cref="StreamIndexedQueueCache"/> per partition (Orleans queue).</summary>
internal sealed class StreamIndexedQueueAdapterCache(int cacheSize, int maxEventsPerDelivery, string providerName, ILoggerFactory loggerFactory) : IQueueAdapterCache
{
    public IQueueCache CreateQueueCache(QueueId queueId) =>
        new StreamIndexedQueueCache(cacheSize, loggerFactory.CreateLogger($"{typeof(StreamIndexedQueueCache).FullName}.{providerName}.{queueId}"), maxEventsPerDelivery);
}

/// <summary>
/// The pulling agent's cache of one partition, indexed by stream: each stream has its own queue of batches in the
/// order they were added, and a cursor only ever looks at its own stream's queue (Orleans' <c>SimpleQueueCache</c>
/// keeps one list of every batch, so each cursor step skipped other streams' batches: O(streams × batches) a pull).
/// <para>
/// Rules, relied on by the pulling agent of Orleans 10.4.2 and pinned by <c>StreamIndexedQueueCacheTests</c>:
/// </para>
/// <list type="bullet">
/// <item>A batch is purged (and reported delivered through <c>MessagesDeliveredAsync</c>) only once every live cursor
/// of its stream has moved past it. The batch a cursor last returned is still being delivered: the agent calls
/// <c>MoveNext</c> again only after the delivery completed (or failed for good), and only then is it passed.
/// Batches are purged out of order: a delivered batch is never held back by older undelivered batches of other
/// streams.</item>
/// <item>A stream with no live cursor when the agent purges has nobody to deliver to, and its batches are purged,
/// as Orleans' cache does (so the partition is never stuck on them). The agent never purges a batch that it still
/// means to deliver: right after adding a pull it pins each new stream with a cursor at the stream's first batch,
/// registers the stream (no read and no purge until every registration is done), gives each consumer a cursor at
/// that batch, and only then disposes the pin; known streams keep their consumers' cursors.</item>
/// <item>Cursors never miss: a token older than a stream's oldest cached batch starts at that batch, a null token
/// starts at the oldest cached batch (a recovery cursor re-reads rather than skips; consumers de-duplicate), and a
/// token past the newest batch waits for the first batch at or after it.</item>
/// <item>A cursor never loses its place: once <c>MoveNext</c> has returned false it returns the stream's next batch
/// as soon as one is added, with or without <c>Refresh</c>, which therefore changes nothing.</item>
/// <item>A stream that has fallen behind gets its queued batches in one delivery: <c>MoveNext</c> joins the stream's
/// consecutive cached batches, up to <c>maxEventsPerDelivery</c> events, into one batch, and every batch it joined
/// stays protected until the next <c>MoveNext</c>. Purging still reports the original batches. So a busy entity is
/// called and written once per delivery, not once per pull it missed.</item>
/// <item><see cref="GetMaxAddCount"/> is a constant tenth of the size, never 0: the agent skips its whole read,
/// including <c>TryPurgeFromCache</c>, when it is 0 or less, so a cache that answered "no room left" would never be
/// purged again and stall the partition. Memory is bounded by <see cref="IsUnderPressure"/> instead, which the
/// agent checks after purging: reading pauses while a full pull would not fit.</item>
/// </list>
/// Not thread-safe: the agent uses its cache and cursors from its own turns only.
/// </summary>
internal sealed partial class StreamIndexedQueueCache : IQueueCache
{
    private readonly Dictionary<StreamId, StreamQueue> _streams = [];
    // Streams whose oldest batches may have become purgeable (a cursor moved or went away, or a batch came in for a
    // stream without cursors); TryPurgeFromCache looks at these only.
    private readonly List<StreamQueue> _purgeCandidates = [];
    private readonly int _cacheSize;
    private readonly int _maxAddCount;
    private readonly ILogger _logger;
    private int _count;

    /// <param name="cacheSize">Most batches held over all streams.</param>
    /// <param name="logger">Where an overfull cache is reported.</param>
    /// <param name="maxEventsPerDelivery">Most events one delivery joins from a stream's queued batches; 1 delivers every batch on its own.</param>
    public StreamIndexedQueueCache(int cacheSize, ILogger logger, int maxEventsPerDelivery = 1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(cacheSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxEventsPerDelivery, 1);
        _cacheSize = cacheSize;
        _maxAddCount = Math.Max(cacheSize / 10, 1);
        _logger = logger;
        MaxEventsPerDelivery = maxEventsPerDelivery;
    }

    /// <summary>Most events one delivery joins from a stream's queued batches.</summary>
    internal int MaxEventsPerDelivery { get; }

    /// <summary>Batches held, over all streams.</summary>
    public int Count => _count;

    /// <summary>Streams the cache holds state for (batches or live cursors).</summary>
    public int StreamCount => _streams.Count;

    /// <summary>The most batches one pull may add: a tenth of the size, whatever the cache holds (never 0, see the class remarks).</summary>
    public int GetMaxAddCount() => _maxAddCount;

    /// <summary>True while one more full pull would not fit in the cache's size.</summary>
    public bool IsUnderPressure() => _count > _cacheSize - _maxAddCount;

    public void AddToCache(IList<IBatchContainer> messages)
    {
        ArgumentNullException.ThrowIfNull(messages);
        foreach (var batch in messages)
        {
            var queue = QueueOf(batch.StreamId);
            queue.Append(batch);
            _count++;
            if (queue.Cursors.Count == 0)
            {
                MarkPurgeCandidate(queue);
            }
        }

        if (_count > _cacheSize)
        {
            // Never dropped (its offsets would never be committed); the agent asks for at most GetMaxAddCount and
            // reads nothing while under pressure, so only a receiver that returns more than asked gets here.
            LogOverfull(_logger, _count, _cacheSize);
        }
    }

    public bool TryPurgeFromCache([MaybeNullWhen(false)] out IList<IBatchContainer> purgedItems)
    {
        purgedItems = null;
        if (_purgeCandidates.Count == 0)
        {
            return false;
        }

        List<IBatchContainer>? purged = null;
        var removed = 0;
        foreach (var queue in _purgeCandidates)
        {
            queue.IsPurgeCandidate = false;
            var floor = queue.Tail;
            foreach (var cursor in queue.Cursors)
            {
                floor = Math.Min(floor, cursor.Floor);
            }

            while (queue.Head < floor)
            {
                var (batch, failed) = queue.RemoveOldest();
                removed++;
                if (!failed)
                {
                    // A batch whose delivery failed for good is dropped without being reported delivered, so its
                    // offsets are never committed (a restart replays it).
                    (purged ??= []).Add(batch);
                }
            }

            if (queue.IsEmpty && queue.Cursors.Count == 0)
            {
                _streams.Remove(queue.StreamId);
            }
        }

        _purgeCandidates.Clear();
        _count -= removed;
        if (purged is null)
        {
            return false;
        }

        purgedItems = purged;
        return true;
    }

    IQueueCacheCursor IQueueCache.GetCacheCursor(StreamId streamId, StreamSequenceToken? token) => GetCacheCursor(streamId, token);

    QueueCacheCursorResult<IQueueCacheCursor> IQueueCache.TryGetCacheCursor(StreamId streamId, StreamSequenceToken? token) =>
        QueueCacheCursorResult<IQueueCacheCursor>.FromCursor(GetCacheCursor(streamId, token));

    QueueCacheCursorResult<IQueueCacheCursor> IQueueCache.TryGetCacheCursorAtPosition(StreamId streamId, StreamSubscriptionStartPosition startPosition)
    {
        var queue = QueueOf(streamId);
        return startPosition switch
        {
            StreamSubscriptionStartPosition.EarliestAvailable => QueueCacheCursorResult<IQueueCacheCursor>.FromCursor(new StreamIndexedQueueCacheCursor(this, queue, queue.Head, null)),
            StreamSubscriptionStartPosition.Latest => QueueCacheCursorResult<IQueueCacheCursor>.FromCursor(new StreamIndexedQueueCacheCursor(this, queue, queue.Tail, null)),
            _ => throw new ArgumentOutOfRangeException(nameof(startPosition), startPosition, "The subscription start position is not defined."),
        };
    }

    /// <summary>A cursor at the stream's first cached batch at or after <paramref name="token"/>; see the class remarks for null and out-of-range tokens.</summary>
    public StreamIndexedQueueCacheCursor GetCacheCursor(StreamId streamId, StreamSequenceToken? token)
    {
        var queue = QueueOf(streamId);
        if (token is null)
        {
            return new StreamIndexedQueueCacheCursor(this, queue, queue.Head, null);
        }

        var position = queue.FirstAtOrAfter(token);
        // Past the newest batch: wait there, skipping any later batch that is still older than the token.
        return new StreamIndexedQueueCacheCursor(this, queue, position, position == queue.Tail ? token : null);
    }

    internal void MarkPurgeCandidate(StreamQueue queue)
    {
        if (!queue.IsPurgeCandidate)
        {
            queue.IsPurgeCandidate = true;
            _purgeCandidates.Add(queue);
        }
    }

    private StreamQueue QueueOf(StreamId streamId)
    {
        if (!_streams.TryGetValue(streamId, out var queue))
        {
            queue = new StreamQueue(streamId);
            _streams.Add(streamId, queue);
        }

        return queue;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Queue cache holds {Count} batches, more than its size {Size}: the receiver returned more than the agent asked for")]
    private static partial void LogOverfull(ILogger logger, int count, int size);
}

/// <summary>
/// One stream's cached batches, oldest first, addressed by absolute position (the number of batches added to the
/// stream before it), so cursors keep their place while older batches are purged.
/// </summary>
internal sealed class StreamQueue(StreamId streamId)
{
    private const int InitialCapacity = 2;
    private Entry[] _entries = new Entry[InitialCapacity];
    private int _first;
    private int _length;

    public StreamId StreamId { get; } = streamId;

    /// <summary>Live cursors of the stream (typically its consumer's, plus briefly the agent's registration pin).</summary>
    public List<StreamIndexedQueueCacheCursor> Cursors { get; } = new(2);

    public bool IsPurgeCandidate { get; set; }

    /// <summary>Position of the oldest cached batch.</summary>
    public long Head { get; private set; }

    /// <summary>Position the next added batch will have.</summary>
    public long Tail => Head + _length;

    public bool IsEmpty => _length == 0;

    public void Append(IBatchContainer batch)
    {
        if (_length == _entries.Length)
        {
            var grown = new Entry[_entries.Length * 2];
            for (var i = 0; i < _length; i++)
            {
                grown[i] = _entries[(_first + i) % _entries.Length];
            }

            _entries = grown;
            _first = 0;
        }

        var token = batch.SequenceToken;
        _entries[(_first + _length) % _entries.Length] = new Entry(batch, token.SequenceNumber, token.EventIndex);
        _length++;
    }

    public IBatchContainer BatchAt(long position) => _entries[Slot(position)].Batch;

    public bool IsOlderThan(long position, StreamSequenceToken token)
    {
        ref var entry = ref _entries[Slot(position)];
        return Compare(entry.SequenceNumber, entry.EventIndex, token) < 0;
    }

    public void MarkFailed(long position)
    {
        if (position >= Head && position < Tail)
        {
            _entries[Slot(position)].Failed = true;
        }
    }

    public (IBatchContainer Batch, bool Failed) RemoveOldest()
    {
        ref var entry = ref _entries[_first];
        var removed = (entry.Batch, entry.Failed);
        entry = default;
        _first = (_first + 1) % _entries.Length;
        _length--;
        Head++;
        if (_length == 0 && _entries.Length > InitialCapacity)
        {
            // A hot stream that once queued many batches does not keep a large array for as long as it has a cursor.
            _entries = new Entry[InitialCapacity];
            _first = 0;
        }

        return removed;
    }

    /// <summary>Position of the first batch whose token is not older than <paramref name="token"/> (binary search; <see cref="Tail"/> if none).</summary>
    public long FirstAtOrAfter(StreamSequenceToken token)
    {
        int low = 0, high = _length;
        while (low < high)
        {
            var middle = (low + high) >>> 1;
            ref var entry = ref _entries[(_first + middle) % _entries.Length];
            if (Compare(entry.SequenceNumber, entry.EventIndex, token) < 0)
            {
                low = middle + 1;
            }
            else
            {
                high = middle;
            }
        }

        return Head + low;
    }

    private int Slot(long position) => (int)((_first + (position - Head)) % _entries.Length);

    // Tokens are numeric (sequence number, event index); compared without the token classes' type checks.
    private static int Compare(long sequenceNumber, int eventIndex, StreamSequenceToken token)
    {
        var bySequence = sequenceNumber.CompareTo(token.SequenceNumber);
        return bySequence != 0 ? bySequence : eventIndex.CompareTo(token.EventIndex);
    }

    private struct Entry(IBatchContainer batch, long sequenceNumber, int eventIndex)
    {
        public IBatchContainer Batch = batch;
        public long SequenceNumber = sequenceNumber;
        public int EventIndex = eventIndex;
        public bool Failed;
    }
}

/// <summary>
/// A cursor over one stream's batches. <see cref="MoveNext"/> returns the stream's next batch, which stays
/// protected from purging until the next <see cref="MoveNext"/> (the agent's signal that its delivery is over) or
/// <see cref="Dispose"/>.
/// </summary>
internal sealed class StreamIndexedQueueCacheCursor : IQueueCacheCursor
{
    private readonly StreamIndexedQueueCache _cache;
    private StreamQueue? _queue;
    private long _next;
    // Position of the first batch of _current (which may join the batches up to _next - 1).
    private long _currentStart;
    private IBatchContainer? _current;
    private StreamSequenceToken? _notBefore;

    internal StreamIndexedQueueCacheCursor(StreamIndexedQueueCache cache, StreamQueue queue, long position, StreamSequenceToken? notBefore)
    {
        _cache = cache;
        _queue = queue;
        _next = position;
        _notBefore = notBefore;
        queue.Cursors.Add(this);
    }

    /// <summary>Position of the oldest batch this cursor still needs: the first of those being delivered, else the next one.</summary>
    internal long Floor => _current is null ? _next : _currentStart;

    public IBatchContainer? GetCurrent(out Exception? exception)
    {
        exception = null;
        return _current;
    }

    public bool MoveNext()
    {
        if (_queue is not { } queue)
        {
            _current = null;
            return false;
        }

        var floor = Floor;
        // Purging never passes a live cursor's floor; the clamp only guards the invariant.
        _next = Math.Max(_next, queue.Head);
        if (_notBefore is { } notBefore)
        {
            while (_next < queue.Tail && queue.IsOlderThan(_next, notBefore))
            {
                _next++;
            }

            if (_next < queue.Tail)
            {
                _notBefore = null;
            }
        }

        _currentStart = _next;
        _current = _next < queue.Tail ? Join(queue) : null;
        if (Floor > floor)
        {
            _cache.MarkPurgeCandidate(queue);
        }

        return _current is not null;
    }

    public QueueCacheCursorMoveResult MoveNextWithResult() =>
        MoveNext() ? QueueCacheCursorMoveResult.Success : QueueCacheCursorMoveResult.NoData;

    /// <summary>Nothing to do: a cursor never loses its place, and sees batches added after it ran dry without being refreshed.</summary>
    public void Refresh(StreamSequenceToken token)
    {
    }

    public void RecordDeliveryFailure()
    {
        if (_current is not null && _queue is { } queue)
        {
            for (var position = _currentStart; position < _next; position++)
            {
                queue.MarkFailed(position);
            }
        }
    }

    // The batch at _next, joined with the stream's following batches while they fit in one delivery; moves _next
    // past every batch it returns.
    private IBatchContainer Join(StreamQueue queue)
    {
        var first = queue.BatchAt(_next++);
        var limit = _cache.MaxEventsPerDelivery;
        if (limit <= 1 || _next == queue.Tail || first is not KafkaBatchContainer head)
        {
            return first;
        }

        var events = head.Events.Count;
        var offsets = head.Offsets.Length;
        var end = _next;
        while (end < queue.Tail && queue.BatchAt(end) is KafkaBatchContainer next && events + next.Events.Count <= limit)
        {
            events += next.Events.Count;
            offsets += next.Offsets.Length;
            end++;
        }

        if (end == _next)
        {
            return first;
        }

        var joined = KafkaBatchContainer.Join(queue, _next - 1, end, events, offsets);
        _next = end;
        return joined;
    }

    public void Dispose()
    {
        if (_queue is { } queue)
        {
            queue.Cursors.Remove(this);
            _cache.MarkPurgeCandidate(queue);
            _queue = null;
        }

        _current = null;
    }
}
