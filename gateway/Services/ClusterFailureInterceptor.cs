using Grpc.Core;
using Grpc.Core.Interceptors;
using Orleans.Runtime;

namespace OrleansFeatures.Gateway.Services;

/// <summary>
/// The one place where an Orleans failure that means "try again" becomes a gRPC status, for every RPC and (through
/// JSON transcoding) every HTTP/JSON route. A silo that died, is stopping or refused a message
/// (<see cref="OrleansMessageRejectionException"/>, <see cref="SiloUnavailableException"/>, an overloaded gateway or
/// activation) answers UNAVAILABLE (HTTP 503), which the shipped client retries for every call; a grain call that timed
/// out answers DEADLINE_EXCEEDED (HTTP 504), since the grain may have acted, so the client retries it for reads only.
/// Without this they escaped as UNKNOWN, which no client retries. Registered first, so it also covers the access check.
/// </summary>
public sealed partial class ClusterFailureInterceptor(ILogger<ClusterFailureInterceptor> logger) : Interceptor
{
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request,
        ServerCallContext context,
        UnaryServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(request, context);
        }
        catch (Exception exception) when (exception is not RpcException && StatusFor(exception, context.CancellationToken) is { } status)
        {
            LogMapped(logger, exception, context.Method, status.StatusCode);
            throw new RpcException(status);
        }
    }

    /// <summary>
    /// The status for a cluster failure, or null for anything else (left to gRPC: UNKNOWN, or CANCELLED when the caller
    /// went away). Looks through wrapping exceptions, since a failure inside a grain may reach the gateway as the inner
    /// exception of another.
    /// </summary>
    public static Status? StatusFor(Exception exception, CancellationToken callCancelled = default)
    {
        for (var current = exception; current is not null; current = current.InnerException)
        {
            switch (current)
            {
                case SiloUnavailableException:
                    return new Status(StatusCode.Unavailable, "a silo of the feature store is unavailable (stopping, failed or not yet known dead); retry");
                case GatewayTooBusyException or LimitExceededException:
                    return new Status(StatusCode.Unavailable, "the feature store is overloaded; retry after a backoff");
                case OrleansMessageRejectionException:
                    return new Status(StatusCode.Unavailable, "the feature store could not deliver the call inside the cluster (a silo is stopping or moving grains); retry");
                case ClientNotAvailableException or OrleansLifecycleCanceledException:
                    return new Status(StatusCode.Unavailable, "the feature store is starting or stopping; retry");
                case TimeoutException:
                    return new Status(StatusCode.DeadlineExceeded, "a grain did not answer in time; it may have acted (reads may retry)");
                case OperationCanceledException when !callCancelled.IsCancellationRequested:
                    // Not the caller's cancellation: the host is stopping (Orleans cancels its outstanding calls).
                    return new Status(StatusCode.Unavailable, "the feature store is stopping; retry");
            }
        }

        return null;
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Method} failed inside the cluster; answered {Status}")]
    private static partial void LogMapped(ILogger logger, Exception exception, string method, StatusCode status);
}
