using Microsoft.Extensions.Diagnostics.HealthChecks;
using OrleansFeatures.Grains.Interfaces;

namespace OrleansFeatures.Gateway;

/// <summary>Ready when this silo can reach the registry grain: the cluster is up and grain storage answers.</summary>
public sealed class RegistryHealthCheck(IGrainFactory grainFactory, IHostApplicationLifetime lifetime) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        // The HTTP endpoint answers while the silo joins (hosted services start together): no grain call before then.
        if (!lifetime.ApplicationStarted.IsCancellationRequested)
        {
            return HealthCheckResult.Unhealthy("the silo is starting");
        }

        try
        {
            var version = await grainFactory.GetGrain<IRegistryGrain>(IRegistryGrain.DefaultKey)
                .GetVersion()
                .WaitAsync(TimeSpan.FromSeconds(5), cancellationToken);
            return HealthCheckResult.Healthy($"registry version {version}");
        }
        catch (Exception exception)
        {
            return HealthCheckResult.Unhealthy("registry unreachable", exception);
        }
    }
}
