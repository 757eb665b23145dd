using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Orleans.Storage;
using OrleansFeatures.Grains;
using OrleansFeatures.Grains.Hosting;
using OrleansFeatures.Grains.Storage;

namespace OrleansFeatures.ServiceDefaults;

/// <summary>
/// Not ready while grain storage cannot be used: embedded SQLite whose last commit failed and a probe write fails
/// too, or an Azure Storage account that does not answer a probe within 5 s.
/// </summary>
public sealed class StorageHealthCheck(IServiceProvider services) : IHealthCheck
{
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(5);

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (services.GetService<AzureStorageProbe>() is { } azure)
        {
            return await azure.ProbeAsync(ProbeTimeout, cancellationToken)
                ? HealthCheckResult.Healthy("Azure Storage answers")
                : HealthCheckResult.Unhealthy("Azure Storage did not answer a probe within 5 s");
        }

        if (services.GetKeyedService<IGrainStorage>(FeatureStoreStorage.Name) is not SqliteGrainStorage sqlite)
        {
            return HealthCheckResult.Healthy("no local storage to check");
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(ProbeTimeout);
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
