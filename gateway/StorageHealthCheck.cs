using Microsoft.Extensions.Diagnostics.HealthChecks;
using Orleans.Storage;
using OrleansFeatures.Grains;
using OrleansFeatures.Grains.Storage;

namespace OrleansFeatures.Gateway;

/// <summary>Not ready while the embedded SQLite storage cannot write (its last commit failed and a probe write fails too).</summary>
public sealed class StorageHealthCheck(IServiceProvider services) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (services.GetKeyedService<IGrainStorage>(FeatureStoreStorage.Name) is not SqliteGrainStorage sqlite)
        {
            return HealthCheckResult.Healthy("no local storage to check");
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(5));
        try
        {
            return await sqlite.CheckWritableAsync(timeout.Token)
                ? HealthCheckResult.Healthy("storage writes")
                : HealthCheckResult.Unhealthy("storage cannot write");
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return HealthCheckResult.Unhealthy("storage did not answer a probe write within 5 s");
        }
    }
}
