using System.Diagnostics;
using System.Collections.Concurrent;
using Confluent.Kafka;
using Microsoft.Extensions.Logging;
using Orleans.Runtime;
using Orleans.Providers.Streams.Common;
using Orleans.Streams;

namespace OrleansFeatures.Streaming.Kafka;

/// <summary>
/// Reads one topic partition (one Orleans queue). A dedicated thread runs the blocking consumer and fills a
/// bounded buffer, pausing the partition when the buffer is full; the pulling agent drains the buffer, and
/// offsets are committed only once every event of every message up to them has been delivered.
/// </summary>
internal sealed partial class KafkaQueueAdapterReceiver : IQueueAdapterReceiver
{
    private readonly TopicPartition _partition;
    private readonly KafkaStreamOptions _options;
    private readonly IKafkaMessageMapper _mapper;
    private readonly KafkaDeadLetterSink _deadLetters;
    private readonly ILogger _logger;
    // Lock-free hand-off from the consume thread to the pulling agent (a locked channel was a third of the pull's
    // CPU under a backlog, both threads contending per message); _buffered counts it for back-pressure.
    private readonly ConcurrentQueue<ConsumeResult<byte[]?, byte[]?>> _buffer = new();
    private int _buffered;
    private readonly OffsetTracker _offsets = new();
    private ConsumeResult<byte[]?, byte[]?>? _held;
    // Reused by every pull (one agent turn at a time): built fresh, these grew onto the large-object heap under a
    // backlog and each pull's garbage forced full collections.
    private readonly Dictionary<StreamId, (List<object> Events, List<long> Offsets, long FirstOffset, int FirstIndex)> _open = [];
    private readonly List<StreamId> _order = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly object _commitLock = new();
    private long _commitRequested = -1;
    private long _committed = -1;
    // For the lag gauge: the partition's high watermark as of the consumer's last fetch, and where this receiver
    // started when the group had no committed offset (-1 while unknown).
    private long _highWatermark = -1;
    private long _startedAt = -1;
    private Thread? _consumeThread;
    private volatile Exception? _consumeFailure;
    // Whether the consumer can talk to the brokers, for ingestion readiness: unknown until the first broker round
    // trip, unreachable after a transport error until a probe or a message shows otherwise.
    private volatile BrokerConnection _connection = BrokerConnection.Unknown;
    private volatile string? _connectionProblem = "not connected yet";
    // One commit gate per stream this partition feeds (one, with partition-scoped streams), created on first sight.
    private readonly StreamCommitGates _gateRegistry;
    private readonly Dictionary<StreamId, StreamGate> _gates = [];

    public KafkaQueueAdapterReceiver(
        TopicPartition partition,
        KafkaStreamOptions options,
        IKafkaMessageMapper mapper,
        KafkaDeadLetterSink deadLetters,
        StreamCommitGates gates,
        ILogger logger)
    {
        _gateRegistry = gates;
        _partition = partition;
        PartitionTags = [new("topic", partition.Topic), new("partition", partition.Partition.Value)];
        _options = options;
        _mapper = mapper;
        _deadLetters = deadLetters;
        _logger = logger;
    }

    public Task Initialize(TimeSpan timeout)
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _consumeThread = new Thread(() => ConsumeLoop(started))
        {
            IsBackground = true,
            Name = $"kafka-{_partition.Topic}-{_partition.Partition.Value}",
        };
        _consumeThread.Start();
        KafkaStreamMetrics.Register(this);
        return started.Task.WaitAsync(timeout);
    }

    [Obsolete("Use the overload which accepts a CancellationToken.")]
    public Task<IList<IBatchContainer>> GetQueueMessagesAsync(int maxCount) => GetQueueMessagesAsync(maxCount, CancellationToken.None);

    public async Task<IList<IBatchContainer>> GetQueueMessagesAsync(int maxCount, CancellationToken cancellationToken)
    {
        if (_consumeFailure is { } failure)
        {
            throw new InvalidOperationException($"consumer of {_partition} stopped", failure);
        }

        DrainGates();
        var limit = maxCount is <= 0 or QueueAdapterConstants.UNLIMITED_GET_QUEUE_MSG ? 1_000 : maxCount;
        var open = _open;
        var order = _order;
        open.Clear();
        order.Clear();
        var read = 0;
        while (order.Count < limit && read < _options.MaxMessagesPerPull && (TakeHeld() ?? TakeBuffered()) is { } message)
        {
            var offset = message.Offset.Value;
            KafkaMapping mapping;
            try
            {
                mapping = await _mapper.MapAsync(message, cancellationToken);
            }
            catch (Exception exception) when (IsStopping(exception, cancellationToken))
            {
                // The silo is stopping under the mapper (its services disposed, the pull cancelled): no fault of the
                // message. Keep it at the head of the partition, uncommitted, so whoever reads the partition next
                // gets it. Dead-lettering it here moved valid messages out of the stream on a failed start.
                _held = message;
                KafkaStreamMetrics.MapperInterrupted.Add(1);
                LogMapperInterrupted(_logger, exception, _partition.Topic, _partition.Partition.Value, offset);
                break;
            }
            catch (Exception exception)
            {
                mapping = KafkaMapping.DeadLetter($"mapper failed: {exception.GetType().Name}: {exception.Message}");
            }

            if (mapping.IsNotReady)
            {
                // Keep the message at the head of the partition and try again on the next pull.
                _held = message;
                break;
            }

            // The pulling agent sizes maxCount to the room left in its cache, and one message can feed several
            // streams: never return more containers than asked for, or the cache overflows and drops them.
            if (order.Count > 0 && order.Count + CountNewStreams(mapping.Events, open) > limit)
            {
                _held = message;
                break;
            }

            read++;

            if (mapping.DeadLetterReason is { } reason)
            {
                // Poison: park it with its reason and move on; the partition never stalls on it.
                await _deadLetters.SendAsync(message, reason, cancellationToken);
                _offsets.Track(offset, 0);
                continue;
            }

            // Group the pull's events per stream so its consumer applies and persists them in one step.
            var distinct = 0;
            for (var index = 0; index < mapping.Events.Count; index++)
            {
                var mapped = mapping.Events[index];
                if (!open.TryGetValue(mapped.StreamId, out var group))
                {
                    // The token is (offset, index of the stream within the message): unique and increasing in the
                    // order the batches enter the cache. With the offset alone, two streams first seen in the same
                    // message shared a token, and Orleans' cache started the older one's cursor past its batch.
                    group = ([], [], offset, index);
                    open[mapped.StreamId] = group;
                    order.Add(mapped.StreamId);
                }

                group.Events.Add(mapped.Payload);
                if (group.Offsets.Count == 0 || group.Offsets[^1] != offset)
                {
                    group.Offsets.Add(offset);
                    distinct++;
                }
            }

            _offsets.Track(offset, distinct);
        }

        var containers = new List<IBatchContainer>(order.Count);
        foreach (var streamId in order)
        {
            var (events, offsets, first, index) = open[streamId];
            if (!_gates.ContainsKey(streamId))
            {
                var gate = new StreamGate();
                _gates[streamId] = gate;
                _gateRegistry.Register(streamId, gate);
            }

            containers.Add(new KafkaBatchContainer(streamId, events, [.. offsets], new EventSequenceTokenV2(first, index)));
        }

        open.Clear();
        order.Clear();

        KafkaStreamMetrics.MessagesRead.Add(read, new KeyValuePair<string, object?>("topic", _partition.Topic));
        RequestCommit();
        return containers;
    }

    [Obsolete("Use the overload which accepts a CancellationToken.")]
    public Task MessagesDeliveredAsync(IList<IBatchContainer> messages) => MessagesDeliveredAsync(messages, CancellationToken.None);

    public Task MessagesDeliveredAsync(IList<IBatchContainer> messages, CancellationToken cancellationToken)
    {
        foreach (var message in messages)
        {
            if (message is KafkaBatchContainer container && !(_gates.TryGetValue(container.StreamId, out var gate) && gate.TryDefer(container)))
            {
                MarkDelivered(container);
            }
        }

        DrainGates();
        RequestCommit();
        return Task.CompletedTask;
    }

    /// <summary>Called by the failure handler: never commit at or past this offset, so a restart replays it.</summary>
    public void BlockCommitsAt(StreamSequenceToken token)
    {
        _offsets.Block(token.SequenceNumber);
        LogCommitsBlocked(_logger, _partition.Topic, _partition.Partition.Value, token.SequenceNumber);
    }

    public async Task Shutdown(TimeSpan timeout)
    {
        foreach (var (streamId, gate) in _gates)
        {
            _gateRegistry.Unregister(streamId, gate);
            gate.Close();
        }

        DrainGates();
        KafkaStreamMetrics.Unregister(this);
        RequestCommit();
        await _stop.CancelAsync();
        if (_consumeThread is { } thread)
        {
            await Task.Run(() => thread.Join(timeout), CancellationToken.None);
        }

        _stop.Dispose();
    }

    /// <summary>
    /// Messages of the partition not yet covered by the committed offset: read but not yet durable, or not read yet
    /// (what a restart would read again). Null until the consumer has fetched once.
    /// </summary>
    internal long? Uncommitted
    {
        get
        {
            var high = Interlocked.Read(ref _highWatermark);
            var from = Interlocked.Read(ref _committed) is >= 0 and var committed ? committed : Interlocked.Read(ref _startedAt);
            return high < 0 || from < 0 ? null : Math.Max(0, high - from);
        }
    }

    /// <summary>The topic and partition tags of this receiver's per-partition metrics, built once.</summary>
    internal KeyValuePair<string, object?>[] PartitionTags { get; }

    private bool IsStopping(Exception exception, CancellationToken cancellationToken) =>
        exception is OperationCanceledException or ObjectDisposedException || cancellationToken.IsCancellationRequested || _stop.IsCancellationRequested;

    // Streams of one message that no container of this pull has yet (without allocating: messages feed a few streams).
    private static int CountNewStreams<T>(IReadOnlyList<KafkaMappedEvent> events, Dictionary<StreamId, T> open)
    {
        var count = 0;
        for (var i = 0; i < events.Count; i++)
        {
            var id = events[i].StreamId;
            if (open.ContainsKey(id))
            {
                continue;
            }

            var repeated = false;
            for (var j = 0; j < i && !repeated; j++)
            {
                repeated = events[j].StreamId == id;
            }

            if (!repeated)
            {
                count++;
            }
        }

        return count;
    }

    private void MarkDelivered(KafkaBatchContainer container)
    {
        foreach (var offset in container.Offsets)
        {
            _offsets.Delivered(offset);
        }
    }

    // Applies what consumers reported through their gates (from their own threads) on the agent's turn, the only
    // place the offset tracker is touched.
    private void DrainGates()
    {
        foreach (var gate in _gates.Values)
        {
            if (gate.Drain(this) is { } blockAt)
            {
                _offsets.Block(blockAt);
                LogCommitsBlocked(_logger, _partition.Topic, _partition.Partition.Value, blockAt);
            }
        }
    }

    private ConsumeResult<byte[]?, byte[]?>? TakeBuffered()
    {
        if (!_buffer.TryDequeue(out var message))
        {
            return null;
        }

        Interlocked.Decrement(ref _buffered);
        return message;
    }

    private ConsumeResult<byte[]?, byte[]?>? TakeHeld()
    {
        var held = _held;
        _held = null;
        return held;
    }

    private void RequestCommit()
    {
        if (_offsets.Committable is { } next)
        {
            Interlocked.Exchange(ref _commitRequested, next);
        }
    }

    private void ConsumeLoop(TaskCompletionSource started)
    {
        LowerPriority();
        var config = new ConsumerConfig(_options.CreateClientConfig())
        {
            GroupId = _options.ConsumerGroup,
            EnableAutoCommit = false,
            EnableAutoOffsetStore = false,
            AutoOffsetReset = AutoOffsetReset.Earliest,
            EnablePartitionEof = false,
            FetchWaitMaxMs = (int)_options.FetchWaitMax.TotalMilliseconds,
            // The topic is known (one partition per receiver): skip marshalling its name for every message.
            ConsumeResultFields = "headers,timestamp",
        };
        IConsumer<byte[]?, byte[]?> consumer;
        try
        {
            consumer = new ConsumerBuilder<byte[]?, byte[]?>(config)
                .SetErrorHandler((_, error) => OnError(error))
                .SetLogHandler((_, log) => LogLibrdkafka(_logger, ToLogLevel(log.Level), log.Facility, log.Message))
                .Build();
            // Orleans' queue balancer owns partitions: assign this one, resuming at the group's committed offset.
            consumer.Assign(new TopicPartitionOffset(_partition, Offset.Stored));
            started.TrySetResult();
        }
        catch (Exception exception)
        {
            _consumeFailure = exception;
            KafkaStreamMetrics.Unregister(this);
            started.TrySetException(exception);
            return;
        }

        var paused = false;
        var lastProgress = Stopwatch.GetTimestamp();
        long consumed = 0;
        long? expected = null;
        try
        {
            // While the brokers are unreachable this fails after MetadataTimeout and is tried again once they answer;
            // librdkafka reconnects by itself, and the assigned partition starts at the committed offset then.
            var startKnown = TryReadStartingOffset(consumer, _options.MetadataTimeout, out expected);
            if (expected is { } committedAtStart)
            {
                Interlocked.Exchange(ref _startedAt, committedAtStart);
            }

            var lastWatermark = 0L;
            var lastProbe = 0L;
            while (!_stop.IsCancellationRequested)
            {
                if (_connection != BrokerConnection.Reachable && Stopwatch.GetElapsedTime(lastProbe) > ProbeInterval)
                {
                    ProbeBrokers(consumer);
                    lastProbe = Stopwatch.GetTimestamp();
                    if (!startKnown && _connection == BrokerConnection.Reachable && consumed == 0)
                    {
                        startKnown = TryReadStartingOffset(consumer, _options.MetadataTimeout, out expected);
                        if (expected is { } committedLater)
                        {
                            Interlocked.Exchange(ref _startedAt, committedLater);
                        }
                    }
                }

                CommitIfRequested(consumer);
                if (Stopwatch.GetElapsedTime(lastWatermark) > TimeSpan.FromMilliseconds(500))
                {
                    // Cached from the last fetch response: no round trip to the broker.
                    var high = consumer.GetWatermarkOffsets(_partition).High;
                    if (!high.IsSpecial)
                    {
                        Interlocked.Exchange(ref _highWatermark, high.Value);
                    }

                    lastWatermark = Stopwatch.GetTimestamp();
                }

                if (paused)
                {
                    if (Volatile.Read(ref _buffered) >= _options.BufferedMessagesPerPartition / 2)
                    {
                        _stop.Token.WaitHandle.WaitOne(_options.PollTimeout);
                        continue;
                    }

                    consumer.Resume([_partition]);
                    paused = false;
                    LogResumed(_logger, _partition.Topic, _partition.Partition.Value);
                }

                var result = consumer.Consume(_options.PollTimeout);
                if (result?.Message is null)
                {
                    continue;
                }

                consumed++;
                MarkReachable();
                var offset = result.Offset.Value;
                if (expected is null)
                {
                    // No committed offset: the partition's uncommitted count starts at the first message read.
                    Interlocked.Exchange(ref _startedAt, offset);
                }
                else if (expected is { } next && offset > next)
                {
                    // The broker answered with a later offset than the one asked for: the messages in between are
                    // gone (retention deleted them before they were read, so the consumer reset to the oldest it
                    // holds), or were compacted away or transaction markers. Never silent.
                    KafkaStreamMetrics.OffsetsSkipped.Add(offset - next, PartitionTags);
                    LogOffsetsSkipped(_logger, _partition.Topic, _partition.Partition.Value, next, offset - 1, offset - next);
                }

                expected = offset + 1;
                result.Topic = _partition.Topic;
                _buffer.Enqueue(result);
                if (Interlocked.Increment(ref _buffered) >= _options.BufferedMessagesPerPartition)
                {
                    // Full: stop fetching this partition until the agent has drained half the buffer.
                    consumer.Pause([_partition]);
                    paused = true;
                    KafkaStreamMetrics.PartitionPauses.Add(1);
                    LogPaused(_logger, _partition.Topic, _partition.Partition.Value, _options.BufferedMessagesPerPartition);
                }

                if (Stopwatch.GetElapsedTime(lastProgress) > TimeSpan.FromSeconds(30))
                {
                    LogProgress(_logger, _partition.Topic, _partition.Partition.Value, consumed, result.Offset.Value, Interlocked.Read(ref _committed));
                    lastProgress = Stopwatch.GetTimestamp();
                }
            }

            CommitIfRequested(consumer);
        }
        catch (Exception exception)
        {
            _consumeFailure = exception;
            KafkaStreamMetrics.ConsumerFailures.Add(1);
            LogConsumeFailed(_logger, exception, _partition.Topic, _partition.Partition.Value);
        }
        finally
        {
            consumer.Close();
            consumer.Dispose();
        }
    }

    /// <summary>
    /// Reads the group's committed offset, where consumption starts (null when there is none); false when the
    /// brokers did not answer.
    /// </summary>
    private bool TryReadStartingOffset(IConsumer<byte[]?, byte[]?> consumer, TimeSpan timeout, out long? offset)
    {
        try
        {
            var committed = consumer.Committed([_partition], timeout).Single().Offset;
            offset = committed.IsSpecial ? null : committed.Value;
            MarkReachable();
            return true;
        }
        catch (KafkaException exception)
        {
            MarkUnreachable(exception.Error.Reason);
            LogKafkaError(_logger, _partition.Topic, _partition.Partition.Value, exception.Error.Code, $"committed offset unreadable, skipped offsets before the first message go uncounted: {exception.Error.Reason}");
            offset = null;
            return false;
        }
    }

    // One broker round trip (the partition's watermarks) to learn whether the brokers answer again.
    private void ProbeBrokers(IConsumer<byte[]?, byte[]?> consumer)
    {
        try
        {
            var watermarks = consumer.QueryWatermarkOffsets(_partition, ProbeInterval);
            if (!watermarks.High.IsSpecial)
            {
                Interlocked.Exchange(ref _highWatermark, watermarks.High.Value);
            }

            MarkReachable();
        }
        catch (KafkaException exception)
        {
            MarkUnreachable(exception.Error.Reason);
        }
    }

    private void OnError(Error error)
    {
        LogKafkaError(_logger, _partition.Topic, _partition.Partition.Value, error.Code, error.Reason);
        if (error.Code is Confluent.Kafka.ErrorCode.Local_Transport or Confluent.Kafka.ErrorCode.Local_AllBrokersDown or Confluent.Kafka.ErrorCode.Local_Resolve
            or Confluent.Kafka.ErrorCode.Local_Authentication or Confluent.Kafka.ErrorCode.Local_Ssl or Confluent.Kafka.ErrorCode.Local_TimedOut)
        {
            MarkUnreachable(error.Reason);
        }
    }

    private void MarkReachable()
    {
        if (_connection != BrokerConnection.Reachable)
        {
            _connectionProblem = null;
            _connection = BrokerConnection.Reachable;
            LogBrokersReachable(_logger, _partition.Topic, _partition.Partition.Value);
        }
    }

    private void MarkUnreachable(string reason)
    {
        _connectionProblem = reason;
        _connection = BrokerConnection.Unreachable;
    }

    /// <summary>
    /// Null while this partition's consumer talks to the brokers; otherwise why it does not (not connected yet, the
    /// last transport error, or the consumer stopped).
    /// </summary>
    internal string? IngestionProblem =>
        _consumeFailure is { } failure ? $"consumer stopped: {failure.Message}"
        : _connection == BrokerConnection.Reachable ? null
        : _connectionProblem ?? "brokers unreachable";

    internal string PartitionName => $"{_partition.Topic}/{_partition.Partition.Value}";

    private static readonly TimeSpan ProbeInterval = TimeSpan.FromSeconds(1);

    private enum BrokerConnection
    {
        Unknown,
        Reachable,
        Unreachable,
    }

    private static LogLevel ToLogLevel(SyslogLevel level) => level switch
    {
        SyslogLevel.Emergency or SyslogLevel.Alert or SyslogLevel.Critical or SyslogLevel.Error => LogLevel.Error,
        SyslogLevel.Warning => LogLevel.Warning,
        SyslogLevel.Notice => LogLevel.Information,
        _ => LogLevel.Debug,
    };

    private void CommitIfRequested(IConsumer<byte[]?, byte[]?> consumer)
    {
        var requested = Interlocked.Read(ref _commitRequested);
        if (requested <= _committed)
        {
            return;
        }

        try
        {
            consumer.Commit([new TopicPartitionOffset(_partition, new Offset(requested))]);
            Interlocked.Exchange(ref _committed, requested);
            KafkaStreamMetrics.CommittedOffset.Record(requested, PartitionTags);
        }
        catch (KafkaException exception)
        {
            // Retried on the next loop; a lost commit only means a larger replay after a restart.
            KafkaStreamMetrics.CommitFailures.Add(1);
            LogCommitFailed(_logger, exception, _partition.Topic, _partition.Partition.Value, requested);
        }
    }

    /// <summary>
    /// The consume thread copies every message out of librdkafka: below request handling in OS priority, like the
    /// ingestion lane's workers (<see cref="KafkaStreamOptions.ConsumeThreadNice"/>). A refusal is logged and counted;
    /// the partition is read all the same.
    /// </summary>
    private void LowerPriority()
    {
        if (_options.ConsumeThreadNice <= 0 || !ThreadNice.IsSupported)
        {
            return;
        }

        if (ThreadNice.TryLowerCurrent(_options.ConsumeThreadNice, out var nice, out var error))
        {
            LogConsumeThreadNice(_logger, _partition.Topic, _partition.Partition.Value, nice);
        }
        else
        {
            KafkaStreamMetrics.ConsumeThreadPriorityFailures.Add(1);
            LogConsumeThreadNiceFailed(_logger, _partition.Topic, _partition.Partition.Value, error!);
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Kafka {Topic}[{Partition}]: consume thread runs at nice {Nice}")]
    private static partial void LogConsumeThreadNice(ILogger logger, string topic, int partition, int nice);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Kafka {Topic}[{Partition}]: the consume thread's priority could not be lowered ({Error}); it runs at the process's priority")]
    private static partial void LogConsumeThreadNiceFailed(ILogger logger, string topic, int partition, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Kafka {Topic}[{Partition}]: {Code} {Reason}")]
    private static partial void LogKafkaError(ILogger logger, string topic, int partition, Confluent.Kafka.ErrorCode code, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Kafka {Topic}[{Partition}]: brokers reachable")]
    private static partial void LogBrokersReachable(ILogger logger, string topic, int partition);

    [LoggerMessage(Message = "librdkafka {Facility}: {Message}")]
    private static partial void LogLibrdkafka(ILogger logger, LogLevel level, string facility, string message);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Kafka {Topic}[{Partition}]: offsets {From}..{To} ({Count} messages) were never returned by the broker: deleted by retention before they were read, compacted, or transaction markers")]
    private static partial void LogOffsetsSkipped(ILogger logger, string topic, int partition, long from, long to, long count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Kafka {Topic}[{Partition}]: mapping offset {Offset} was interrupted by shutdown; the message stays uncommitted and is read again")]
    private static partial void LogMapperInterrupted(ILogger logger, Exception exception, string topic, int partition, long offset);

    [LoggerMessage(Level = LogLevel.Information, Message = "Kafka {Topic}[{Partition}] paused: {Buffered} messages buffered")]
    private static partial void LogPaused(ILogger logger, string topic, int partition, int buffered);

    [LoggerMessage(Level = LogLevel.Information, Message = "Kafka {Topic}[{Partition}] resumed")]
    private static partial void LogResumed(ILogger logger, string topic, int partition);

    [LoggerMessage(Level = LogLevel.Information, Message = "Kafka {Topic}[{Partition}]: {Consumed} consumed, at offset {Offset}, committed {Committed}")]
    private static partial void LogProgress(ILogger logger, string topic, int partition, long consumed, long offset, long committed);

    [LoggerMessage(Level = LogLevel.Error, Message = "Kafka {Topic}[{Partition}]: consumer stopped")]
    private static partial void LogConsumeFailed(ILogger logger, Exception exception, string topic, int partition);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Kafka {Topic}[{Partition}]: commit of offset {Offset} failed; will retry")]
    private static partial void LogCommitFailed(ILogger logger, Exception exception, string topic, int partition, long offset);

    [LoggerMessage(Level = LogLevel.Error, Message = "Kafka {Topic}[{Partition}]: delivery of offset {Offset} failed; commits stop there until restart so it is replayed")]
    private static partial void LogCommitsBlocked(ILogger logger, string topic, int partition, long offset);

    /// <summary>The commit gate of one stream: delivered batches wait here while its consumer holds the gate and has not yet reported them durable.</summary>
    private sealed class StreamGate : IStreamCommitGate
    {
        private readonly object _lock = new();
        private readonly Queue<KafkaBatchContainer> _pending = new();
        private bool _held;
        private bool _failed;
        private bool _blocked;
        private long _durableUpTo = -1;
        private volatile bool _closed;

        public bool IsClosed => _closed;

        public void Close() => _closed = true;

        public void Hold()
        {
            lock (_lock) _held = true;
        }

        public void Durable(long sequenceNumber)
        {
            lock (_lock) _durableUpTo = Math.Max(_durableUpTo, sequenceNumber);
        }

        public void Fail()
        {
            lock (_lock) _failed = true;
        }

        public void Release()
        {
            lock (_lock) _held = false;
        }

        /// <summary>Keeps a delivered batch back when it is not yet durable; false when it is committable now.</summary>
        public bool TryDefer(KafkaBatchContainer container)
        {
            lock (_lock)
            {
                if (!_failed && (!_held || container.Token.SequenceNumber <= _durableUpTo))
                {
                    return false;
                }

                _pending.Enqueue(container);
                return true;
            }
        }

        /// <summary>Marks delivered every kept batch now covered; after a failure, the offset commits must stop at (once).</summary>
        public long? Drain(KafkaQueueAdapterReceiver receiver)
        {
            lock (_lock)
            {
                while (_pending.TryPeek(out var container) && container.Token.SequenceNumber <= _durableUpTo)
                {
                    _pending.Dequeue();
                    receiver.MarkDelivered(container);
                }

                if (_failed && !_blocked && _pending.TryPeek(out var lost))
                {
                    _blocked = true;
                    return lost.Offsets[0];
                }

                return null;
            }
        }
    }
}
