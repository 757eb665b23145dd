using OrleansFeatures.Core.Events;

namespace OrleansFeatures.Core.Engine;

/// <summary>What applying one event did to one view's state.</summary>
public enum ApplyOutcome
{
    /// <summary>Applied to every feature whose filter it passes.</summary>
    Accepted,

    /// <summary>An event with this id was applied before; nothing changed.</summary>
    Duplicate,

    /// <summary>Older than the watermark minus the allowed lateness (or the de-duplication horizon); counted and dropped.</summary>
    Late,
}

/// <summary>How a reading came to be.</summary>
public enum ReadingStatus
{
    Present,

    /// <summary>No event ever reached this view, or (mean, min, max, latest) none in the window / with the field.</summary>
    NotFound,

    /// <summary>The value's event time is older than the view's TTL.</summary>
    Expired,
}

/// <summary>One feature's value at a query time, with the event time it came from (0 when none).</summary>
public readonly record struct FeatureReading(ScalarValue Value, ReadingStatus Status, long EventTimeMs);
