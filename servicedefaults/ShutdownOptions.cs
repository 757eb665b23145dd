namespace OrleansFeatures.ServiceDefaults;

/// <summary>Settings of a graceful stop, bound from <c>FeatureStore:Shutdown</c>.</summary>
public sealed class ShutdownOptions
{
    public const string Section = "FeatureStore:Shutdown";

    /// <summary>
    /// How long a stopping host keeps serving while its readiness answers 503, so load balancers stop sending it work
    /// before the listeners close (Kubernetes: longer than the readiness probe's period). 0 = close at once.
    /// </summary>
    public TimeSpan ReadinessDrain { get; set; } = TimeSpan.Zero;

    /// <summary>The whole stop: the drain, then the silo handing its grains off (HostOptions.ShutdownTimeout).</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(30);
}
