using Grpc.Core;

namespace OrleansFeatures.Client;

/// <summary>
/// Which failures a call retries and how long it waits before the next attempt. UNAVAILABLE means the call did not
/// reach a server that could answer it, so every call retries it (a repeated push is absorbed by event-id
/// de-duplication). DEADLINE_EXCEEDED leaves unknown whether the server acted, so only reads retry it. Every other
/// status is an answer about the request (INVALID_ARGUMENT, NOT_FOUND, PERMISSION_DENIED, ...) and is returned at once.
/// </summary>
internal sealed class RetryPolicy(int maxAttempts, TimeSpan initialBackoff, TimeSpan maxBackoff)
{
    public int MaxAttempts { get; } = maxAttempts;

    public static bool IsTransient(StatusCode status, bool idempotent) =>
        status == StatusCode.Unavailable || (idempotent && status == StatusCode.DeadlineExceeded);

    /// <summary>
    /// The wait after failed attempt <paramref name="attempt"/> (1-based): between half and all of an exponential
    /// ceiling (initial backoff doubled per attempt, capped), so clients that failed together do not retry together.
    /// </summary>
    /// <param name="random">A uniform sample in [0, 1).</param>
    public TimeSpan Backoff(int attempt, double random)
    {
        var ceiling = Math.Min(initialBackoff.TotalMilliseconds * Math.Pow(2, Math.Min(attempt - 1, 30)), maxBackoff.TotalMilliseconds);
        return TimeSpan.FromMilliseconds((ceiling / 2) + (ceiling / 2 * random));
    }
}
