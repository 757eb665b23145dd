using Microsoft.AspNetCore.Connections.Features;

namespace OrleansFeatures.Gateway.Services;

/// <summary>
/// Moves callers off a stopping gateway. Once the host is stopping (SIGTERM, before the readiness drain), every request
/// is still served and its connection is asked to close when the request ends: HTTP/2 clients get a GOAWAY and send
/// their next call on a new connection, which a load balancer gives to a ready gateway. Without this, a client that
/// keeps one long-lived connection (a gRPC channel behind a Kubernetes Service, which balances connections, not calls)
/// kept sending to the stopping gateway through the drain and into the silo's stop, where its calls failed.
/// </summary>
public sealed class ConnectionDrain(RequestDelegate next, IHostApplicationLifetime lifetime)
{
    public Task InvokeAsync(HttpContext context)
    {
        if (lifetime.ApplicationStopping.IsCancellationRequested)
        {
            context.Features.Get<IConnectionLifetimeNotificationFeature>()?.RequestClose();
        }

        return next(context);
    }
}
