using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace OrleansFeatures.ServiceDefaults;

/// <summary>
/// Orleans' silo stop, held to <see cref="ShutdownOptions.Timeout"/> whatever storage does. The host cancels a stop at
/// its ShutdownTimeout but still waits for it, and Orleans' membership agent waits up to a minute to write "dead" to a
/// membership table that may be unreachable (and its ungraceful path retries the table too): with Azure Storage down a
/// SIGTERMed silo took more than 120 s. Here the silo is told to stop ungracefully a few seconds before the deadline, and
/// abandoned at it, so the process exits in time; the rest of the cluster then finds the silo dead by probing, as after
/// a crash. What was acknowledged is durable by then (pushes answer once written; streams replay from their commit).
/// </summary>
internal sealed partial class BoundedSiloStop(IHostedService silo, IOptions<ShutdownOptions> options, IHostApplicationLifetime lifetime, TimeProvider time, ILogger<BoundedSiloStop> logger) : IHostedService
{
    /// <summary>How long before the deadline the silo is asked to stop at once (skip handing grains off).</summary>
    internal static readonly TimeSpan UngracefulMargin = TimeSpan.FromSeconds(3);

    /// <summary>How long before the deadline the stop is abandoned, left to the host's own disposal and exit.</summary>
    internal static readonly TimeSpan AbandonMargin = TimeSpan.FromSeconds(1);

    private long _stoppingAt = -1;

    /// <summary>Wraps Orleans' silo hosted service, registered by UseOrleans (which must come first).</summary>
    public static void Register(IServiceCollection services)
    {
        for (var i = 0; i < services.Count; i++)
        {
            var descriptor = services[i];
            if (descriptor.ServiceType == typeof(IHostedService) && descriptor.ImplementationType?.FullName == "Orleans.Hosting.SiloHostedService")
            {
                var type = descriptor.ImplementationType;
                // Same place in the list: hosted services start in registration order.
                services[i] = ServiceDescriptor.Singleton<IHostedService>(sp => ActivatorUtilities.CreateInstance<BoundedSiloStop>(
                    sp, (IHostedService)ActivatorUtilities.CreateInstance(sp, type), sp.GetService<TimeProvider>() ?? TimeProvider.System));
                return;
            }
        }

        throw new InvalidOperationException("AddFeatureStoreServiceDefaults must be called after UseOrleans: it bounds the silo's stop");
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        // The host's stop, and so its deadline, starts when ApplicationStopping fires (before any service stops).
        lifetime.ApplicationStopping.Register(() => Interlocked.CompareExchange(ref _stoppingAt, time.GetTimestamp(), -1));
        return silo.StartAsync(cancellationToken);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        var stoppingAt = Interlocked.Read(ref _stoppingAt) is var at and >= 0 ? at : time.GetTimestamp();
        var left = options.Value.Timeout - time.GetElapsedTime(stoppingAt);
        using var ungraceful = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        ungraceful.CancelAfter(Max(left - UngracefulMargin, TimeSpan.Zero));
        var stop = silo.StopAsync(ungraceful.Token);
        var deadline = Task.Delay(Max(left - AbandonMargin, TimeSpan.Zero), time, CancellationToken.None);
        if (await Task.WhenAny(stop, deadline).ConfigureAwait(false) == stop)
        {
            await stop.ConfigureAwait(false);
            return;
        }

        LogAbandoned(logger, options.Value.Timeout);
        // Observed so its late failure is not reported as unobserved.
        _ = stop.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    [LoggerMessage(Level = LogLevel.Warning, Message = "The silo had not stopped within FeatureStore:Shutdown:Timeout ({Timeout}); exiting without waiting for it (membership or storage unreachable?). Other silos will find it dead by probing")]
    private static partial void LogAbandoned(ILogger logger, TimeSpan timeout);
}
