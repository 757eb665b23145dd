using Microsoft.Extensions.Configuration;
using Orleans.Runtime;
using OrleansFeatures.Grains.Hosting;
using OrleansFeatures.Streaming.EventHubs;

namespace OrleansFeatures.Streaming.Tests;

public sealed class StreamProviderSettingTests
{
    [Theory]
    [InlineData(null, null, StreamProviderKind.None)]
    [InlineData(null, "localhost:9092", StreamProviderKind.Kafka)]
    [InlineData("EventHubs", null, StreamProviderKind.EventHubs)]
    [InlineData("kafka", "localhost:9092", StreamProviderKind.Kafka)]
    [InlineData("None", "localhost:9092", StreamProviderKind.None)]
    public void The_provider_is_read_from_the_setting_or_follows_the_Kafka_brokers(string? provider, string? brokers, StreamProviderKind expected)
    {
        Assert.Equal(expected, StreamProviderSetting.Read(Section(("Streams:Provider", provider), ("Kafka:BootstrapServers", brokers))));
    }

    [Fact]
    public void An_unknown_provider_fails_naming_the_key()
    {
        var error = Assert.Throws<OrleansConfigurationException>(() => StreamProviderSetting.Read(Section(("Streams:Provider", "Kinesis"))));

        Assert.Contains("FeatureStore:Streams:Provider", error.Message, StringComparison.Ordinal);
        Assert.Contains("Kinesis", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Hubs", null)]
    [InlineData("ConnectionString", "Endpoint=sb://x.servicebus.windows.net/;SharedAccessKeyName=k")]
    [InlineData("FullyQualifiedNamespace", "https://contoso.servicebus.windows.net/")]
    [InlineData("TableServiceUri", "contoso tables")]
    [InlineData("CheckpointTable", "no-dashes")]
    public void A_bad_Event_Hubs_setting_fails_naming_it(string setting, string? value)
    {
        var options = new EventHubStreamOptions
        {
            Hubs = ["plays"],
            FullyQualifiedNamespace = "contoso.servicebus.windows.net",
            TableServiceUri = "https://contoso.table.core.windows.net",
        };
        switch (setting)
        {
            case "Hubs": options.Hubs = []; break;
            case "ConnectionString": options.FullyQualifiedNamespace = null; options.ConnectionString = value; break;
            case "FullyQualifiedNamespace": options.FullyQualifiedNamespace = value; break;
            case "TableServiceUri": options.TableServiceUri = value; break;
            case "CheckpointTable": options.CheckpointTable = value!; break;
        }

        var error = Assert.Throws<OrleansConfigurationException>(() => EventHubStreamOptionsValidator.Validate(options));

        Assert.Contains($"FeatureStore:EventHubs:{setting}", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Neither_connection_setting_fails_naming_both()
    {
        var options = new EventHubStreamOptions { Hubs = ["plays"], TableServiceUri = "https://contoso.table.core.windows.net" };

        var error = Assert.Throws<OrleansConfigurationException>(() => EventHubStreamOptionsValidator.Validate(options));

        Assert.Contains("FeatureStore:EventHubs:ConnectionString", error.Message, StringComparison.Ordinal);
        Assert.Contains("FeatureStore:EventHubs:FullyQualifiedNamespace", error.Message, StringComparison.Ordinal);
    }

    private static IConfigurationSection Section(params (string Key, string? Value)[] values) =>
        new ConfigurationBuilder()
            .AddInMemoryCollection(values.Where(v => v.Value is not null).Select(v => new KeyValuePair<string, string?>("FeatureStore:" + v.Key, v.Value)))
            .Build()
            .GetSection("FeatureStore");
}
