using Orleans;

namespace OrleansFeatures.Streaming.EventHubs;

/// <summary>
/// Settings of the native Event Hubs stream provider, bound from <c>FeatureStore:EventHubs</c>. One Orleans stream
/// provider runs per hub; every hub of a namespace shares these settings. Secrets (<see cref="ConnectionString"/>,
/// <see cref="TableConnectionString"/>) are redacted from option logs.
/// </summary>
public sealed class EventHubStreamOptions
{
    /// <summary>Event hubs to consume; each is a definition source, and each of its partitions one Orleans queue.</summary>
    public List<string> Hubs { get; set; } = [];

    /// <summary>The consumer group that reads (<c>$Default</c> always exists).</summary>
    public string ConsumerGroup { get; set; } = "$Default";

    /// <summary>A namespace connection string (SAS); either this or <see cref="FullyQualifiedNamespace"/>.</summary>
    [Redact]
    public string? ConnectionString { get; set; }

    /// <summary><c>&lt;namespace&gt;.servicebus.windows.net</c>, authenticated with <c>DefaultAzureCredential</c> (managed identity in Azure).</summary>
    public string? FullyQualifiedNamespace { get; set; }

    /// <summary>Client id of a user-assigned managed identity; empty uses the system-assigned one (or whatever DefaultAzureCredential finds).</summary>
    public string? ManagedIdentityClientId { get; set; }

    /// <summary>Azure Storage connection string of the table service holding checkpoints and dead letters; or <see cref="TableServiceUri"/>.</summary>
    [Redact]
    public string? TableConnectionString { get; set; }

    /// <summary><c>https://&lt;account&gt;.table.core.windows.net</c>, authenticated with <c>DefaultAzureCredential</c>.</summary>
    public string? TableServiceUri { get; set; }

    /// <summary>Table of partition checkpoints (one row per consumer group, hub and partition).</summary>
    public string CheckpointTable { get; set; } = "orleansfeaturescheckpoints";

    /// <summary>Table of poison events (one row per hub, partition and sequence number).</summary>
    public string DeadLetterTable { get; set; } = "orleansfeaturesdeadletters";

    /// <summary>Events the AMQP link prefetches per partition.</summary>
    public int PrefetchCount { get; set; } = 300;

    /// <summary>How long start-up waits for the hub's partition list.</summary>
    public TimeSpan MetadataTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Stream namespace of partition streams (set by the application, not from configuration).</summary>
    public string StreamNamespace { get; set; } = "";

    /// <summary>The partition's stream key: <c>{hub}/{partition}</c>.</summary>
    public static string PartitionStreamKey(string hub, string partition) => string.Concat(hub, "/", partition);

    /// <summary>The Orleans stream provider name of <paramref name="hub"/>.</summary>
    public static string ProviderName(string hub) => "eventhubs-" + hub;
}
