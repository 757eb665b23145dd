using System.Diagnostics.Metrics;

namespace OrleansFeatures.Streaming.Kafka;

/// <summary>Instruments of the Kafka stream provider, on the <c>OrleansFeatures.Kafka</c> meter.</summary>
public static class KafkaStreamMetrics
{
    public const string MeterName = "OrleansFeatures.Kafka";

    private static readonly Meter Meter = new(MeterName);

    // Live receivers, for the observable gauges (registered by Initialize, removed by Shutdown).
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<KafkaQueueAdapterReceiver, byte> Receivers = new();

    public static readonly Counter<long> MessagesRead = Meter.CreateCounter<long>("orleansfeatures.kafka.messages.read", "{message}", "Messages handed from partition buffers to Orleans");
    public static readonly Counter<long> DeadLettered = Meter.CreateCounter<long>("orleansfeatures.kafka.messages.dead_lettered", "{message}", "Poison messages sent to the dead-letter topic");
    public static readonly Counter<long> DeadLetterFailures = Meter.CreateCounter<long>("orleansfeatures.kafka.dead_letter.failures", "{message}", "Poison messages that could not be written to the dead-letter topic (logged with their offset)");
    public static readonly Counter<long> DeliveryFailures = Meter.CreateCounter<long>("orleansfeatures.kafka.delivery.failures", "{batch}", "Batches Orleans gave up delivering; commits stop before them");
    public static readonly Counter<long> PartitionPauses = Meter.CreateCounter<long>("orleansfeatures.kafka.partition.pauses", "{pause}", "Times a partition was paused because its buffer was full");
    public static readonly Counter<long> ConsumerFailures = Meter.CreateCounter<long>("orleansfeatures.kafka.consumer.failures", "{failure}", "Partition consumers that stopped on an error");
    public static readonly Counter<long> ConsumeThreadPriorityFailures = Meter.CreateCounter<long>("orleansfeatures.kafka.consumer.priority_failures", "{thread}", "Partition consume threads whose lower OS priority (FeatureStore:Ingestion:WorkerNice) could not be set; they run at the process's priority");
    public static readonly Counter<long> CommitFailures = Meter.CreateCounter<long>("orleansfeatures.kafka.commit.failures", "{failure}", "Offset commits that failed (retried)");
    public static readonly Counter<long> MapperInterrupted = Meter.CreateCounter<long>("orleansfeatures.kafka.mapper.interrupted", "{message}", "Messages whose mapping was cut short by shutdown (kept uncommitted, read again)");
    public static readonly Counter<long> OffsetsSkipped = Meter.CreateCounter<long>("orleansfeatures.kafka.offsets.skipped", "{offset}", "Offsets the broker never returned to a partition consumer (retention deleted them unread, compaction, or transaction markers)");

    /// <summary>Per partition this silo reads: messages the committed offset does not cover yet (unread, or read and not yet durable).</summary>
    public static readonly ObservableGauge<long> Uncommitted = Meter.CreateObservableGauge(
        "orleansfeatures.kafka.partition.uncommitted", ObserveUncommitted, "{message}",
        "Messages of a partition past its committed offset: not read yet, or read and not yet durable (what a restart reads again)");

    public static readonly Histogram<long> CommittedOffset = Meter.CreateHistogram<long>("orleansfeatures.kafka.committed_offset", "{offset}", "Offsets committed per partition");

    internal static void Register(KafkaQueueAdapterReceiver receiver) => Receivers.TryAdd(receiver, 0);

    internal static void Unregister(KafkaQueueAdapterReceiver receiver) => Receivers.TryRemove(receiver, out _);

    internal static ICollection<KafkaQueueAdapterReceiver> LiveReceivers => Receivers.Keys;

    private static IEnumerable<Measurement<long>> ObserveUncommitted()
    {
        foreach (var receiver in Receivers.Keys)
        {
            if (receiver.Uncommitted is { } uncommitted)
            {
                yield return new Measurement<long>(uncommitted, receiver.PartitionTags);
            }
        }
    }
}
