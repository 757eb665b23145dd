using Microsoft.Extensions.Diagnostics.HealthChecks;
using OrleansFeatures.Streaming.Kafka;

namespace OrleansFeatures.Gateway;

/// <summary>
/// Ready for Kafka ingestion when every partition this silo reads talks to the brokers. Tagged <c>ingestion</c>,
/// not <c>ready</c>: lookups and Direct pushes are served while the brokers are down.
/// </summary>
public sealed class KafkaIngestionHealthCheck : IHealthCheck
{
    private const int MaxProblemsReported = 5;

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var status = KafkaIngestionStatus.Current();
        if (status.IsReady)
        {
            return Task.FromResult(HealthCheckResult.Healthy($"{status.Partitions} partitions consuming"));
        }

        var shown = string.Join("; ", status.Problems.Take(MaxProblemsReported));
        var more = status.Problems.Count > MaxProblemsReported ? $"; and {status.Problems.Count - MaxProblemsReported} more" : "";
        return Task.FromResult(HealthCheckResult.Unhealthy($"{status.Problems.Count} of {status.Partitions} partitions cannot ingest: {shown}{more}"));
    }
}
