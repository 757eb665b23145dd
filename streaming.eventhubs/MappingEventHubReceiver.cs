using Azure.Messaging.EventHubs;
using Microsoft.Extensions.Logging;
using Orleans.Runtime;
using Orleans.Streaming.EventHubs;
using OrleansFeatures.Streaming.Kafka;

namespace OrleansFeatures.Streaming.EventHubs;

/// <summary>
/// Sits between Orleans' Event Hubs receiver and the partition: every event is mapped before it enters Orleans' cache.
/// A poison event is written to the dead-letter table (awaited, so it is recorded before any later checkpoint passes
/// it) and left out; while the application is not ready (no definitions yet) events wait here, in order. Owns the
/// partition stream's commit gate for as long as it reads.
/// </summary>
internal sealed partial class MappingEventHubReceiver : IEventHubReceiver
{
    private readonly string _hub;
    private readonly string _partition;
    private readonly IEventHubReceiver _source;
    private readonly IEventHubEventMapper _mapper;
    private readonly EventHubDeadLetterTable _deadLetters;
    private readonly StreamId _streamId;
    private readonly EventHubCommitGate _gate;
    private readonly StreamCommitGates _gates;
    private readonly ILogger _logger;
    private readonly Queue<EventData> _pending = new();
    private readonly KeyValuePair<string, object?> _hubTag;

    public MappingEventHubReceiver(
        string hub,
        string partition,
        IEventHubReceiver source,
        IEventHubEventMapper mapper,
        EventHubDeadLetterTable deadLetters,
        StreamId streamId,
        EventHubCommitGate gate,
        StreamCommitGates gates,
        ILogger logger)
    {
        _hub = hub;
        _partition = partition;
        _source = source;
        _mapper = mapper;
        _deadLetters = deadLetters;
        _streamId = streamId;
        _gate = gate;
        _gates = gates;
        _logger = logger;
        _hubTag = new("hub", hub);
        gates.Register(streamId, gate);
    }

    [Obsolete("Use the overload which accepts a CancellationToken.")]
    public Task<IEnumerable<EventData>> ReceiveAsync(int maxCount, TimeSpan waitTime) => ReceiveAsync(maxCount, waitTime, CancellationToken.None);

    public async Task<IEnumerable<EventData>> ReceiveAsync(int maxCount, TimeSpan waitTime, CancellationToken cancellationToken)
    {
        var mapped = new List<EventData>(Math.Min(maxCount, 1_024));
        var consumed = -1L;
        while (mapped.Count < maxCount)
        {
            if (_pending.Count == 0)
            {
                if (mapped.Count > 0)
                {
                    break;
                }

                foreach (var received in await _source.ReceiveAsync(maxCount, waitTime, cancellationToken))
                {
                    _pending.Enqueue(received);
                }

                if (_pending.Count == 0)
                {
                    break;
                }
            }

            var next = _pending.Peek();
            EventHubMapping mapping;
            try
            {
                mapping = await _mapper.MapAsync(_hub, next, cancellationToken);
            }
            catch (Exception exception) when (exception is OperationCanceledException or ObjectDisposedException || cancellationToken.IsCancellationRequested)
            {
                // The silo is stopping under the mapper: no fault of the event. It stays first, and is read again
                // (from the checkpoint) by whoever reads the partition next.
                LogMapperInterrupted(_logger, exception, _hub, _partition, next.SequenceNumber);
                break;
            }
            catch (Exception exception)
            {
                mapping = EventHubMapping.DeadLetter($"mapper failed: {exception.GetType().Name}: {exception.Message}");
            }

            if (mapping.IsNotReady)
            {
                break;
            }

            if (mapping.DeadLetterReason is { } reason)
            {
                // Throws when the table cannot be written: the event stays first and the next pull tries again.
                await _deadLetters.WriteAsync(_hub, _partition, next, reason, cancellationToken);
            }
            else if (mapping.Payload is { } payload)
            {
                mapped.Add(new MappedEventData(next, payload));
            }

            consumed = _pending.Dequeue().SequenceNumber;
        }

        if (consumed >= 0)
        {
            _gate.Consumed(mapped.Count > 0 ? mapped[^1].SequenceNumber : -1, consumed);
        }

        EventHubStreamMetrics.EventsRead.Add(mapped.Count, _hubTag);
        return mapped;
    }

    [Obsolete("Use the overload which accepts a CancellationToken.")]
    public Task CloseAsync() => CloseAsync(CancellationToken.None);

    public Task CloseAsync(CancellationToken cancellationToken)
    {
        _gates.Unregister(_streamId, _gate);
        _gate.Close();
        return _source.CloseAsync(cancellationToken);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Event Hubs {Hub}[{Partition}]: mapping event {SequenceNumber} was interrupted by shutdown; it is read again")]
    private static partial void LogMapperInterrupted(ILogger logger, Exception exception, string hub, string partition, long sequenceNumber);
}
