using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using OrleansFeatures.Grains.Diagnostics;
using OrleansFeatures.Streaming.EventHubs;
using OrleansFeatures.Streaming.Kafka;

namespace OrleansFeatures.ServiceDefaults;

/// <summary>The telemetry, health endpoints and shutdown behaviour both feature store hosts share.</summary>
public static class ServiceDefaultsExtensions
{
    /// <summary>
    /// OpenTelemetry, the startup/readiness/liveness checks and the graceful stop, bounded by Shutdown:Timeout (call after
    /// UseOrleans); <paramref name="serviceName"/> names the host in telemetry.
    /// </summary>
    public static WebApplicationBuilder AddFeatureStoreServiceDefaults(this WebApplicationBuilder builder, string serviceName)
    {
        builder.Services.AddOptions<ShutdownOptions>().BindConfiguration(ShutdownOptions.Section)
            .Validate(o => o.ReadinessDrain >= TimeSpan.Zero && o.ReadinessDrain < o.Timeout, $"{ShutdownOptions.Section}:ReadinessDrain must be at least 0 and shorter than {ShutdownOptions.Section}:Timeout")
            .ValidateOnStart();
        builder.Services.AddOptions<HostOptions>().Configure<IOptions<ShutdownOptions>>((host, shutdown) =>
        {
            host.ShutdownTimeout = shutdown.Value.Timeout;
            // Kestrel starts beside the silo, not after it has joined: the startup probe answers 503 while the silo
            // joins instead of refusing connections. Loops that call grains wait for the host to start (HostStart).
            host.ServicesStartConcurrently = true;
        });
        builder.Services.AddHostedService<ReadinessDrain>();
        BoundedSiloStop.Register(builder.Services);
        builder.Services.AddOptions<TelemetryOptions>().BindConfiguration(TelemetryOptions.Section)
            .Validate(o => o.TraceSampleRatio is >= 0 and <= 1, $"{TelemetryOptions.Section}:TraceSampleRatio must be between 0 and 1")
            .ValidateOnStart();

        builder.Services.AddHealthChecks()
            .AddCheck<SiloMembershipHealthCheck>("silo", tags: [HealthTags.Startup, HealthTags.Ready])
            .AddCheck<StorageHealthCheck>("storage", tags: [HealthTags.Ready]);

        var otlp = !string.IsNullOrEmpty(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]);
        var sampleRatio = builder.Configuration.GetSection(TelemetryOptions.Section).Get<TelemetryOptions>()?.TraceSampleRatio ?? 1.0;
        var telemetry = builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(serviceName))
            .WithMetrics(metrics =>
            {
                // System.Runtime: GC pauses, heap sizes, thread-pool queue length (built into .NET 9+).
                metrics.AddMeter(FeatureStoreMetrics.MeterName, KafkaStreamMetrics.MeterName, EventHubStreamMetrics.MeterName, "Microsoft.Orleans", "System.Runtime")
                    .AddAspNetCoreInstrumentation()
                    .AddPrometheusExporter();
                if (otlp)
                {
                    metrics.AddOtlpExporter();
                }
            });
        // Spans are recorded only when something exports them. With a listener on Orleans' sources every grain call
        // starts an activity and copies its context into the request context: ~5% of the gateway's CPU on the
        // stream path (one call per entity per delivery), wasted when no exporter reads the spans.
        if (otlp)
        {
            telemetry.WithTracing(tracing => tracing
                .SetSampler(new ParentBasedSampler(new TraceIdRatioBasedSampler(sampleRatio)))
                .AddSource("Microsoft.Orleans.Runtime", "Microsoft.Orleans.Application", "Microsoft.Orleans.Storage", FeatureStoreTracing.SourceName)
                .AddAspNetCoreInstrumentation()
                .AddOtlpExporter());
        }

        builder.Services.AddHostedService<AlertedCounterInitializer>();
        return builder;
    }

    /// <summary>Maps <c>/metrics</c>, <c>/healthz/startup</c>, <c>/healthz/ready</c> and <c>/healthz/live</c>.</summary>
    public static WebApplication MapFeatureStoreDefaultEndpoints(this WebApplication app)
    {
        app.MapPrometheusScrapingEndpoint();
        app.MapHealthChecks("/healthz/startup", new HealthCheckOptions { Predicate = r => r.Tags.Contains(HealthTags.Startup) });
        app.MapHealthChecks("/healthz/ready", new HealthCheckOptions { Predicate = r => r.Tags.Contains(HealthTags.Ready) });
        // Liveness runs no check: a silo waiting on storage or the cluster is alive, and restarting it would not help.
        app.MapHealthChecks("/healthz/live", new HealthCheckOptions { Predicate = _ => false });
        return app;
    }
}
