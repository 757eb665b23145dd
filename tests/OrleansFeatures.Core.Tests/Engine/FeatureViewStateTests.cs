using OrleansFeatures.Core.Definitions;
using OrleansFeatures.Core.Engine;
using OrleansFeatures.Core.Events;
using static OrleansFeatures.Core.Tests.Engine.TestViews;

namespace OrleansFeatures.Core.Tests.Engine;

public class FeatureViewStateTests
{
    private const long Hour = 3_600_000;
    private const long T0 = 1_800_000_000_000; // a whole hour

    [Fact]
    public void Duplicate_event_id_is_applied_once()
    {
        var state = new FeatureViewState(View(Feature("n", AggregationKind.Count)));

        Assert.Equal(ApplyOutcome.Accepted, state.Apply(Event("a", T0)));
        Assert.Equal(ApplyOutcome.Duplicate, state.Apply(Event("a", T0)));

        Assert.Equal(ScalarValue.FromInt64(1), state.Read(0, T0).Value);
        Assert.Equal(1, state.DuplicateCount);
    }

    [Fact]
    public void An_event_ahead_of_its_arrival_never_makes_an_on_time_event_late()
    {
        // Five minutes of lateness, an event 59 minutes ahead of its arrival (inside a one-hour future skew).
        var state = new FeatureViewState(View(
            TimeSpan.FromMinutes(5),
            null,
            1,
            Feature("n", AggregationKind.Count, window: TimeSpan.FromHours(2)),
            Feature("last", AggregationKind.Latest, field: "tag")));
        var arrival = T0;

        Assert.Equal(ApplyOutcome.Accepted, state.Apply(Event("future", arrival + (59 * 60_000), tag: "future"), arrival));
        Assert.Equal(ApplyOutcome.Accepted, state.Apply(Event("on-time", arrival + 1_000, tag: "on-time"), arrival + 1_000));
        Assert.Equal(ApplyOutcome.Accepted, state.Apply(Event("a-bit-late", arrival - (4 * 60_000), tag: "a-bit-late"), arrival + 2_000));

        // The watermark follows the arrival clock, not the future event time.
        Assert.Equal(arrival + 1_000, state.Watermark);
        Assert.Equal(0, state.LateCount);

        // Windows count the future event from its own time on; latest shows the greatest event time, the future one.
        Assert.Equal(ScalarValue.FromInt64(2), state.Read(0, arrival + 2_000).Value);
        Assert.Equal(ScalarValue.FromInt64(3), state.Read(0, arrival + (59 * 60_000)).Value);
        Assert.Equal(ScalarValue.FromString("future"), state.Read(1, arrival + 2_000).Value);
        Assert.Equal(arrival + (59 * 60_000), state.Read(1, arrival + 2_000).EventTimeMs);

        // Beyond the lateness from the arrival clock is still late.
        Assert.Equal(ApplyOutcome.Late, state.Apply(Event("too-late", arrival - (5 * 60_000), tag: "too-late"), arrival + 3_000));
    }

    [Fact]
    public void Numbers_beyond_the_admitted_magnitude_contribute_nothing_so_no_reading_is_infinite()
    {
        var state = new FeatureViewState(View(
            Feature("sum", AggregationKind.Sum),
            Feature("mean", AggregationKind.Mean),
            Feature("max", AggregationKind.Max)));

        state.Apply(Event("a", T0, amount: 1e308));
        state.Apply(Event("b", T0, amount: 1e308));
        state.Apply(Event("c", T0, amount: EventLimits.MaxNumberMagnitude));
        state.Apply(Event("d", T0, amount: EventLimits.MaxNumberMagnitude));

        Assert.Equal(ScalarValue.FromDouble(2 * EventLimits.MaxNumberMagnitude), state.Read(0, T0).Value);
        Assert.Equal(ScalarValue.FromDouble(EventLimits.MaxNumberMagnitude), state.Read(1, T0).Value);
        Assert.Equal(ScalarValue.FromDouble(EventLimits.MaxNumberMagnitude), state.Read(2, T0).Value);
    }

    [Fact]
    public void Late_event_inside_lateness_updates_its_window()
    {
        var state = new FeatureViewState(View(TimeSpan.FromMinutes(30), null, 1, Feature("sum", AggregationKind.Sum, window: TimeSpan.FromHours(1))));

        state.Apply(Event("a", T0, amount: 1));
        Assert.Equal(ApplyOutcome.Accepted, state.Apply(Event("b", T0 - (20 * 60_000), amount: 2)));

        Assert.Equal(ScalarValue.FromDouble(3), state.Read(0, T0).Value);
    }

    [Fact]
    public void Event_older_than_lateness_is_counted_and_dropped()
    {
        var state = new FeatureViewState(View(TimeSpan.FromMinutes(30), null, 1, Feature("sum", AggregationKind.Sum)));

        state.Apply(Event("a", T0, amount: 1));
        Assert.Equal(ApplyOutcome.Late, state.Apply(Event("b", T0 - (31 * 60_000), amount: 2)));

        Assert.Equal(ScalarValue.FromDouble(1), state.Read(0, T0).Value);
        Assert.Equal(1, state.LateCount);
    }

    [Fact]
    public void Window_covers_whole_tiles_up_to_the_query_time()
    {
        // 1h window, 1m tiles: at 10:30:30 the window holds the tiles 09:31 .. 10:30.
        var state = new FeatureViewState(View(TimeSpan.FromHours(2), null, 1, Feature("n", AggregationKind.Count, window: TimeSpan.FromHours(1))));
        var query = T0 + (30 * 60_000) + 30_000;
        state.Apply(Event("in-first-tile", T0 - (29 * 60_000)));          // 09:31:00
        state.Apply(Event("before-window", T0 - (29 * 60_000) - 1));      // 09:30:59.999
        state.Apply(Event("same-tile-later", query + 20_000));            // 10:30:50, same tile as the query
        state.Apply(Event("next-tile", T0 + (31 * 60_000)));              // 10:31:00

        Assert.Equal(ScalarValue.FromInt64(2), state.Read(0, query).Value);
    }

    [Fact]
    public void Mean_min_and_max_of_an_empty_window_are_not_found_while_count_and_sum_are_zero()
    {
        var state = new FeatureViewState(View(
            Feature("n", AggregationKind.Count, window: TimeSpan.FromMinutes(5)),
            Feature("s", AggregationKind.Sum, window: TimeSpan.FromMinutes(5)),
            Feature("m", AggregationKind.Mean, window: TimeSpan.FromMinutes(5)),
            Feature("lo", AggregationKind.Min, window: TimeSpan.FromMinutes(5)),
            Feature("hi", AggregationKind.Max, window: TimeSpan.FromMinutes(5))));
        state.Apply(Event("a", T0));
        var later = T0 + Hour;

        Assert.Equal(new FeatureReading(ScalarValue.FromInt64(0), ReadingStatus.Present, 0), state.Read(0, later));
        Assert.Equal(new FeatureReading(ScalarValue.FromDouble(0), ReadingStatus.Present, 0), state.Read(1, later));
        Assert.Equal(ReadingStatus.NotFound, state.Read(2, later).Status);
        Assert.Equal(ReadingStatus.NotFound, state.Read(3, later).Status);
        Assert.Equal(ReadingStatus.NotFound, state.Read(4, later).Status);
    }

    [Fact]
    public void State_without_events_reads_not_found()
    {
        var state = new FeatureViewState(View(Feature("n", AggregationKind.Count)));

        Assert.Equal(ReadingStatus.NotFound, state.Read(0, T0).Status);
    }

    [Fact]
    public void Value_older_than_ttl_is_expired()
    {
        var state = new FeatureViewState(View(TimeSpan.FromHours(1), TimeSpan.FromMinutes(10), 1,
            Feature("last", AggregationKind.Latest, field: "tag"),
            Feature("n", AggregationKind.Count, window: TimeSpan.FromHours(1))));
        state.Apply(Event("a", T0, tag: "x"));

        Assert.Equal(ReadingStatus.Present, state.Read(0, T0 + (9 * 60_000)).Status);
        var expired = state.Read(0, T0 + (11 * 60_000));
        Assert.Equal(ReadingStatus.Expired, expired.Status);
        Assert.Equal(T0, expired.EventTimeMs);
        Assert.True(expired.Value.IsNull);
        Assert.Equal(ReadingStatus.Expired, state.Read(1, T0 + (11 * 60_000)).Status);
    }

    [Fact]
    public void Latest_takes_the_greatest_event_time_not_the_last_arrival()
    {
        var state = new FeatureViewState(View(Feature("last", AggregationKind.Latest, field: "tag")));

        state.Apply(Event("b", T0 + 10, tag: "newer"));
        state.Apply(Event("a", T0, tag: "older"));

        Assert.Equal(new FeatureReading(ScalarValue.FromString("newer"), ReadingStatus.Present, T0 + 10), state.Read(0, T0 + 10));
    }

    [Fact]
    public void Latest_on_an_event_time_tie_takes_the_later_applied_event()
    {
        var state = new FeatureViewState(View(Feature("last", AggregationKind.Latest, field: "tag")));

        state.Apply(Event("a", T0, tag: "first"));
        state.Apply(Event("b", T0, tag: "second"));

        Assert.Equal(ScalarValue.FromString("second"), state.Read(0, T0).Value);
    }

    [Fact]
    public void Filter_limits_which_events_a_feature_counts()
    {
        var state = new FeatureViewState(View(Feature("clicks", AggregationKind.Count, where: new FieldEquals("kind", "click"))));

        state.Apply(Event("a", T0, kind: "click"));
        state.Apply(Event("b", T0, kind: "view"));
        state.Apply(Event("c", T0, kind: null));

        Assert.Equal(ScalarValue.FromInt64(1), state.Read(0, T0).Value);
    }

    [Fact]
    public void Missing_or_non_numeric_field_does_not_contribute_and_never_throws()
    {
        var state = new FeatureViewState(View(Feature("s", AggregationKind.Sum), Feature("m", AggregationKind.Mean)));
        var text = new FeatureEvent("t", T0, new Dictionary<string, ScalarValue> { ["amount"] = ScalarValue.FromString("lots") });

        state.Apply(Event("a", T0, amount: 4));
        state.Apply(Event("b", T0, amount: null));
        state.Apply(text);

        Assert.Equal(ScalarValue.FromDouble(4), state.Read(0, T0).Value);
        Assert.Equal(ScalarValue.FromDouble(4), state.Read(1, T0).Value);
        Assert.Equal(3, state.AcceptedCount);
    }

    [Fact]
    public void Seen_ids_are_bounded_and_forgotten_ids_turn_into_late_events_not_double_counts()
    {
        var state = new FeatureViewState(View(TimeSpan.FromDays(1), null, 1, Feature("n", AggregationKind.Count, window: TimeSpan.FromDays(1))), maxSeenEvents: 10);
        for (var i = 0; i < 25; i++)
        {
            state.Apply(Event($"e{i}", T0 + i));
        }

        Assert.True(state.SeenEventCount <= 10);
        Assert.Equal(ApplyOutcome.Late, state.Apply(Event("e0", T0)));
        Assert.Equal(ApplyOutcome.Duplicate, state.Apply(Event("e24", T0 + 24)));
        Assert.Equal(ScalarValue.FromInt64(25), state.Read(0, T0 + 24).Value);
    }

    [Fact]
    public void Seen_ids_older_than_the_lateness_are_evicted()
    {
        var state = new FeatureViewState(View(TimeSpan.FromMinutes(1), null, 1, Feature("n", AggregationKind.Count)));
        for (var i = 0; i < 100; i++)
        {
            state.Apply(Event($"e{i}", T0 + (i * 10_000)));
        }

        Assert.InRange(state.SeenEventCount, 6, 7);
    }

    [Fact]
    public void Tiles_outside_every_answerable_window_are_evicted()
    {
        var state = new FeatureViewState(View(TimeSpan.Zero, null, 1, Feature("n", AggregationKind.Count, window: TimeSpan.FromMinutes(5))));
        for (var i = 0; i < 1_000; i++)
        {
            state.Apply(Event($"e{i}", T0 + (i * 60_000)));
        }

        var snapshot = state.ToSnapshot();
        Assert.InRange(snapshot.TileGroups[snapshot.Features[0].TileGroup].Tiles.Count, 1, 60);
        Assert.Equal(ScalarValue.FromInt64(5), state.Read(0, T0 + (999 * 60_000)).Value);
    }

    [Fact]
    public void Snapshot_round_trip_keeps_values_and_duplicates()
    {
        var view = View(Feature("n", AggregationKind.Count), Feature("last", AggregationKind.Latest, field: "tag"));
        var state = new FeatureViewState(view);
        state.Apply(Event("a", T0, tag: "x"));
        state.Apply(Event("b", T0 + 1, tag: "y"));

        var restored = FeatureViewState.Restore(view, state.ToSnapshot());

        Assert.Equal(state.Read(0, T0 + 1), restored.Read(0, T0 + 1));
        Assert.Equal(state.Read(1, T0 + 1), restored.Read(1, T0 + 1));
        Assert.Equal(ApplyOutcome.Duplicate, restored.Apply(Event("a", T0, tag: "x")));
    }

    [Fact]
    public void Restore_into_a_view_with_a_new_feature_keeps_old_features_and_starts_the_new_one_empty()
    {
        var before = View(Feature("n", AggregationKind.Count));
        var state = new FeatureViewState(before);
        state.Apply(Event("a", T0));
        var after = View(Feature("s", AggregationKind.Sum), Feature("n", AggregationKind.Count));

        var restored = FeatureViewState.Restore(after, state.ToSnapshot());

        Assert.Equal(ScalarValue.FromInt64(1), restored.Read(1, T0).Value);
        Assert.Equal(ScalarValue.FromDouble(0), restored.Read(0, T0).Value);
    }

    [Theory]
    [InlineData(5 * 60, 5)]        // 5m → 5s
    [InlineData(3_600, 60)]        // 1h → 1m
    [InlineData(86_400, 900)]      // 24h → 15m (24m is not a candidate)
    [InlineData(7 * 86_400, 7_200)] // 7d → 2h (3h is over a sixtieth)
    [InlineData(30, 1)]
    public void Default_tile_is_the_largest_candidate_dividing_the_window_at_most_a_sixtieth(int windowSeconds, int tileSeconds)
    {
        Assert.Equal(TimeSpan.FromSeconds(tileSeconds), TileRule.DefaultTileFor(TimeSpan.FromSeconds(windowSeconds)));
    }
}
