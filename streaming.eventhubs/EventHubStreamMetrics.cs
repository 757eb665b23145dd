using System.Diagnostics.Metrics;

namespace OrleansFeatures.Streaming.EventHubs;

/// <summary>Instruments of the Event Hubs stream provider, on the <c>OrleansFeatures.EventHubs</c> meter.</summary>
public static class EventHubStreamMetrics
{
    public const string MeterName = "OrleansFeatures.EventHubs";

    private static readonly Meter Meter = new(MeterName);

    public static readonly Counter<long> EventsRead = Meter.CreateCounter<long>("orleansfeatures.eventhubs.events.read", "{event}", "Events received from partitions and mapped");
    public static readonly Counter<long> DeadLettered = Meter.CreateCounter<long>("orleansfeatures.eventhubs.events.dead_lettered", "{event}", "Poison events written to the dead-letter table");
    public static readonly Counter<long> DeadLetterFailures = Meter.CreateCounter<long>("orleansfeatures.eventhubs.dead_letter.failures", "{failure}", "Dead-letter writes that failed (retried; the partition waits)");
    public static readonly Counter<long> CheckpointsSaved = Meter.CreateCounter<long>("orleansfeatures.eventhubs.checkpoints.saved", "{checkpoint}", "Partition checkpoints written to the checkpoint table");
    public static readonly Counter<long> CheckpointFailures = Meter.CreateCounter<long>("orleansfeatures.eventhubs.checkpoint.failures", "{failure}", "Checkpoint writes that failed (retried with the next durable report)");
    public static readonly Counter<long> DeliveryFailures = Meter.CreateCounter<long>("orleansfeatures.eventhubs.delivery.failures", "{batch}", "Batches Orleans gave up delivering; the partition's checkpoint stops before them");
}
