using Microsoft.Extensions.Hosting;
using OrleansFeatures.Grains.Diagnostics;

namespace OrleansFeatures.ServiceDefaults;

/// <summary>Starts the alerted failure counters at 0 once the exporter listens (registered after OpenTelemetry).</summary>
internal sealed class AlertedCounterInitializer : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        FeatureStoreMetrics.RecordZeroForAlertedCounters();
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
