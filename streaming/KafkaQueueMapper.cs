using Confluent.Kafka;
using Orleans.Runtime;
using Orleans.Streams;

namespace OrleansFeatures.Streaming.Kafka;

/// <summary>
/// One Orleans queue per topic partition, so Orleans' queue balancer spreads partitions over silos. The partition
/// list is read from the brokers' metadata once, at start-up.
/// </summary>
internal sealed class KafkaQueueMapper : IConsistentRingStreamQueueMapper
{
    private readonly HashRingBasedPartitionedStreamQueueMapper _ring;
    private readonly Dictionary<string, TopicPartition> _partitions = new(StringComparer.Ordinal);

    public KafkaQueueMapper(string providerName, IReadOnlyList<TopicPartition> partitions)
    {
        var ids = new List<string>(partitions.Count);
        foreach (var partition in partitions)
        {
            var id = $"{partition.Topic}/{partition.Partition.Value}";
            ids.Add(id);
            _partitions[id] = partition;
        }

        _ring = new HashRingBasedPartitionedStreamQueueMapper(ids, providerName);
    }

    public IReadOnlyCollection<TopicPartition> Partitions => _partitions.Values;

    public TopicPartition PartitionOf(QueueId queueId) => _partitions[_ring.QueueToPartition(queueId)];

    public IEnumerable<QueueId> GetAllQueues() => _ring.GetAllQueues();

    public QueueId GetQueueForStream(StreamId streamId) => _ring.GetQueueForStream(streamId);

    public IEnumerable<QueueId> GetQueuesForRange(IRingRange range) => _ring.GetQueuesForRange(range);

    /// <summary>Reads every partition of <see cref="KafkaStreamOptions.Topics"/> from the brokers.</summary>
    public static List<TopicPartition> DiscoverPartitions(KafkaStreamOptions options)
    {
        using var admin = new AdminClientBuilder(new AdminClientConfig(options.CreateClientConfig())).Build();
        var partitions = new List<TopicPartition>();
        foreach (var topic in options.Topics.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal))
        {
            var metadata = admin.GetMetadata(topic, options.MetadataTimeout);
            var topicMetadata = metadata.Topics.SingleOrDefault(t => t.Topic == topic);
            if (topicMetadata is null || topicMetadata.Error.IsError || topicMetadata.Partitions.Count == 0)
            {
                throw new InvalidOperationException(
                    $"Kafka topic '{topic}' has no partitions on {options.BootstrapServers} ({topicMetadata?.Error.Reason ?? "not in metadata"}); create it, or remove it from FeatureStore:Kafka:Topics.");
            }

            foreach (var partition in topicMetadata.Partitions.OrderBy(p => p.PartitionId))
            {
                partitions.Add(new TopicPartition(topic, new Partition(partition.PartitionId)));
            }
        }

        return partitions;
    }
}
