using System.Diagnostics;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Orleans.Runtime;
using OrleansFeatures.Grains.Ingestion;
using OrleansFeatures.Grains.Serving;

namespace OrleansFeatures.Gateway.Services;

/// <summary>
/// The one place where an Orleans failure that means "try again" becomes a gRPC status, for every RPC and (through
/// JSON transcoding) every HTTP/JSON route. A silo that died, is stopping or refused a message
/// (<see cref="OrleansMessageRejectionException"/>, <see cref="SiloUnavailableException"/>, an overloaded gateway or
/// activation) answers UNAVAILABLE (HTTP 503), which the shipped client retries for every call; a grain call that timed
/// out answers DEADLINE_EXCEEDED (HTTP 504), since the grain may have acted, so the client retries it for reads only.
/// Without this they escaped as UNKNOWN, which no client retries. A lookup (FeatureServing) is first retried here for up
/// to 1.5 s within its deadline, since a killed silo's entities fail until the cluster declares it dead; a lookup reaches
/// this only when its entities' durable state could not be read either (<c>EntityFeatureReader</c> answers from it,
/// marked stale, otherwise) or that fallback is off. Registered first, so it also covers the access check.
/// </summary>
public sealed partial class ClusterFailureInterceptor(ILogger<ClusterFailureInterceptor> logger) : Interceptor
{
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request,
        ServerCallContext context,
        UnaryServerMethod<TRequest, TResponse> continuation)
    {
        var read = context.Method.StartsWith(ReadServicePrefix, StringComparison.Ordinal);
        var started = Stopwatch.GetTimestamp();
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await continuation(request, context);
            }
            catch (Exception exception) when (exception is not RpcException && StatusFor(exception, context.CancellationToken) is { } status)
            {
                // A lookup waits out a failover here, within its deadline: reads are idempotent, and until the cluster
                // declares a killed silo dead (a few seconds) every attempt at its entities fails, longer than a client's
                // backoff between attempts.
                var backoff = ReadRetry.Delay(attempt - 1);
                if (read && status.StatusCode == StatusCode.Unavailable && CanWait(context, started, backoff))
                {
                    LogRetried(logger, context.Method, attempt, exception.GetType().Name);
                    await Task.Delay(backoff, context.CancellationToken);
                    continue;
                }

                LogMapped(logger, exception, context.Method, status.StatusCode);
                throw new RpcException(status);
            }
        }
    }

    /// <summary>The RPCs that only read, and so are retried here on UNAVAILABLE.</summary>
    private const string ReadServicePrefix = "/orleansfeatures.v1.FeatureServing/";

    /// <summary>How long one read keeps retrying when the caller set no deadline (or a later one).</summary>
    internal static readonly TimeSpan MaxReadRetryTime = TimeSpan.FromSeconds(1.5);

    /// <summary>The store's back-off rule for a read retried here: 50 ms doubling to 400 ms.</summary>
    private static readonly RetryBackoff ReadRetry = new(TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(400));

    private static bool CanWait(ServerCallContext context, long started, TimeSpan backoff)
    {
        // Leave the caller time to receive the answer (a loaded silo oversleeps): give up 300 ms before its deadline.
        var remaining = context.Deadline == DateTime.MaxValue ? TimeSpan.MaxValue : context.Deadline - DateTime.UtcNow - TimeSpan.FromMilliseconds(300);
        return backoff < remaining && Stopwatch.GetElapsedTime(started) + backoff < MaxReadRetryTime;
    }

    /// <summary>
    /// The status for a cluster failure (<see cref="ClusterFailure.Classify"/>), or null for anything else (left to gRPC:
    /// UNKNOWN, or CANCELLED when the caller went away).
    /// </summary>
    public static Status? StatusFor(Exception exception, CancellationToken callCancelled = default) =>
        ClusterFailure.Classify(exception, callCancelled) switch
        {
            ClusterFailureKind.SiloUnavailable => new Status(StatusCode.Unavailable, "a silo of the feature store is unavailable (stopping, failed or not yet known dead); retry"),
            ClusterFailureKind.Overloaded => new Status(StatusCode.Unavailable, "the feature store is overloaded; retry after a backoff"),
            ClusterFailureKind.Rejected => new Status(StatusCode.Unavailable, "the feature store could not deliver the call inside the cluster (a silo is stopping or moving grains); retry"),
            ClusterFailureKind.Lifecycle => new Status(StatusCode.Unavailable, "the feature store is starting or stopping; retry"),
            ClusterFailureKind.Timeout => new Status(StatusCode.DeadlineExceeded, "a grain did not answer in time; it may have acted (reads may retry)"),
            // Not the caller's cancellation: the host is stopping (Orleans cancels its outstanding calls).
            ClusterFailureKind.HostStopping => new Status(StatusCode.Unavailable, "the feature store is stopping; retry"),
            _ => null,
        };

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Method} failed inside the cluster ({Failure}); retrying the read, attempt {Attempt}")]
    private static partial void LogRetried(ILogger logger, string method, int attempt, string failure);

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Method} failed inside the cluster; answered {Status}")]
    private static partial void LogMapped(ILogger logger, Exception exception, string method, StatusCode status);
}
