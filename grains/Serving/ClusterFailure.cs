using Orleans.Runtime;

namespace OrleansFeatures.Grains.Serving;

/// <summary>The Orleans failures that mean "try again": the call did not reach, or did not get an answer from, a grain that is fine.</summary>
public enum ClusterFailureKind
{
    /// <summary>Not a cluster failure (a grain's own error, a bad request, the caller's cancellation).</summary>
    None,

    /// <summary>The silo holding the grain died, is stopping, or is not yet known dead (<see cref="SiloUnavailableException"/>).</summary>
    SiloUnavailable,

    /// <summary>A gateway or activation refused the call because it is overloaded.</summary>
    Overloaded,

    /// <summary>The message could not be delivered inside the cluster (<see cref="OrleansMessageRejectionException"/>).</summary>
    Rejected,

    /// <summary>The local silo or client is starting or stopping.</summary>
    Lifecycle,

    /// <summary>The grain did not answer within Orleans' response timeout; it may have acted.</summary>
    Timeout,

    /// <summary>The host cancelled the call (it is stopping): not the caller's cancellation.</summary>
    HostStopping,
}

/// <summary>
/// Classifies an Orleans failure, in one place for the gateway's statuses (<c>ClusterFailureInterceptor</c>) and for
/// reads that answer from durable state when an entity's grain cannot (<see cref="EntityFeatureReader"/>).
/// </summary>
public static class ClusterFailure
{
    /// <summary>
    /// The kind of <paramref name="exception"/>, looking through wrapping exceptions (a failure inside a grain may reach
    /// the caller as the inner exception of another); <see cref="ClusterFailureKind.None"/> for anything else.
    /// </summary>
    public static ClusterFailureKind Classify(Exception exception, CancellationToken callCancelled = default)
    {
        for (var current = exception; current is not null; current = current.InnerException)
        {
            switch (current)
            {
                case SiloUnavailableException:
                    return ClusterFailureKind.SiloUnavailable;
                case GatewayTooBusyException or LimitExceededException:
                    return ClusterFailureKind.Overloaded;
                case OrleansMessageRejectionException:
                    return ClusterFailureKind.Rejected;
                case ClientNotAvailableException or OrleansLifecycleCanceledException:
                    return ClusterFailureKind.Lifecycle;
                case TimeoutException:
                    return ClusterFailureKind.Timeout;
                case OperationCanceledException when !callCancelled.IsCancellationRequested:
                    return ClusterFailureKind.HostStopping;
            }
        }

        return ClusterFailureKind.None;
    }
}
