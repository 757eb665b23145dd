using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace OrleansFeatures.ServiceDefaults;

/// <summary>Holds a stopping host for <see cref="ShutdownOptions.ReadinessDrain"/> before any service stops.</summary>
internal sealed class ReadinessDrain(IOptions<ShutdownOptions> options) : IHostedLifecycleService
{
    public Task StoppingAsync(CancellationToken cancellationToken) =>
        options.Value.ReadinessDrain > TimeSpan.Zero ? Task.Delay(options.Value.ReadinessDrain, cancellationToken) : Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
