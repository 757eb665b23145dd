namespace OrleansFeatures.Gateway.Security;

/// <summary>
/// Which Kestrel endpoint (by its name under <c>Kestrel:Endpoints</c>) serves each group of RPCs, bound from
/// <c>FeatureStore:Endpoints</c>. A role left empty is served on every endpoint, so by default all share one port.
/// </summary>
public sealed class EndpointRoleOptions
{
    public const string Section = "FeatureStore:Endpoints";

    /// <summary>FeatureServing (lookups).</summary>
    public string? Serving { get; set; }

    /// <summary>FeatureIngestion (push).</summary>
    public string? Ingestion { get; set; }

    /// <summary>FeatureRegistry (apply, plan and registry reads).</summary>
    public string? Admin { get; set; }
}
