namespace OrleansFeatures.Grains.Diagnostics;

/// <summary>
/// Lets one log entry through per interval and counts the ones held back, so a failure repeated for every entity of
/// a call (a full disk fails them all) is logged once with a count, not once per entity.
/// </summary>
public sealed class LogThrottle(TimeSpan interval, TimeProvider? clock = null)
{
    private readonly TimeProvider _clock = clock ?? TimeProvider.System;
    private long _nextTicks = long.MinValue;
    private long _suppressed;

    /// <summary>True when this entry may be logged; <paramref name="suppressed"/> is how many were held back since the last one.</summary>
    public bool TryEnter(out long suppressed)
    {
        var now = _clock.GetUtcNow().UtcTicks;
        var next = Interlocked.Read(ref _nextTicks);
        if (now >= next && Interlocked.CompareExchange(ref _nextTicks, now + interval.Ticks, next) == next)
        {
            suppressed = Interlocked.Exchange(ref _suppressed, 0);
            return true;
        }

        Interlocked.Increment(ref _suppressed);
        suppressed = 0;
        return false;
    }
}
