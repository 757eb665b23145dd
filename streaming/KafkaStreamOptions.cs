using Confluent.Kafka;
using Orleans;

namespace OrleansFeatures.Streaming.Kafka;

/// <summary>
/// Settings of a Kafka-protocol stream provider (Apache Kafka, Redpanda, Azure Event Hubs' Kafka endpoint), bound
/// from <c>FeatureStore:Kafka</c>. Secrets (<see cref="SaslPassword"/>) are redacted from option logs.
/// </summary>
public sealed class KafkaStreamOptions
{
    /// <summary>Comma-separated <c>host:port</c> list; for Event Hubs <c>&lt;namespace&gt;.servicebus.windows.net:9093</c>.</summary>
    public string BootstrapServers { get; set; } = "";

    /// <summary>Topics to consume; each partition of each topic becomes one Orleans queue.</summary>
    public List<string> Topics { get; set; } = [];

    /// <summary>Consumer group under which offsets are committed (partitions are assigned by Orleans, not by the group).</summary>
    public string ConsumerGroup { get; set; } = "orleansfeatures";

    /// <summary>Where messages that cannot be mapped go, with the reason and source offset in headers; empty disables it.</summary>
    public string DeadLetterTopic { get; set; } = "orleansfeatures-dead-letter";

    /// <summary>
    /// Messages buffered per partition before the partition is paused (back-pressure). Every partition a silo owns
    /// fills its buffer during a backlog: size it as a per-silo budget divided by the partitions one silo may own.
    /// </summary>
    public int BufferedMessagesPerPartition { get; set; } = 100_000;

    /// <summary>
    /// Most messages one pull of the Orleans pulling agent takes from the buffer. Events of one entity within a pull
    /// travel in one batch, which its grain applies and persists in one step, so larger pulls mean far fewer grain
    /// calls and state writes under a backlog; when the topic is idle a pull takes whatever has arrived.
    /// </summary>
    public int MaxMessagesPerPull { get; set; } = 50_000;

    /// <summary>
    /// Batches the Orleans queue cache of one partition holds between pulling and delivery; reading pauses when it
    /// is full. The pulling agent asks for at most a tenth of it per pull, so it also caps how many entities one
    /// pull can group (a pull stops early when it would exceed that many batches).
    /// </summary>
    public int CacheSize { get; set; } = 262_144;

    /// <summary>
    /// Most events one delivery to an entity may carry. An entity whose grain is still busy when further pulls
    /// bring it events gets all of them in its next delivery (one grain call, one state write) rather than one
    /// delivery per pull; 1 turns this off.
    /// </summary>
    public int MaxEventsPerDelivery { get; set; } = 10_000;

    /// <summary>How long one blocking consume call waits for a message before checking for commits and shutdown.</summary>
    public TimeSpan PollTimeout { get; set; } = TimeSpan.FromMilliseconds(50);

    /// <summary>
    /// Longest time the broker holds a fetch that has no data yet (librdkafka <c>fetch.wait.max.ms</c>, whose own
    /// default is 500 ms). Brokers answer early when data arrives, but some (librdkafka's mock cluster, and brokers
    /// under some proxies) hold the full wait, which then becomes event-to-servable latency; 50 ms costs at most
    /// 20 empty fetches per second per idle partition.
    /// </summary>
    public TimeSpan FetchWaitMax { get; set; } = TimeSpan.FromMilliseconds(50);

    /// <summary>
    /// How many nice steps below the process's own OS priority each partition's consume thread runs (Linux; 0 keeps it
    /// at the process's priority). The feature store sets it from <c>FeatureStore:Ingestion:WorkerNice</c>, so reading
    /// partitions yields the cores to request handling when they are contended, as the ingestion lane's workers do.
    /// </summary>
    public int ConsumeThreadNice { get; set; }

    /// <summary>How long start-up waits for topic metadata, and a receiver for its group's committed offset.</summary>
    public TimeSpan MetadataTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// Partition count per topic (<c>FeatureStore:Kafka:Partitions:&lt;topic&gt;</c>). A topic listed here becomes its
    /// Orleans queues without asking the brokers, so the silo starts (and serves lookups) while they are unreachable;
    /// the count is checked against the brokers' metadata once they answer. Topics not listed are read from metadata
    /// at start-up, which fails when the brokers cannot be reached within <see cref="MetadataTimeout"/>.
    /// </summary>
    public Dictionary<string, int> Partitions { get; set; } = new(StringComparer.Ordinal);

    /// <summary><c>Plaintext</c> (default), <c>Ssl</c>, <c>SaslPlaintext</c> or <c>SaslSsl</c> (Event Hubs).</summary>
    public SecurityProtocol SecurityProtocol { get; set; } = SecurityProtocol.Plaintext;

    /// <summary><c>Plain</c> for Event Hubs.</summary>
    public SaslMechanism? SaslMechanism { get; set; }

    /// <summary><c>$ConnectionString</c> for Event Hubs.</summary>
    public string? SaslUsername { get; set; }

    /// <summary>The Event Hubs connection string or SASL password. Read from configuration or environment; never logged.</summary>
    [Redact]
    public string? SaslPassword { get; set; }

    /// <summary>Further librdkafka settings applied to consumers and producers, e.g. <c>socket.keepalive.enable</c>.</summary>
    public Dictionary<string, string> Properties { get; set; } = [];

    /// <summary>The connection settings (servers, security, extra properties) shared by every consumer, producer and admin client.</summary>
    public ClientConfig CreateClientConfig()
    {
        var config = new ClientConfig
        {
            BootstrapServers = BootstrapServers,
            SecurityProtocol = SecurityProtocol,
            SaslMechanism = SaslMechanism,
            SaslUsername = SaslUsername,
            SaslPassword = SaslPassword,
        };
        foreach (var (key, value) in Properties)
        {
            config.Set(key, value);
        }

        return config;
    }
}
