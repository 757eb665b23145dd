namespace OrleansFeatures.Client;

/// <summary>Where the gateway is, how to authenticate, and how long and how often to try a call.</summary>
public sealed class FeatureStoreClientOptions
{
    /// <summary>The configuration section <see cref="FeatureStoreClientServiceCollectionExtensions.AddFeatureStoreClient(Microsoft.Extensions.DependencyInjection.IServiceCollection, Microsoft.Extensions.Configuration.IConfiguration)"/> binds by convention.</summary>
    public const string Section = "FeatureStoreClient";

    /// <summary>The gateway's gRPC endpoint, e.g. <c>http://127.0.0.1:5080</c> (h2c) or <c>https://features.internal:443</c>.</summary>
    public Uri? Address { get; set; }

    /// <summary>Sent as <c>authorization: ApiKey KEY</c> on every call; null when the gateway runs without keys.</summary>
    public string? ApiKey { get; set; }

    /// <summary>
    /// Deadline of one attempt when the call names none. <see cref="Timeout.InfiniteTimeSpan"/> sends no deadline (and
    /// so never retries on DEADLINE_EXCEEDED).
    /// </summary>
    public TimeSpan DefaultDeadline { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Attempts per call, the first included; 1 turns retries off.</summary>
    public int MaxAttempts { get; set; } = 4;

    /// <summary>Backoff before the first retry; each further retry doubles it up to <see cref="MaxBackoff"/>, with full jitter.</summary>
    public TimeSpan InitialBackoff { get; set; } = TimeSpan.FromMilliseconds(50);

    /// <summary>The longest wait between two attempts.</summary>
    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Largest response accepted; a 500-row x 50-column matrix is ~100 KB, a 1,000-entity lookup of 1,000 features far more.</summary>
    public int MaxReceiveMessageBytes { get; set; } = 64 * 1024 * 1024;
}
