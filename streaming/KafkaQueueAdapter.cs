using System.Collections.Concurrent;
using Confluent.Kafka;
using Microsoft.Extensions.Logging;
using Orleans.Runtime;
using Orleans.Streams;

namespace OrleansFeatures.Streaming.Kafka;

/// <summary>Creates one receiver per queue (topic partition) and produces events written through the Orleans stream API.</summary>
internal sealed class KafkaQueueAdapter(
    string name,
    KafkaStreamOptions options,
    KafkaQueueMapper mapper,
    IKafkaMessageMapper messageMapper,
    KafkaDeadLetterSink deadLetters,
    StreamCommitGates gates,
    ILoggerFactory loggerFactory) : IQueueAdapter, IDisposable
{
    private readonly Lazy<IProducer<byte[]?, byte[]?>> _producer = new(() => new ProducerBuilder<byte[]?, byte[]?>(new ProducerConfig(options.CreateClientConfig())
    {
        Acks = Acks.All,
        EnableIdempotence = true,
        LingerMs = 2,
    }).Build());

    public ConcurrentDictionary<QueueId, KafkaQueueAdapterReceiver> Receivers { get; } = new();

    public string Name => name;

    public bool IsRewindable => false;

    public StreamProviderDirection Direction => StreamProviderDirection.ReadWrite;

    public IQueueAdapterReceiver CreateReceiver(QueueId queueId)
    {
        var receiver = new KafkaQueueAdapterReceiver(
            mapper.PartitionOf(queueId), options, messageMapper, deadLetters, gates, loggerFactory.CreateLogger<KafkaQueueAdapterReceiver>());
        Receivers[queueId] = receiver;
        return receiver;
    }

    public async Task QueueMessageBatchAsync<T>(StreamId streamId, IEnumerable<T> events, StreamSequenceToken? token, Dictionary<string, object>? requestContext)
    {
        if (token is not null)
        {
            throw new ArgumentException("the Kafka stream provider assigns sequence tokens itself (partition offsets); pass null", nameof(token));
        }

        foreach (var item in events)
        {
            var (topic, message) = messageMapper.ToMessage(streamId, item!);
            await _producer.Value.ProduceAsync(topic, message);
        }
    }

    public void Dispose()
    {
        if (_producer.IsValueCreated)
        {
            _producer.Value.Flush(TimeSpan.FromSeconds(5));
            _producer.Value.Dispose();
        }

        deadLetters.Dispose();
    }
}
