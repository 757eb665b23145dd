using System.Text;
using Confluent.Kafka;

namespace OrleansFeatures.TestInfrastructure;

/// <summary>
/// librdkafka's in-process mock cluster: real Kafka protocol over loopback TCP, no broker to install. It lives as
/// long as this object; new topics get 4 partitions when first produced to.
/// </summary>
public sealed class MockKafkaCluster : IDisposable
{
    private readonly IProducer<Null, Null> _owner;

    public MockKafkaCluster(int brokers = 1)
    {
        var config = new ProducerConfig();
        config.Set("test.mock.num.brokers", brokers.ToString(System.Globalization.CultureInfo.InvariantCulture));
        _owner = new ProducerBuilder<Null, Null>(config).Build();
        using var admin = new DependentAdminClientBuilder(_owner.Handle).Build();
        BootstrapServers = string.Join(",", admin.GetMetadata(TimeSpan.FromSeconds(10)).Brokers.Select(b => $"{b.Host}:{b.Port}"));
        Producer = new ProducerBuilder<byte[]?, byte[]?>(new ProducerConfig { BootstrapServers = BootstrapServers, Acks = Acks.All, LingerMs = 1 }).Build();
    }

    public string BootstrapServers { get; }

    /// <summary>A plain producer, as an application outside the store would use.</summary>
    public IProducer<byte[]?, byte[]?> Producer { get; }

    public Task<DeliveryResult<byte[]?, byte[]?>> ProduceJsonAsync(string topic, string key, string json, params (string Name, string Value)[] headers)
    {
        var message = new Message<byte[]?, byte[]?> { Key = Encoding.UTF8.GetBytes(key), Value = Encoding.UTF8.GetBytes(json), Headers = [] };
        foreach (var (name, value) in headers)
        {
            message.Headers.Add(name, Encoding.UTF8.GetBytes(value));
        }

        return Producer.ProduceAsync(topic, message);
    }

    /// <summary>Reads every message currently in <paramref name="topic"/> (all partitions) with a throwaway consumer.</summary>
    public List<ConsumeResult<byte[]?, byte[]?>> ReadAll(string topic, int expected, TimeSpan timeout)
    {
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig
        {
            BootstrapServers = BootstrapServers,
            GroupId = $"reader-{Guid.NewGuid():N}",
            AutoOffsetReset = AutoOffsetReset.Earliest,
            EnableAutoCommit = false,
        }).Build();
        using var admin = new DependentAdminClientBuilder(_owner.Handle).Build();
        var partitions = admin.GetMetadata(topic, TimeSpan.FromSeconds(10)).Topics.Single().Partitions
            .Select(p => new TopicPartitionOffset(topic, p.PartitionId, Offset.Beginning)).ToList();
        consumer.Assign(partitions);
        var results = new List<ConsumeResult<byte[]?, byte[]?>>();
        var deadline = DateTime.UtcNow + timeout;
        while (results.Count < expected && DateTime.UtcNow < deadline)
        {
            if (consumer.Consume(TimeSpan.FromMilliseconds(100)) is { Message: not null } result)
            {
                results.Add(result);
            }
        }

        return results;
    }

    public void Dispose()
    {
        Producer.Flush(TimeSpan.FromSeconds(5));
        Producer.Dispose();
        _owner.Dispose();
    }
}
