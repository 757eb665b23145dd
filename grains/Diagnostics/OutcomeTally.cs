using OrleansFeatures.Grains.Interfaces;

namespace OrleansFeatures.Grains.Diagnostics;

/// <summary>
/// One batch's event outcomes, counted once into the events counters: every entrance (push, the partition ingester)
/// tallies its outcomes here, so they count alike.
/// </summary>
internal struct OutcomeTally
{
    private long _accepted;
    private long _duplicate;
    private long _late;
    private long _rejected;

    public void Add(EventOutcomeKind kind)
    {
        switch (kind)
        {
            case EventOutcomeKind.Accepted: _accepted++; break;
            case EventOutcomeKind.Duplicate: _duplicate++; break;
            case EventOutcomeKind.Late: _late++; break;
            default: _rejected++; break;
        }
    }

    /// <summary>Adds the tally to the events counters, tagged with the entrance's <paramref name="path"/> when it has one.</summary>
    public readonly void Record(KeyValuePair<string, object?>? path = null)
    {
        Record(FeatureStoreMetrics.EventsAccepted, _accepted, path);
        Record(FeatureStoreMetrics.EventsDuplicate, _duplicate, path);
        Record(FeatureStoreMetrics.EventsLate, _late, path);
        Record(FeatureStoreMetrics.EventsRejected, _rejected, path);
    }

    private static void Record(System.Diagnostics.Metrics.Counter<long> counter, long count, KeyValuePair<string, object?>? path)
    {
        if (count == 0)
        {
            return;
        }

        if (path is { } tag)
        {
            counter.Add(count, tag);
        }
        else
        {
            counter.Add(count);
        }
    }
}
