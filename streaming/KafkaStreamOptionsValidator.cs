using Confluent.Kafka;
using Orleans.Configuration;
using Orleans.Runtime;

namespace OrleansFeatures.Streaming.Kafka;

/// <summary>Fails silo start-up on a bad Kafka configuration, naming the setting.</summary>
internal sealed class KafkaStreamOptionsValidator(KafkaStreamOptions options, string name, StreamPullingAgentOptions? pulling = null) : IConfigurationValidator
{
    public void ValidateConfiguration()
    {
        var prefix = $"Kafka stream provider '{name}'";
        if (string.IsNullOrWhiteSpace(options.BootstrapServers))
        {
            throw new OrleansConfigurationException($"{prefix}: FeatureStore:Kafka:BootstrapServers is required (host:port[,host:port]).");
        }

        if (options.Topics.Count == 0 || options.Topics.Any(string.IsNullOrWhiteSpace))
        {
            throw new OrleansConfigurationException($"{prefix}: FeatureStore:Kafka:Topics must list at least one topic, with no empty names.");
        }

        if (string.IsNullOrWhiteSpace(options.ConsumerGroup))
        {
            throw new OrleansConfigurationException($"{prefix}: FeatureStore:Kafka:ConsumerGroup is required; offsets are committed under it.");
        }

        if (options.BufferedMessagesPerPartition is < 10 or > 10_000_000)
        {
            throw new OrleansConfigurationException($"{prefix}: FeatureStore:Kafka:BufferedMessagesPerPartition must be between 10 and 10000000, was {options.BufferedMessagesPerPartition}.");
        }

        if (options.MaxMessagesPerPull is < 1 or > 1_000_000)
        {
            throw new OrleansConfigurationException($"{prefix}: FeatureStore:Kafka:MaxMessagesPerPull must be between 1 and 1000000, was {options.MaxMessagesPerPull}.");
        }

        if (options.PollTimeout <= TimeSpan.Zero || options.PollTimeout > TimeSpan.FromSeconds(5))
        {
            throw new OrleansConfigurationException($"{prefix}: FeatureStore:Kafka:PollTimeout must be between 0 and 5 seconds, was {options.PollTimeout}.");
        }

        if (options.CacheSize is < 100 or > 10_000_000)
        {
            throw new OrleansConfigurationException($"{prefix}: FeatureStore:Kafka:CacheSize must be between 100 and 10000000, was {options.CacheSize}.");
        }

        if (options.MaxEventsPerDelivery is < 1 or > 1_000_000)
        {
            throw new OrleansConfigurationException($"{prefix}: FeatureStore:Kafka:MaxEventsPerDelivery must be between 1 and 1000000, was {options.MaxEventsPerDelivery}.");
        }

        if (options.FetchWaitMax < TimeSpan.FromMilliseconds(1) || options.FetchWaitMax > TimeSpan.FromSeconds(5))
        {
            throw new OrleansConfigurationException($"{prefix}: FeatureStore:Kafka:FetchWaitMax must be between 1 ms and 5 seconds, was {options.FetchWaitMax}.");
        }

        if (options.ConsumeThreadNice is < 0 or > ThreadNice.Max)
        {
            throw new OrleansConfigurationException($"{prefix}: FeatureStore:Ingestion:WorkerNice (the Kafka consume threads' nice) must be between 0 and {ThreadNice.Max}, was {options.ConsumeThreadNice}.");
        }

        foreach (var (topic, count) in options.Partitions)
        {
            if (!options.Topics.Contains(topic, StringComparer.Ordinal))
            {
                throw new OrleansConfigurationException($"{prefix}: FeatureStore:Kafka:Partitions:{topic} names a topic that is not in FeatureStore:Kafka:Topics.");
            }

            if (count is < 1 or > 100_000)
            {
                throw new OrleansConfigurationException($"{prefix}: FeatureStore:Kafka:Partitions:{topic} must be between 1 and 100000, was {count}.");
            }
        }

        if (options.MetadataTimeout <= TimeSpan.Zero || options.MetadataTimeout > TimeSpan.FromMinutes(5))
        {
            throw new OrleansConfigurationException($"{prefix}: FeatureStore:Kafka:MetadataTimeout must be between 0 and 5 minutes, was {options.MetadataTimeout}.");
        }

        if (pulling is { BatchContainerBatchSize: > 1 })
        {
            // The queue cache reports a batch delivered once its cursor moves past it; with several batches per
            // delivery the agent moves past batches that are still being delivered, and offsets would be committed
            // before their events are durable. The cache joins a stream's queued batches itself
            // (MaxEventsPerDelivery), keeping all of them until the delivery is over.
            throw new OrleansConfigurationException(
                $"{prefix}: StreamPullingAgentOptions.BatchContainerBatchSize must be 1, was {pulling.BatchContainerBatchSize}; " +
                "the queue cache already joins an entity's queued batches into one delivery (FeatureStore:Kafka:MaxEventsPerDelivery).");
        }

        var sasl = options.SecurityProtocol is SecurityProtocol.SaslSsl or SecurityProtocol.SaslPlaintext;
        if (sasl && (options.SaslMechanism is null || string.IsNullOrEmpty(options.SaslUsername) || string.IsNullOrEmpty(options.SaslPassword)))
        {
            throw new OrleansConfigurationException(
                $"{prefix}: FeatureStore:Kafka:SecurityProtocol is {options.SecurityProtocol}, which needs SaslMechanism, SaslUsername and SaslPassword " +
                "(for Event Hubs: Plain, $ConnectionString and the connection string).");
        }
    }
}
