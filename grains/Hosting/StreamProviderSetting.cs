using Microsoft.Extensions.Configuration;
using Orleans.Runtime;

namespace OrleansFeatures.Grains.Hosting;

/// <summary>Which stream provider feeds the store: <c>FeatureStore:Streams:Provider</c>.</summary>
public enum StreamProviderKind
{
    /// <summary>No stream: pushes only.</summary>
    None,

    /// <summary>The Kafka-protocol provider (Kafka, Redpanda, Event Hubs' Kafka endpoint), <c>FeatureStore:Kafka</c>.</summary>
    Kafka,

    /// <summary>Orleans' native Event Hubs provider (AMQP), <c>FeatureStore:EventHubs</c>.</summary>
    EventHubs,
}

/// <summary>Reads <c>FeatureStore:Streams:Provider</c>; unset means Kafka when <c>FeatureStore:Kafka:BootstrapServers</c> is set, else none.</summary>
public static class StreamProviderSetting
{
    public const string Key = "FeatureStore:Streams:Provider";

    public static StreamProviderKind Read(IConfigurationSection featureStore)
    {
        var text = featureStore["Streams:Provider"];
        if (string.IsNullOrWhiteSpace(text))
        {
            return string.IsNullOrWhiteSpace(featureStore["Kafka:BootstrapServers"]) ? StreamProviderKind.None : StreamProviderKind.Kafka;
        }

        return text.Trim().ToLowerInvariant() switch
        {
            "kafka" => StreamProviderKind.Kafka,
            "eventhubs" => StreamProviderKind.EventHubs,
            "none" => StreamProviderKind.None,
            _ => throw new OrleansConfigurationException($"{Key} is '{text}'; supported values are Kafka, EventHubs and None."),
        };
    }
}
