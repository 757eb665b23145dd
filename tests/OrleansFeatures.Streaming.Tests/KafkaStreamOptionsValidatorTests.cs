using Confluent.Kafka;
using Orleans.Configuration;
using Orleans.Runtime;
using OrleansFeatures.Streaming.Kafka;

namespace OrleansFeatures.Streaming.Tests;

public class KafkaStreamOptionsValidatorTests
{
    private static KafkaStreamOptions Valid() => new() { BootstrapServers = "127.0.0.1:9092", Topics = ["events"] };

    [Fact]
    public void Defaults_with_servers_and_a_topic_are_valid() =>
        new KafkaStreamOptionsValidator(Valid(), "kafka").ValidateConfiguration();

    [Theory]
    [InlineData("BootstrapServers")]
    [InlineData("Topics")]
    [InlineData("BufferedMessagesPerPartition")]
    [InlineData("MaxMessagesPerPull")]
    [InlineData("CacheSize")]
    [InlineData("MaxEventsPerDelivery")]
    [InlineData("FetchWaitMax")]
    [InlineData("SaslPassword")]
    [InlineData("MetadataTimeout")]
    [InlineData("Partitions:events")]
    [InlineData("Partitions:other")]
    public void A_bad_setting_fails_start_up_naming_the_setting(string setting)
    {
        var options = Valid();
        switch (setting)
        {
            case "BootstrapServers": options.BootstrapServers = " "; break;
            case "Topics": options.Topics = []; break;
            case "BufferedMessagesPerPartition": options.BufferedMessagesPerPartition = 0; break;
            case "MaxMessagesPerPull": options.MaxMessagesPerPull = 0; break;
            case "CacheSize": options.CacheSize = 10; break;
            case "MaxEventsPerDelivery": options.MaxEventsPerDelivery = 0; break;
            case "FetchWaitMax": options.FetchWaitMax = TimeSpan.Zero; break;
            case "MetadataTimeout": options.MetadataTimeout = TimeSpan.Zero; break;
            case "Partitions:events": options.Partitions["events"] = 0; break;
            case "Partitions:other": options.Partitions["other"] = 4; break;
            case "SaslPassword":
                options.SecurityProtocol = SecurityProtocol.SaslSsl;
                options.SaslMechanism = SaslMechanism.Plain;
                options.SaslUsername = "$ConnectionString";
                break;
        }

        var error = Assert.Throws<OrleansConfigurationException>(() => new KafkaStreamOptionsValidator(options, "kafka").ValidateConfiguration());
        Assert.Contains(setting == "SaslPassword" ? "SaslPassword" : $"FeatureStore:Kafka:{setting}", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Several_batches_per_delivery_fail_start_up_because_the_cache_would_report_them_delivered_too_early()
    {
        var pulling = new StreamPullingAgentOptions { BatchContainerBatchSize = 4 };

        var error = Assert.Throws<OrleansConfigurationException>(() => new KafkaStreamOptionsValidator(Valid(), "kafka", pulling).ValidateConfiguration());

        Assert.Contains("BatchContainerBatchSize", error.Message, StringComparison.Ordinal);
        new KafkaStreamOptionsValidator(Valid(), "kafka", new StreamPullingAgentOptions()).ValidateConfiguration();
    }
}
