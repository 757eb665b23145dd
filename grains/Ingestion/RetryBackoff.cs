namespace OrleansFeatures.Grains.Ingestion;

/// <summary>
/// The store's one back-off rule: the wait before retry number n (0 for the first) is <see cref="First"/> doubled n
/// times, never more than <see cref="Max"/>. Used wherever the store retries on its own (an ingester making an entity
/// durable, a gateway read retried while a silo is declared dead); callers differ only by the two bounds.
/// </summary>
public readonly record struct RetryBackoff(TimeSpan First, TimeSpan Max)
{
    /// <summary>The wait before retry <paramref name="attempt"/> (0-based).</summary>
    public TimeSpan Delay(int attempt) =>
        TimeSpan.FromMilliseconds(Math.Min(Max.TotalMilliseconds, First.TotalMilliseconds * Math.Pow(2, Math.Clamp(attempt, 0, 30))));
}
