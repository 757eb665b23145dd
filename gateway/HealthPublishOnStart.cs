using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace OrleansFeatures.Gateway;

/// <summary>
/// Publishes the health report once the host has started. grpc.health.v1 answers from the last published report
/// (every 5 s), and hosted services start together (the silo joins while the HTTP endpoint already answers), so the
/// first scheduled report may say "starting": without this, grpc.health would answer NOT_SERVING for up to 5 s after
/// <c>/healthz/ready</c> turned 200.
/// </summary>
public sealed partial class HealthPublishOnStart(
    HealthCheckService health,
    IEnumerable<IHealthCheckPublisher> publishers,
    IHostApplicationLifetime lifetime,
    ILogger<HealthPublishOnStart> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        lifetime.ApplicationStarted.Register(() => _ = PublishAsync(lifetime.ApplicationStopping));
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private async Task PublishAsync(CancellationToken cancellationToken)
    {
        try
        {
            var report = await health.CheckHealthAsync(cancellationToken);
            foreach (var publisher in publishers)
            {
                await publisher.PublishAsync(report, cancellationToken);
            }
        }
        catch (Exception exception)
        {
            // The scheduled publication follows within 5 s; until then grpc.health answers from the previous one.
            LogPublishFailed(logger, exception);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Publishing the health report at start-up failed")]
    private static partial void LogPublishFailed(ILogger logger, Exception exception);
}
