using Confluent.Kafka;
using Microsoft.Extensions.Logging;

namespace OrleansFeatures.Streaming.Kafka;

/// <summary>
/// Decides the partitions a silo starts with: the configured count of a topic
/// (<see cref="KafkaStreamOptions.Partitions"/>) without asking the brokers, checked against their metadata in the
/// background once they answer; otherwise the brokers' metadata, read at start-up.
/// </summary>
internal sealed partial class KafkaPartitionDiscovery(KafkaStreamOptions options, ILogger logger)
{
    private static readonly TimeSpan RetryInterval = TimeSpan.FromSeconds(30);

    public List<TopicPartition> Resolve()
    {
        var topics = options.Topics.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        var unconfigured = topics.Where(t => !options.Partitions.ContainsKey(t)).ToList();
        var read = unconfigured.Count == 0 ? [] : ReadOrExplain(unconfigured);
        var partitions = new List<TopicPartition>();
        foreach (var topic in topics)
        {
            var count = options.Partitions.TryGetValue(topic, out var configured) ? configured : read[topic];
            for (var partition = 0; partition < count; partition++)
            {
                partitions.Add(new TopicPartition(topic, new Partition(partition)));
            }
        }

        var toCheck = topics.Where(options.Partitions.ContainsKey).ToList();
        if (toCheck.Count > 0)
        {
            // Start now; the brokers may be down. The count is checked once they answer.
            _ = Task.Run(() => CheckConfiguredAsync(toCheck));
        }

        return partitions;
    }

    private Dictionary<string, int> ReadOrExplain(List<string> topics)
    {
        try
        {
            return ReadPartitionCounts(topics);
        }
        catch (KafkaException exception)
        {
            throw new InvalidOperationException(
                $"Kafka metadata could not be read from {options.BootstrapServers} within FeatureStore:Kafka:MetadataTimeout ({options.MetadataTimeout}): {exception.Error.Reason}. " +
                $"To start (and serve lookups) while the brokers are unreachable, configure the partition count of each topic: " +
                string.Join(", ", topics.Select(t => $"FeatureStore:Kafka:Partitions:{t}=<partitions>")) + ".",
                exception);
        }
    }

    private Dictionary<string, int> ReadPartitionCounts(List<string> topics)
    {
        using var admin = new AdminClientBuilder(new AdminClientConfig(options.CreateClientConfig())).Build();
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var topic in topics)
        {
            var metadata = admin.GetMetadata(topic, options.MetadataTimeout);
            var topicMetadata = metadata.Topics.SingleOrDefault(t => t.Topic == topic);
            if (topicMetadata is null || topicMetadata.Error.IsError || topicMetadata.Partitions.Count == 0)
            {
                throw new InvalidOperationException(
                    $"Kafka topic '{topic}' has no partitions on {options.BootstrapServers} ({topicMetadata?.Error.Reason ?? "not in metadata"}); create it, or remove it from FeatureStore:Kafka:Topics.");
            }

            counts[topic] = topicMetadata.Partitions.Count;
        }

        return counts;
    }

    private async Task CheckConfiguredAsync(List<string> topics)
    {
        while (true)
        {
            try
            {
                var counts = ReadPartitionCounts(topics);
                foreach (var topic in topics)
                {
                    var configured = options.Partitions[topic];
                    if (counts[topic] == configured)
                    {
                        LogCountConfirmed(logger, topic, configured);
                    }
                    else
                    {
                        LogCountMismatch(logger, topic, configured, counts[topic]);
                    }
                }

                return;
            }
            catch (Exception exception) when (exception is KafkaException or InvalidOperationException)
            {
                LogCheckDeferred(logger, exception.Message, RetryInterval);
            }

            await Task.Delay(RetryInterval);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Kafka topic {Topic}: {Partitions} partitions, as FeatureStore:Kafka:Partitions configures")]
    private static partial void LogCountConfirmed(ILogger logger, string topic, int partitions);

    [LoggerMessage(Level = LogLevel.Error, Message = "Kafka topic {Topic} has {Actual} partitions, but its FeatureStore:Kafka:Partitions setting is {Configured}: partitions beyond the setting are not consumed, and configured partitions the topic lacks never deliver. Correct the setting and restart")]
    private static partial void LogCountMismatch(ILogger logger, string topic, int configured, int actual);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Kafka partition counts not yet checked against the brokers ({Reason}); retrying in {Interval}")]
    private static partial void LogCheckDeferred(ILogger logger, string reason, TimeSpan interval);
}
