using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OrleansFeatures.Grains.Diagnostics;
using OrleansFeatures.Grains.Hosting;

namespace OrleansFeatures.Grains.Definitions;

/// <summary>Settings for how each silo follows the registry.</summary>
public sealed class DefinitionRefreshOptions
{
    /// <summary>How often every silo checks the registry for a newer version.</summary>
    public TimeSpan RefreshInterval { get; set; } = TimeSpan.FromSeconds(2);
}

/// <summary>Polls the registry so that changes applied through another silo reach this one.</summary>
public sealed partial class DefinitionRefreshService(
    DefinitionCatalog catalog,
    IOptions<DefinitionRefreshOptions> options,
    IHostApplicationLifetime lifetime,
    ILogger<DefinitionRefreshService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await HostStart.WaitAsync(lifetime, stoppingToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            return;
        }

        using var timer = new PeriodicTimer(options.Value.RefreshInterval);
        var failures = 0;
        do
        {
            try
            {
                await catalog.RefreshAsync(stoppingToken).ConfigureAwait(false);
                failures = 0;
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception exception)
            {
                // Expected for a moment while the silo starts; logged and counted, and retried on the next tick.
                failures++;
                FeatureStoreMetrics.BackgroundFailures.Add(1);
                LogRefreshFailed(logger, exception, failures);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Definition refresh failed ({Failures} in a row); keeping the current definitions")]
    private static partial void LogRefreshFailed(ILogger logger, Exception exception, int failures);
}
