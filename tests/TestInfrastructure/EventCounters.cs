using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace OrleansFeatures.TestInfrastructure;

/// <summary>
/// The events counters (<c>orleansfeatures.events.*</c>) recorded while this is alive, by outcome and path
/// (<c>push</c>, <c>stream</c>). The counters are process-wide: use it only in a collection that runs alone.
/// </summary>
public sealed class EventCounters : IDisposable
{
    private const string Prefix = "orleansfeatures.events.";
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<(string Outcome, string? Path), long> _counts = new();

    public EventCounters()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == "OrleansFeatures" && instrument.Name.StartsWith(Prefix, StringComparison.Ordinal))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            string? path = null;
            foreach (var tag in tags)
            {
                if (tag.Key == "path")
                {
                    path = (string?)tag.Value;
                }
            }

            _counts.AddOrUpdate((instrument.Name[Prefix.Length..], path), value, (_, sum) => sum + value);
        });
        _listener.Start();
    }

    /// <summary>Events counted with <paramref name="outcome"/> (<c>accepted</c>, <c>duplicate</c>, <c>late</c>, <c>rejected</c>, <c>failed</c>, <c>unknown_outcome</c>) on <paramref name="path"/>; null: every path.</summary>
    public long Count(string outcome, string? path = null) =>
        _counts.Where(c => c.Key.Outcome == outcome && (path is null || c.Key.Path == path)).Sum(c => c.Value);

    /// <summary>Every non-zero count, for a failure message.</summary>
    public override string ToString() => string.Join(", ", _counts.Where(c => c.Value != 0).OrderBy(c => c.Key.Outcome).Select(c => $"{c.Key.Outcome}/{c.Key.Path ?? "-"}={c.Value}"));

    public void Dispose() => _listener.Dispose();
}
