using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using OrleansFeatures.Grains.Diagnostics;
using OrleansFeatures.Grains.Interfaces;

namespace OrleansFeatures.Grains.Tests;

/// <summary>
/// What one entity call records into the freshness histogram: the delay from its oldest accepted event's arrival to
/// now, tagged with the entrance and source; nothing when it accepted nothing. Sources are unique to each test, so
/// other tests recording freshness in parallel do not disturb the counts.
/// </summary>
public sealed class IngestionFreshnessTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 30, 12, 0, 0, TimeSpan.Zero);
    private static readonly long NowMs = Now.ToUnixTimeMilliseconds();
    private static readonly EventOutcome Duplicate = new(EventOutcomeKind.Duplicate, null);
    private static readonly EventOutcome Late = new(EventOutcomeKind.Late, null);

    [Fact]
    public void A_push_call_records_one_observation_from_the_push_arrival_for_all_its_accepted_events()
    {
        using var recorded = new RecordedFreshness("push-source");
        var freshness = IngestionFreshness.ForPush(NowMs - 250, new FixedClock(Now));

        freshness.RecordCall("push-source", [0, 1, 2], [EventOutcome.Accepted, Duplicate, EventOutcome.Accepted]);

        var (seconds, path) = Assert.Single(recorded.Observations);
        Assert.Equal(0.25, seconds, precision: 9);
        Assert.Equal("push", path);
    }

    [Fact]
    public void A_stream_call_measures_from_its_oldest_accepted_event_and_ignores_the_ones_it_did_not_accept()
    {
        using var recorded = new RecordedFreshness("stream-source");
        // By delivery index: 0 arrived 900 ms ago (but was late), 3 arrived 400 ms ago, 5 arrived 100 ms ago.
        var arrived = new long[6];
        arrived[0] = NowMs - 900;
        arrived[3] = NowMs - 400;
        arrived[5] = NowMs - 100;
        var freshness = IngestionFreshness.ForDelivery(arrived, new FixedClock(Now));

        freshness.RecordCall("stream-source", [0, 3, 5], [Late, EventOutcome.Accepted, EventOutcome.Accepted]);

        var (seconds, path) = Assert.Single(recorded.Observations);
        Assert.Equal(0.4, seconds, precision: 9);
        Assert.Equal("stream", path);
    }

    [Fact]
    public void A_call_that_accepted_nothing_records_nothing_and_an_arrival_ahead_of_the_clock_records_zero()
    {
        using var recorded = new RecordedFreshness("edge-source");
        var ahead = IngestionFreshness.ForDelivery([NowMs + 5_000], new FixedClock(Now));

        ahead.RecordCall("edge-source", [0], [Duplicate]);
        Assert.Empty(recorded.Observations);

        ahead.RecordCall("edge-source", [0], [EventOutcome.Accepted]);
        Assert.Equal(0, Assert.Single(recorded.Observations).Seconds);
    }

    private sealed class FixedClock(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }

    /// <summary>Freshness observations tagged with one source.</summary>
    private sealed class RecordedFreshness : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly ConcurrentQueue<(double Seconds, string? Path)> _observations = new();

        public RecordedFreshness(string source)
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == FeatureStoreMetrics.MeterName && instrument.Name == InstrumentNames.IngestFreshness)
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<double>((_, value, tags, _) =>
            {
                string? taggedSource = null, path = null;
                foreach (var tag in tags)
                {
                    if (tag.Key == "source")
                    {
                        taggedSource = (string?)tag.Value;
                    }
                    else if (tag.Key == "path")
                    {
                        path = (string?)tag.Value;
                    }
                }

                if (taggedSource == source)
                {
                    _observations.Enqueue((value, path));
                }
            });
            _listener.Start();
        }

        public IReadOnlyList<(double Seconds, string? Path)> Observations => [.. _observations];

        public void Dispose() => _listener.Dispose();
    }
}
