using System.Globalization;
using Azure;
using Azure.Data.Tables;
using Microsoft.Extensions.Logging;
using Orleans.Streams;

namespace OrleansFeatures.Streaming.EventHubs;

/// <summary>
/// The checkpoint of one partition in the checkpoint table: the sequence number through which every event is durable
/// in entity state (or dead-lettered, or skipped), so a restart reads from the event after it. It advances only when
/// the partition's consumer reports durable progress through the commit gate (<see cref="Advance"/>).
/// <para>
/// Orleans' Event Hubs cache also calls <see cref="Update(string, DateTime)"/> when it purges events by age, whether or
/// not they were delivered, let alone durable; that is why this checkpointer ignores it and
/// <c>AzureTableStreamQueueCheckpointer</c> is not used (docs/streaming.md, "Native Event Hubs").
/// </para>
/// </summary>
internal sealed partial class EventHubPartitionCheckpointer(
    EventHubTables tables,
    string consumerGroup,
    string hub,
    string partition,
    ILogger logger) : IStreamQueueCheckpointer<string>
{
    private readonly object _lock = new();
    private long _latest = -1;
    private long _saved = -1;
    private Task _saving = Task.CompletedTask;

    public static string PartitionKeyOf(string consumerGroup, string hub) => string.Concat(consumerGroup, "|", hub);

    public bool CheckpointExists { get; private set; }

    /// <summary>The newest sequence number reported durable (-1 when none yet).</summary>
    public long Latest
    {
        get
        {
            lock (_lock) return _latest;
        }
    }

    [Obsolete("Use the overload which accepts a CancellationToken.")]
    public Task<string> Load() => Load(CancellationToken.None);

    /// <summary>The stored sequence number as invariant text, or empty when the partition has no checkpoint.</summary>
    public async Task<string> Load(CancellationToken cancellationToken)
    {
        var table = await tables.CheckpointsAsync();
        var row = await table.GetEntityIfExistsAsync<TableEntity>(PartitionKeyOf(consumerGroup, hub), partition, cancellationToken: cancellationToken);
        if (!row.HasValue || row.Value!.GetInt64("SequenceNumber") is not { } sequenceNumber)
        {
            CheckpointExists = false;
            return "";
        }

        lock (_lock)
        {
            _latest = Math.Max(_latest, sequenceNumber);
            _saved = Math.Max(_saved, sequenceNumber);
        }

        CheckpointExists = true;
        LogLoaded(logger, hub, partition, sequenceNumber);
        return sequenceNumber.ToString(CultureInfo.InvariantCulture);
    }

    [Obsolete("Use the overload which accepts a CancellationToken.")]
    public void Update(string offset, DateTime utcNow)
    {
        // Orleans' cache purges by age, not by durability: see the summary.
    }

    public void Update(string offset, DateTime utcNow, CancellationToken cancellationToken)
    {
        // Orleans' cache purges by age, not by durability: see the summary.
    }

    /// <summary>Every event through <paramref name="sequenceNumber"/> is durable: save it (one write in flight at a time; the newest wins).</summary>
    public void Advance(long sequenceNumber)
    {
        lock (_lock)
        {
            if (sequenceNumber <= _latest)
            {
                return;
            }

            _latest = sequenceNumber;
            if (_saving.IsCompleted)
            {
                _saving = SaveAsync();
            }
        }
    }

    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        Task saving;
        lock (_lock)
        {
            if (_saving.IsCompleted && _saved < _latest)
            {
                _saving = SaveAsync();
            }

            saving = _saving;
        }

        await saving.WaitAsync(cancellationToken);
    }

    private async Task SaveAsync()
    {
        await Task.Yield();
        while (true)
        {
            long target;
            lock (_lock)
            {
                if (_saved >= _latest)
                {
                    return;
                }

                target = _latest;
            }

            try
            {
                var table = await tables.CheckpointsAsync();
                var entity = new TableEntity(PartitionKeyOf(consumerGroup, hub), partition)
                {
                    ["SequenceNumber"] = target,
                    ["UpdatedUtc"] = DateTimeOffset.UtcNow,
                };
                await table.UpsertEntityAsync(entity, TableUpdateMode.Replace);
                lock (_lock) _saved = Math.Max(_saved, target);
                EventHubStreamMetrics.CheckpointsSaved.Add(1);
            }
            catch (Exception exception) when (exception is RequestFailedException or IOException or HttpRequestException or TaskCanceledException)
            {
                // The next durable report (about one checkpoint interval later) or the shutdown flush tries again; a
                // checkpoint that stays behind means a larger replay after a restart, never a loss.
                EventHubStreamMetrics.CheckpointFailures.Add(1);
                LogSaveFailed(logger, exception, hub, partition, target);
                return;
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Event Hubs {Hub}[{Partition}]: resuming after checkpointed sequence number {SequenceNumber}")]
    private static partial void LogLoaded(ILogger logger, string hub, string partition, long sequenceNumber);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Event Hubs {Hub}[{Partition}]: saving checkpoint {SequenceNumber} failed; retried with the next durable report")]
    private static partial void LogSaveFailed(ILogger logger, Exception exception, string hub, string partition, long sequenceNumber);
}

/// <summary>Creates the partition checkpointers of one hub, and finds them again for the partition's receiver.</summary>
internal sealed class EventHubPartitionCheckpointerFactory(EventHubTables tables, string consumerGroup, string hub, ILoggerFactory loggerFactory) : IStreamQueueCheckpointerFactory
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, EventHubPartitionCheckpointer> _checkpointers = new(StringComparer.Ordinal);

    [Obsolete("Use the overload which accepts a CancellationToken.")]
    public Task<IStreamQueueCheckpointer<string>> Create(string partition) => Create(partition, CancellationToken.None);

    public Task<IStreamQueueCheckpointer<string>> Create(string partition, CancellationToken cancellationToken)
    {
        var checkpointer = new EventHubPartitionCheckpointer(tables, consumerGroup, hub, partition, loggerFactory.CreateLogger<EventHubPartitionCheckpointer>());
        _checkpointers[partition] = checkpointer;
        return Task.FromResult<IStreamQueueCheckpointer<string>>(checkpointer);
    }

    /// <summary>The checkpointer Orleans created last for <paramref name="partition"/> (it creates it just before the partition's receiver).</summary>
    public EventHubPartitionCheckpointer For(string partition) =>
        _checkpointers.TryGetValue(partition, out var checkpointer) ? checkpointer
            : throw new InvalidOperationException($"no checkpointer was created for partition {partition} of {hub}");
}
