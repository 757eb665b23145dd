using System.Globalization;
using System.Text.Json;
using Azure.Data.Tables;
using Azure.Messaging.EventHubs;
using Microsoft.Extensions.Logging;

namespace OrleansFeatures.Streaming.EventHubs;

/// <summary>
/// Poison events, one table row each: partition key <c>{hub}|{partition}</c>, row key the sequence number (19 digits,
/// so rows sort in partition order), with the reason, the event's partition key, properties and body (the first
/// 60 KiB). Written with upsert, so an event dead-lettered again after a replay overwrites its own row.
/// </summary>
public sealed partial class EventHubDeadLetterTable(EventHubTables tables, ILogger<EventHubDeadLetterTable> logger)
{
    /// <summary>Largest body kept (an Azure Table binary property holds at most 64 KiB).</summary>
    public const int MaxBodyBytes = 60 * 1024;

    public static string PartitionKeyOf(string hub, string partition) => string.Concat(hub, "|", partition);

    public static string RowKeyOf(long sequenceNumber) => sequenceNumber.ToString("D19", CultureInfo.InvariantCulture);

    /// <summary>Writes the record; throws when the table cannot be written (the event then stays at the head of its partition).</summary>
    public async Task WriteAsync(string hub, string partition, EventData eventData, string reason, CancellationToken cancellationToken)
    {
        var body = eventData.EventBody.ToMemory();
        var entity = new TableEntity(PartitionKeyOf(hub, partition), RowKeyOf(eventData.SequenceNumber))
        {
            ["Reason"] = reason,
            ["Hub"] = hub,
            ["Partition"] = partition,
            ["SequenceNumber"] = eventData.SequenceNumber,
            ["EnqueuedTime"] = eventData.EnqueuedTime,
            ["EventPartitionKey"] = eventData.PartitionKey,
            ["Properties"] = JsonSerializer.Serialize(eventData.Properties.ToDictionary(p => p.Key, p => Convert.ToString(p.Value, CultureInfo.InvariantCulture))),
            ["Body"] = body.Length <= MaxBodyBytes ? body.ToArray() : body[..MaxBodyBytes].ToArray(),
            ["BodyLength"] = body.Length,
        };
        try
        {
            var table = await tables.DeadLettersAsync();
            await table.UpsertEntityAsync(entity, TableUpdateMode.Replace, cancellationToken);
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            EventHubStreamMetrics.DeadLetterFailures.Add(1);
            LogDeadLetterFailed(logger, exception, hub, partition, eventData.SequenceNumber);
            throw;
        }

        EventHubStreamMetrics.DeadLettered.Add(1, new KeyValuePair<string, object?>("hub", hub));
        LogDeadLettered(logger, hub, partition, eventData.SequenceNumber, reason);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Event Hubs {Hub}[{Partition}]: event {SequenceNumber} dead-lettered: {Reason}")]
    private static partial void LogDeadLettered(ILogger logger, string hub, string partition, long sequenceNumber, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Event Hubs {Hub}[{Partition}]: dead-letter write of event {SequenceNumber} failed; the partition waits and tries again")]
    private static partial void LogDeadLetterFailed(ILogger logger, Exception exception, string hub, string partition, long sequenceNumber);
}
