using System.Globalization;

namespace OrleansFeatures.Core.Definitions;

/// <summary>Durations as definition files write them: <c>500ms</c>, <c>30s</c>, <c>5m</c>, <c>1h</c>, <c>7d</c>.</summary>
public static class DurationText
{
    /// <summary>Exact text for <paramref name="duration"/> in the largest whole unit (days from 2d up, so a day reads 24h).</summary>
    public static string Format(TimeSpan duration)
    {
        var ms = (long)duration.TotalMilliseconds;
        return ms switch
        {
            0 => "0s",
            _ when ms % 86_400_000 == 0 && ms >= 2 * 86_400_000 => string.Create(CultureInfo.InvariantCulture, $"{ms / 86_400_000}d"),
            _ when ms % 3_600_000 == 0 => string.Create(CultureInfo.InvariantCulture, $"{ms / 3_600_000}h"),
            _ when ms % 60_000 == 0 => string.Create(CultureInfo.InvariantCulture, $"{ms / 60_000}m"),
            _ when ms % 1_000 == 0 => string.Create(CultureInfo.InvariantCulture, $"{ms / 1_000}s"),
            _ => string.Create(CultureInfo.InvariantCulture, $"{ms}ms"),
        };
    }
}
