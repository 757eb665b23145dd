using OrleansFeatures.Core.Events;

namespace OrleansFeatures.Grains.Interfaces;

/// <summary>
/// An event on its way from a Kafka-protocol topic to an entity grain, over an Orleans stream whose id is
/// (<see cref="Namespace"/>, <c>{entityType}/{entityId}</c>).
/// </summary>
[GenerateSerializer, Immutable, Alias("of.StreamedEvent")]
public sealed record StreamedEvent(
    [property: Id(0)] string Source,
    [property: Id(1)] long RegistryVersion,
    [property: Id(2)] FeatureEvent Event)
{
    /// <summary>Stream namespace of entity event streams; entity grains subscribe to it implicitly.</summary>
    public const string Namespace = "orleansfeatures.entity";
}
