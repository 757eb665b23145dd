using Confluent.Kafka;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Streaming.Kafka;

namespace OrleansFeatures.Grains.Ingestion;

/// <summary>Writes pushed events to their source topic (key: the entity id; JSON value; id and time in headers).</summary>
public sealed class KafkaEventProducer : IDisposable
{
    private readonly IProducer<byte[]?, byte[]?> _producer;

    public KafkaEventProducer(KafkaStreamOptions options)
    {
        var config = new ProducerConfig(options.CreateClientConfig())
        {
            Acks = Acks.All,
            EnableIdempotence = true,
            LingerMs = 1,
        };
        _producer = new ProducerBuilder<byte[]?, byte[]?>(config).Build();
    }

    public Task ProduceAsync(string topic, string entityId, FeatureEvent featureEvent, CancellationToken cancellationToken) =>
        _producer.ProduceAsync(topic, FeatureEventKafkaMapper.ToMessage(entityId, featureEvent), cancellationToken);

    /// <summary>
    /// Whether a failed <see cref="ProduceAsync"/> certainly left nothing on the topic: librdkafka says so per message
    /// (a timeout after the send is <see cref="PersistenceStatus.PossiblyPersisted"/>). Anything else may have been written.
    /// </summary>
    public static bool NotPersisted(Exception exception) =>
        exception is ProduceException<byte[]?, byte[]?> { DeliveryResult.Status: PersistenceStatus.NotPersisted };

    public void Dispose()
    {
        _producer.Flush(TimeSpan.FromSeconds(5));
        _producer.Dispose();
    }
}
