using OrleansFeatures.Client;

/// <summary>
/// The client library as the bench uses it: one attempt and no deadline, as the generated stubs it replaced, so a
/// failure counts as a failure (a retry would hide it) and the measured calls carry no deadline timer.
/// </summary>
internal static class BenchClient
{
    public static FeatureStoreClient For(Uri address) => new(new FeatureStoreClientOptions
    {
        Address = address,
        MaxAttempts = 1,
        DefaultDeadline = Timeout.InfiniteTimeSpan,
    });
}
