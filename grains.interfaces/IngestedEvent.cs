using Orleans.Runtime;
using OrleansFeatures.Core.Events;

namespace OrleansFeatures.Grains.Interfaces;

/// <summary>
/// An event on its way from a stream partition (a Kafka topic partition, an Event Hubs partition) to the entity
/// grains it touches, already validated and routed by the registry version it names. Travels on the partition's
/// Orleans stream, (<see cref="Namespace"/>, the partition's name), to that partition's ingester.
/// </summary>
/// <param name="EntityKeys">Entity grain keys (<see cref="EntityKey"/>) the routing plan chose, at least one.</param>
/// <param name="ReadBy">
/// The silo whose receiver read the event from its partition. The ingester defers durability to a checkpoint only for
/// deliveries of its own silo's receiver (whose commits its gate holds back); while a partition moves, a delivery
/// read by another silo's receiver is written before it returns. Null: unknown, treated as read by the ingester's silo.
/// </param>
/// <param name="ArrivedMs">
/// When the event reached its source (Unix ms): the Kafka message timestamp or the Event Hubs enqueued time, else when
/// the receiver read it. Freshness is measured from here to servable (<c>orleansfeatures.ingest.freshness</c>).
/// </param>
[GenerateSerializer, Immutable, Alias("of.IngestedEvent")]
public sealed record IngestedEvent(
    [property: Id(0)] string Source,
    [property: Id(1)] long RegistryVersion,
    [property: Id(2)] FeatureEvent Event,
    [property: Id(3)] string[] EntityKeys,
    [property: Id(4)] SiloAddress? ReadBy = null,
    [property: Id(5)] long ArrivedMs = 0)
{
    /// <summary>Stream namespace of partition streams; the partition ingester grain subscribes to it implicitly.</summary>
    public const string Namespace = "orleansfeatures.partition";
}
