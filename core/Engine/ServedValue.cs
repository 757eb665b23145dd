using OrleansFeatures.Core.Events;

namespace OrleansFeatures.Core.Engine;

/// <summary>The status a lookup answers for one feature: the engine's reading, or the feature service's default.</summary>
public enum ServedStatus
{
    Present,
    NotFound,
    Expired,

    /// <summary>Not found or expired, and the feature service's default was served.</summary>
    Defaulted,
}

/// <summary>
/// One feature as a lookup serves it: a reading, with a feature service's default in place of a missing or expired
/// value. Only a present value has an event time: a default, a missing and an expired value have none (0), as the
/// serving proto documents. The offline path serves training rows through this; it is the rule
/// <c>FeatureServingService</c> applies when it maps a grain's reading to the wire.
/// </summary>
public readonly record struct ServedValue(ScalarValue Value, ServedStatus Status, long EventTimeMs)
{
    public static ServedValue Serve(FeatureReading reading, ScalarValue? fallback)
    {
        if (reading.Status == ReadingStatus.Present)
        {
            return new ServedValue(reading.Value, ServedStatus.Present, reading.EventTimeMs);
        }

        if (fallback is { } defaultValue)
        {
            return new ServedValue(defaultValue, ServedStatus.Defaulted, 0);
        }

        return new ServedValue(ScalarValue.Null, reading.Status == ReadingStatus.Expired ? ServedStatus.Expired : ServedStatus.NotFound, 0);
    }
}
