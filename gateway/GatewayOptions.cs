using System.ComponentModel.DataAnnotations;

namespace OrleansFeatures.Gateway;

/// <summary>Request limits of the gRPC gateway, bound from <c>FeatureStore:Limits</c>; enforced on every call.</summary>
public sealed class GatewayLimits
{
    public const string Section = "FeatureStore:Limits";

    [Range(1, 100_000)]
    public int MaxEntitiesPerRequest { get; set; } = 1_000;

    [Range(1, 10_000)]
    public int MaxFeaturesPerRequest { get; set; } = 1_000;

    [Range(1, 1_000_000)]
    public int MaxEventsPerPush { get; set; } = 10_000;

    [Range(1, 10_000)]
    public int MaxDefinitionDocuments { get; set; } = 500;

    /// <summary>Largest gRPC message accepted, in bytes; larger requests fail with RESOURCE_EXHAUSTED.</summary>
    [Range(1_024, 256 * 1024 * 1024)]
    public int MaxReceiveMessageBytes { get; set; } = 16 * 1024 * 1024;
}
