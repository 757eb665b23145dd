using Confluent.Kafka;
using Orleans.Runtime;
using Orleans.Streams;

namespace OrleansFeatures.Streaming.Kafka;

/// <summary>
/// One Orleans queue per topic partition, so Orleans' queue balancer spreads partitions over silos. The partition
/// list is fixed at start-up (<see cref="KafkaPartitionDiscovery"/>).
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
}
