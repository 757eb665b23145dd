namespace OrleansFeatures.ServiceDefaults;

/// <summary>Tags that select which health checks each probe endpoint runs.</summary>
public static class HealthTags
{
    /// <summary>The silo joined the cluster (the startup probe).</summary>
    public const string Startup = "startup";

    /// <summary>The silo can serve: joined, storage reachable, not shutting down (the readiness probe).</summary>
    public const string Ready = "ready";
}
