using OrleansFeatures.Core.Events;

namespace OrleansFeatures.Grains.Interfaces;

/// <summary>
/// An event on its way from a stream partition (a Kafka topic partition, an Event Hubs partition) to the entity
/// grains it touches, already validated and routed by the registry version it names. Travels on the partition's
/// Orleans stream, (<see cref="Namespace"/>, the partition's name), to that partition's ingester.
/// </summary>
/// <param name="EntityKeys">Entity grain keys (<see cref="EntityKey"/>) the routing plan chose, at least one.</param>
[GenerateSerializer, Immutable, Alias("of.IngestedEvent")]
public sealed record IngestedEvent(
    [property: Id(0)] string Source,
    [property: Id(1)] long RegistryVersion,
    [property: Id(2)] FeatureEvent Event,
    [property: Id(3)] string[] EntityKeys)
{
    /// <summary>Stream namespace of partition streams; the partition ingester grain subscribes to it implicitly.</summary>
    public const string Namespace = "orleansfeatures.partition";
}
