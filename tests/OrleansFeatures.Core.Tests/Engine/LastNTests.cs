using System.Buffers;
using OrleansFeatures.Core.Definitions;
using OrleansFeatures.Core.Engine;
using OrleansFeatures.Core.Events;
using static OrleansFeatures.Core.Tests.Engine.TestViews;

namespace OrleansFeatures.Core.Tests.Engine;

public class LastNTests
{
    private const long T0 = 1_800_000_000_000;

    private static ScalarValue List(params string[] items) => ScalarValue.FromList([.. items.Select(ScalarValue.FromString)]);

    [Fact]
    public void Last_n_serves_the_newest_values_by_event_time_newest_first_with_ties_to_the_later_applied()
    {
        var view = View(Feature("last", AggregationKind.LastN, field: "tag", window: TimeSpan.FromHours(1), lastN: 3));
        var state = new FeatureViewState(view);
        state.Apply(Event("a", T0 + 5_000, tag: "a"));
        state.Apply(Event("b", T0 + 1_000, tag: "b"));       // older: behind a
        state.Apply(Event("c", T0 + 5_000, tag: "c"));       // same time as a, applied later: after a
        state.Apply(Event("d", T0 + 3_000, tag: "d"));
        state.Apply(Event("e", T0 + 2_000, tag: null));      // no value: skipped

        var reading = state.Read(0, T0 + 10_000);

        Assert.Equal(List("c", "a", "d"), reading.Value);
        Assert.Equal(ReadingStatus.Present, reading.Status);
        Assert.Equal(T0 + 5_000, reading.EventTimeMs);
    }

    [Fact]
    public void A_full_tile_drops_its_oldest_value_and_ignores_an_older_late_one()
    {
        var view = View(Feature("last", AggregationKind.LastN, field: "tag", window: TimeSpan.FromHours(1), tile: TimeSpan.FromHours(1), lastN: 2));
        var state = new FeatureViewState(view);
        state.Apply(Event("a", T0 + 1_000, tag: "a"));
        state.Apply(Event("b", T0 + 2_000, tag: "b"));
        state.Apply(Event("c", T0 + 3_000, tag: "c"));
        state.Apply(Event("old", T0 + 500, tag: "old"));
        state.Apply(Event("mid", T0 + 2_500, tag: "mid"));

        Assert.Equal(List("c", "mid"), state.Read(0, T0 + 10_000).Value);
    }

    [Fact]
    public void Last_n_spans_tiles_and_leaves_the_window_tile_by_tile()
    {
        var view = View(Feature("last", AggregationKind.LastN, field: "tag", window: TimeSpan.FromMinutes(10), tile: TimeSpan.FromMinutes(1), lastN: 4));
        var state = new FeatureViewState(view);
        for (var i = 0; i < 6; i++)
        {
            state.Apply(Event($"e{i}", T0 + (i * 60_000), tag: $"v{i}"));
        }

        Assert.Equal(List("v5", "v4", "v3", "v2"), state.Read(0, T0 + 360_000).Value);

        // At T0 + 14 min the window holds tiles 5 … 14: only v5 is left.
        Assert.Equal(List("v5"), state.Read(0, T0 + 840_000).Value);
    }

    [Fact]
    public void An_empty_window_serves_an_empty_list_and_a_ttl_expires_it()
    {
        var view = View(TimeSpan.FromHours(1), TimeSpan.FromMinutes(30), 1,
            Feature("last", AggregationKind.LastN, field: "tag", window: TimeSpan.FromMinutes(10), lastN: 4));
        var state = new FeatureViewState(view);
        Assert.Equal(ReadingStatus.NotFound, state.Read(0, T0).Status);

        state.Apply(Event("a", T0, tag: "a"));

        var empty = state.Read(0, T0 + 900_000);
        Assert.Equal(ReadingStatus.Present, empty.Status);
        Assert.Empty(empty.Value.AsList);
        Assert.Equal(0, empty.EventTimeMs);
        Assert.Equal(ReadingStatus.Expired, state.Read(0, T0 + 3_600_000).Status);
    }

    [Fact]
    public void Features_of_one_field_share_a_list_that_keeps_the_largest_n()
    {
        var view = View(
            Feature("last2", AggregationKind.LastN, field: "tag", window: TimeSpan.FromHours(1), lastN: 2),
            Feature("last5", AggregationKind.LastN, field: "tag", window: TimeSpan.FromHours(1), lastN: 5),
            Feature("first", AggregationKind.First, field: "tag", window: TimeSpan.FromHours(1)));
        var state = new FeatureViewState(view);
        for (var i = 0; i < 8; i++)
        {
            state.Apply(Event($"e{i}", T0 + (i * 1_000), tag: $"v{i}"));
        }

        Assert.Single(state.ToSnapshot().TileGroups);
        Assert.Equal(List("v7", "v6"), state.Read(0, T0 + 10_000).Value);
        Assert.Equal(List("v7", "v6", "v5", "v4", "v3"), state.Read(1, T0 + 10_000).Value);
        Assert.Equal(ScalarValue.FromString("v0"), state.Read(2, T0 + 10_000).Value);
    }

    [Fact]
    public void A_changed_n_starts_empty_and_a_smaller_list_kept_from_a_larger_one_reads_the_same()
    {
        var both = View(
            Feature("last2", AggregationKind.LastN, field: "tag", window: TimeSpan.FromHours(1), lastN: 2),
            Feature("last9", AggregationKind.LastN, field: "tag", window: TimeSpan.FromHours(1), lastN: 9));
        var onlyTwo = View(Feature("last2", AggregationKind.LastN, field: "tag", window: TimeSpan.FromHours(1), lastN: 2));
        var changed = View(Feature("last2", AggregationKind.LastN, field: "tag", window: TimeSpan.FromHours(1), lastN: 3));
        var state = new FeatureViewState(both);
        var straight = new FeatureViewState(onlyTwo);
        for (var i = 0; i < 12; i++)
        {
            var e = Event($"e{i}", T0 + ((i * 7_000) % 50_000), tag: $"v{i}");
            state.Apply(e);
            straight.Apply(e);
        }

        // The tiles restored onto onlyTwo hold up to 9 values each; new values trim them to 2.
        var restored = FeatureViewState.ReadPacked(onlyTwo, Write(state));
        var restarted = FeatureViewState.ReadPacked(changed, Write(state));
        for (var i = 12; i < 20; i++)
        {
            var e = Event($"e{i}", T0 + ((i * 7_000) % 50_000), tag: $"v{i}");
            restored.Apply(e);
            straight.Apply(e);
            restarted.Apply(e);
            Assert.Equal(straight.Read(0, T0 + 60_000), restored.Read(0, T0 + 60_000));
        }

        Assert.Equal(Write(straight), Write(FeatureViewState.ReadPacked(onlyTwo, Write(restored))));
        Assert.Equal(List("v14", "v13", "v12"), restarted.Read(0, T0 + 60_000).Value);
    }

    [Fact]
    public void Last_n_reads_from_the_read_copy_equal_the_live_state()
    {
        var view = View(TimeSpan.FromMinutes(10), null, 1,
            Feature("sum", AggregationKind.Sum, window: TimeSpan.FromMinutes(30)),
            Feature("last_tags", AggregationKind.LastN, field: "tag", window: TimeSpan.FromMinutes(30), lastN: 10),
            Feature("distinct", AggregationKind.CountDistinct, field: "tag", window: TimeSpan.FromMinutes(30)),
            Feature("last_amounts", AggregationKind.LastN, window: TimeSpan.FromMinutes(20), tile: TimeSpan.FromMinutes(5), lastN: 1));
        var state = new FeatureViewState(view);
        var random = new Random(11);
        for (var i = 0; i < 300; i++)
        {
            state.Apply(Event($"e{i}", T0 + random.Next(0, 1_800_000), amount: random.Next(100), tag: $"t{random.Next(30)}"));
        }

        var copy = new ArrayBufferWriter<byte>();
        state.WriteReadCopyTo(copy);
        var reader = new PackedViewReader(copy.WrittenSpan);
        for (var t = T0; t < T0 + 4_000_000; t += 123_457)
        {
            for (var f = 0; f < view.Features.Count; f++)
            {
                Assert.Equal(state.Read(f, t), reader.Read(view, f, t));
            }
        }

        Assert.Equal(10, reader.Read(view, 1, T0 + 1_800_000).Value.AsList.Count);
    }

    [Fact]
    public void A_last_n_without_a_valid_n_is_refused_when_compiled()
    {
        foreach (var n in new[] { 0, FeatureDefinition.MaxLastN + 1 })
        {
            var error = Assert.Throws<ArgumentException>(() => View(Feature("last", AggregationKind.LastN, field: "tag", lastN: n)));
            Assert.Contains($"last_n needs n between 1 and {FeatureDefinition.MaxLastN}", error.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void List_values_compare_by_their_items_and_print_as_json()
    {
        var list = ScalarValue.FromList([ScalarValue.FromString("a\"b"), ScalarValue.FromInt64(3), ScalarValue.FromDouble(0.5), ScalarValue.FromBool(true)]);

        Assert.Equal(ScalarValue.FromList([ScalarValue.FromString("a\"b"), ScalarValue.FromInt64(3), ScalarValue.FromDouble(0.5), ScalarValue.FromBool(true)]), list);
        Assert.Equal(list.GetHashCode(), ScalarValue.FromList([.. list.AsList]).GetHashCode());
        Assert.NotEqual(ScalarValue.FromList([ScalarValue.FromString("a\"b")]), list);
        Assert.NotEqual(ScalarValue.FromString("[]"), ScalarValue.FromList([]));
        Assert.Equal("[\"a\\\"b\",3,0.5,true]", list.ToString());
        Assert.Throws<ArgumentException>(() => ScalarValue.FromList([list]));
    }

    private static byte[] Write(FeatureViewState state)
    {
        var buffer = new ArrayBufferWriter<byte>();
        state.WriteTo(buffer);
        return buffer.WrittenSpan.ToArray();
    }
}
