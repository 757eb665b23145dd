using System.Globalization;
using System.Text;
using Confluent.Kafka;
using Microsoft.Extensions.Logging;

namespace OrleansFeatures.Streaming.Kafka;

/// <summary>
/// Writes poison messages to the dead-letter topic with the original key, value and headers, plus headers that
/// say why and where from: <c>x-dead-letter-reason</c>, <c>x-source-topic</c>, <c>x-source-partition</c>,
/// <c>x-source-offset</c>.
/// </summary>
public sealed partial class KafkaDeadLetterSink : IDisposable
{
    public const string ReasonHeader = "x-dead-letter-reason";
    public const string TopicHeader = "x-source-topic";
    public const string PartitionHeader = "x-source-partition";
    public const string OffsetHeader = "x-source-offset";

    private readonly KafkaStreamOptions _options;
    private readonly ILogger _logger;
    private readonly Lazy<IProducer<byte[]?, byte[]?>> _producer;

    public KafkaDeadLetterSink(KafkaStreamOptions options, ILogger logger)
    {
        _options = options;
        _logger = logger;
        _producer = new Lazy<IProducer<byte[]?, byte[]?>>(() => new ProducerBuilder<byte[]?, byte[]?>(new ProducerConfig(options.CreateClientConfig())
        {
            Acks = Acks.All,
            EnableIdempotence = true,
        }).Build());
    }

    public async Task SendAsync(ConsumeResult<byte[]?, byte[]?> message, string reason, CancellationToken cancellationToken)
    {
        LogPoison(_logger, message.Topic, message.Partition.Value, message.Offset.Value, reason);
        KafkaStreamMetrics.DeadLettered.Add(1, new KeyValuePair<string, object?>("topic", message.Topic));
        if (string.IsNullOrEmpty(_options.DeadLetterTopic))
        {
            return;
        }

        var headers = new Headers();
        if (message.Message.Headers is { } original)
        {
            foreach (var header in original)
            {
                headers.Add(header.Key, header.GetValueBytes());
            }
        }

        headers.Add(ReasonHeader, Encoding.UTF8.GetBytes(reason));
        headers.Add(TopicHeader, Encoding.UTF8.GetBytes(message.Topic));
        headers.Add(PartitionHeader, Encoding.UTF8.GetBytes(message.Partition.Value.ToString(CultureInfo.InvariantCulture)));
        headers.Add(OffsetHeader, Encoding.UTF8.GetBytes(message.Offset.Value.ToString(CultureInfo.InvariantCulture)));
        try
        {
            await _producer.Value.ProduceAsync(
                _options.DeadLetterTopic,
                new Message<byte[]?, byte[]?> { Key = message.Message.Key, Value = message.Message.Value, Headers = headers },
                cancellationToken);
        }
        catch (ProduceException<byte[]?, byte[]?> exception)
        {
            // The reason and offset are in the log line above; the partition still moves on.
            KafkaStreamMetrics.DeadLetterFailures.Add(1);
            LogDeadLetterFailed(_logger, exception, message.Topic, message.Partition.Value, message.Offset.Value, _options.DeadLetterTopic);
        }
    }

    public void Dispose()
    {
        if (_producer.IsValueCreated)
        {
            _producer.Value.Flush(TimeSpan.FromSeconds(5));
            _producer.Value.Dispose();
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Poison message {Topic}[{Partition}]@{Offset}: {Reason}")]
    private static partial void LogPoison(ILogger logger, string topic, int partition, long offset, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Could not dead-letter {Topic}[{Partition}]@{Offset} to {DeadLetterTopic}")]
    private static partial void LogDeadLetterFailed(ILogger logger, Exception exception, string topic, int partition, long offset, string deadLetterTopic);
}
