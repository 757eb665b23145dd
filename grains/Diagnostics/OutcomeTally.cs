using OrleansFeatures.Grains.Ingestion;

namespace OrleansFeatures.Grains.Diagnostics;

/// <summary>
/// The one place event outcomes are counted: every entrance (push, the partition ingester of the stream path) tallies
/// the results it answers, one per event, and records them once, tagged with its path. Each status has its own
/// counter: FAILED and UNKNOWN_OUTCOME are not refusals.
/// </summary>
internal struct OutcomeTally
{
    public static readonly KeyValuePair<string, object?> PushPath = new("path", "push");
    public static readonly KeyValuePair<string, object?> StreamPath = new("path", "stream");

    private long _accepted;
    private long _duplicate;
    private long _late;
    private long _rejected;
    private long _failed;
    private long _unknown;

    public void Add(RoutedEventStatus status)
    {
        switch (status)
        {
            case RoutedEventStatus.Accepted: _accepted++; break;
            case RoutedEventStatus.Duplicate: _duplicate++; break;
            case RoutedEventStatus.Late: _late++; break;
            case RoutedEventStatus.Rejected: _rejected++; break;
            case RoutedEventStatus.Failed: _failed++; break;
            default: _unknown++; break;
        }
    }

    /// <summary>Adds the tally to the events counters, tagged with the entrance's <paramref name="path"/>.</summary>
    public readonly void Record(KeyValuePair<string, object?> path)
    {
        Record(FeatureStoreMetrics.EventsAccepted, _accepted, path);
        Record(FeatureStoreMetrics.EventsDuplicate, _duplicate, path);
        Record(FeatureStoreMetrics.EventsLate, _late, path);
        Record(FeatureStoreMetrics.EventsRejected, _rejected, path);
        Record(FeatureStoreMetrics.EventsFailed, _failed, path);
        Record(FeatureStoreMetrics.EventsUnknownOutcome, _unknown, path);
    }

    private static void Record(System.Diagnostics.Metrics.Counter<long> counter, long count, KeyValuePair<string, object?> path)
    {
        if (count > 0)
        {
            counter.Add(count, path);
        }
    }
}
