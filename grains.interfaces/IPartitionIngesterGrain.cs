namespace OrleansFeatures.Grains.Interfaces;

/// <summary>
/// Applies one stream partition's events to the entity grains they touch. Key: the partition's stream key
/// (<c>{topic}/{partition}</c> for Kafka). Activated by its implicit subscription to <see cref="IngestedEvent.Namespace"/>.
/// </summary>
public interface IPartitionIngesterGrain : IGrainWithStringKey;
