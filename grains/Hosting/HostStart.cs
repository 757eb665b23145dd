using Microsoft.Extensions.Hosting;

namespace OrleansFeatures.Grains.Hosting;

/// <summary>
/// Waits for the host to finish starting. Hosted services start concurrently (the HTTP endpoints listen, and the
/// startup probe answers 503, while the silo joins), so a background loop that calls grains waits for this first:
/// the host has started once the silo is active in the cluster.
/// </summary>
public static class HostStart
{
    /// <summary>Completes when <paramref name="lifetime"/> reports the host started; cancelled with <paramref name="cancellationToken"/>.</summary>
    public static async Task WaitAsync(IHostApplicationLifetime lifetime, CancellationToken cancellationToken)
    {
        if (lifetime.ApplicationStarted.IsCancellationRequested)
        {
            return;
        }

        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using (lifetime.ApplicationStarted.Register(() => started.TrySetResult()))
        using (cancellationToken.Register(() => started.TrySetCanceled(cancellationToken)))
        {
            await started.Task.ConfigureAwait(false);
        }
    }
}
