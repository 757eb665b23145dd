using System.Buffers;
using OrleansFeatures.Core.Definitions;
using OrleansFeatures.Core.Engine;
using OrleansFeatures.Core.Events;
using static OrleansFeatures.Core.Tests.Engine.TestViews;

namespace OrleansFeatures.Core.Tests.Engine;

public class FeatureViewStateBinaryTests
{
    private const long T0 = 1_800_000_000_000;

    [Fact]
    public void Binary_round_trip_keeps_values_counters_and_duplicates()
    {
        var view = View(TimeSpan.FromHours(1), null, 3,
            Feature("n", AggregationKind.Count, window: TimeSpan.FromHours(1)),
            Feature("s", AggregationKind.Sum, window: TimeSpan.FromHours(24)),
            Feature("last", AggregationKind.Latest, field: "tag"));
        var state = new FeatureViewState(view);
        state.Apply(Event("a", T0, tag: "x", amount: 2.5));
        state.Apply(Event("b", T0 + 61_000, tag: "ü-ß-日本", amount: -1));
        state.Apply(Event("b", T0 + 61_000));
        state.Apply(Event("c", T0 - (3 * 3_600_000)));

        var restored = FeatureViewState.Restore(view, FeatureViewState.ReadSnapshot(Write(state)));

        for (var f = 0; f < view.Features.Count; f++)
        {
            Assert.Equal(state.Read(f, T0 + 61_000), restored.Read(f, T0 + 61_000));
        }

        Assert.Equal((state.Watermark, state.DedupHorizon, state.AcceptedCount, state.DuplicateCount, state.LateCount, state.SeenEventCount),
            (restored.Watermark, restored.DedupHorizon, restored.AcceptedCount, restored.DuplicateCount, restored.LateCount, restored.SeenEventCount));
        Assert.Equal(3, FeatureViewState.ReadViewVersion(Write(state)));
        Assert.Equal(ApplyOutcome.Duplicate, restored.Apply(Event("a", T0, tag: "x")));
    }

    [Fact]
    public void Binary_round_trip_keeps_every_value_kind_of_a_latest_feature()
    {
        var view = View(Feature("last", AggregationKind.Latest, field: "tag"));
        foreach (var value in new[] { ScalarValue.FromInt64(long.MinValue), ScalarValue.FromDouble(double.NaN), ScalarValue.FromBool(true), ScalarValue.FromString(""), ScalarValue.FromString(new string('x', 300)) })
        {
            var state = new FeatureViewState(view);
            state.Apply(new FeatureEvent("e", T0, new Dictionary<string, ScalarValue> { ["tag"] = value }));

            var restored = FeatureViewState.Restore(view, FeatureViewState.ReadSnapshot(Write(state)));

            Assert.Equal(value, restored.Read(0, T0).Value);
        }
    }

    [Fact]
    public void Binary_snapshot_equals_the_object_snapshot()
    {
        var random = new Random(5);
        var view = View(TimeSpan.FromMinutes(30), null, 1,
            Feature("n", AggregationKind.Count, window: TimeSpan.FromMinutes(5)),
            Feature("max", AggregationKind.Max, window: TimeSpan.FromHours(1)));
        var state = new FeatureViewState(view);
        for (var i = 0; i < 500; i++)
        {
            state.Apply(Event($"e{random.Next(400)}", T0 + random.Next(0, 7_200_000), amount: random.NextDouble() * 100));
        }

        var expected = state.ToSnapshot();
        var actual = FeatureViewState.ReadSnapshot(Write(state));

        Assert.Equal(expected.SeenEvents.OrderBy(e => e.IdHash), actual.SeenEvents.OrderBy(e => e.IdHash));
        Assert.Equal(expected.Features.Select(f => (f.Name, f.Signature, f.LatestValue, f.LatestTimestampMs, f.TileGroup)), actual.Features.Select(f => (f.Name, f.Signature, f.LatestValue, f.LatestTimestampMs, f.TileGroup)));
        // A count's list holds index, count and newest time (sum, min and max read 0); a max's list the max as well.
        Assert.Equal(expected.TileGroups.Select(g => g.Columns), actual.TileGroups.Select(g => g.Columns));
        Assert.Equal(expected.TileGroups[0].Tiles, actual.TileGroups[0].Tiles);
        Assert.Equal(expected.TileGroups[1].Tiles, actual.TileGroups[1].Tiles);
        Assert.All(actual.TileGroups[0].Tiles, t => Assert.Equal((0.0, 0.0, 0.0), (t.Sum, t.Min, t.Max)));
    }

    [Fact]
    public void Features_that_read_the_same_events_share_one_tile_list_written_once()
    {
        // Sum, mean, min and max of one field over 1h share a list (with sum, min and max); the two counts over 1h
        // with the same filter share another; a 24h count (other tile width) has its own.
        var view = View(TimeSpan.FromHours(1), null, 1,
            Feature("n1", AggregationKind.Count, window: TimeSpan.FromHours(1)),
            Feature("sum", AggregationKind.Sum, window: TimeSpan.FromHours(1)),
            Feature("mean", AggregationKind.Mean, window: TimeSpan.FromHours(1)),
            Feature("min", AggregationKind.Min, window: TimeSpan.FromHours(1)),
            Feature("max", AggregationKind.Max, window: TimeSpan.FromHours(1)),
            Feature("n2", AggregationKind.Count, window: TimeSpan.FromMinutes(30), tile: TimeSpan.FromMinutes(1)),
            Feature("n24", AggregationKind.Count, window: TimeSpan.FromHours(24)));
        var state = new FeatureViewState(view);
        for (var i = 0; i < 100; i++)
        {
            state.Apply(Event($"e{i}", T0 + (i * 61_000), amount: i % 7));
        }

        var snapshot = state.ToSnapshot();

        Assert.Equal([0, 1, 1, 1, 1, 0, 2], snapshot.Features.Select(f => f.TileGroup));
        Assert.Equal([(byte)0, (byte)7, (byte)0], snapshot.TileGroups.Select(g => g.Columns));
        var restored = FeatureViewState.ReadPacked(view, Write(state));
        for (var f = 0; f < view.Features.Count; f++)
        {
            Assert.Equal(state.Read(f, T0 + (100 * 61_000)), restored.Read(f, T0 + (100 * 61_000)));
        }
    }

    [Fact]
    public void A_feature_added_to_a_shared_list_starts_empty_and_the_others_continue()
    {
        var before = View(TimeSpan.FromHours(1), null, 1, Feature("sum", AggregationKind.Sum, window: TimeSpan.FromHours(1)));
        var state = new FeatureViewState(before);
        for (var i = 0; i < 10; i++)
        {
            state.Apply(Event($"e{i}", T0 + (i * 1_000), amount: 1));
        }

        // Same version, a new mean that would share the sum's list.
        var after = View(TimeSpan.FromHours(1), null, 1,
            Feature("sum", AggregationKind.Sum, window: TimeSpan.FromHours(1)),
            Feature("max", AggregationKind.Max, window: TimeSpan.FromHours(1)));
        var restored = FeatureViewState.ReadPacked(after, Write(state));
        restored.Apply(Event("late-comer", T0 + 20_000, amount: 5));

        Assert.Equal(15.0, restored.Read(0, T0 + 20_000).Value.AsDouble);
        Assert.Equal(5.0, restored.Read(1, T0 + 20_000).Value.AsDouble);
        var rebound = state.Rebind(after);
        Assert.Equal(ReadingStatus.NotFound, rebound.Read(1, T0 + 20_000).Status);
        Assert.Equal(10.0, rebound.Read(0, T0 + 20_000).Value.AsDouble);
    }

    [Fact]
    public void A_retained_id_takes_16_bytes_in_the_main_write_and_in_a_segment()
    {
        var view = View(TimeSpan.FromHours(1), null, 1, Feature("n", AggregationKind.Count, window: TimeSpan.FromHours(1)));
        var few = new FeatureViewState(view);
        var many = new FeatureViewState(view);
        few.Apply(Event("e0", T0));
        for (var i = 0; i < 1_000; i++)
        {
            many.Apply(Event($"a-much-longer-event-id-{i:D8}", T0));
        }

        // 16 bytes an id whatever its length, plus a byte more for each of the two larger counts (ids, the tile's count).
        Assert.Equal((999 * 16) + 2, Write(many).Length - Write(few).Length);
        Assert.Equal((999 * 16) + 1, many.EncodeSeenSegment(out _, out _).Length - few.EncodeSeenSegment(out _, out _).Length);
    }

    [Fact]
    public void A_count_tile_takes_a_few_bytes_not_48()
    {
        var view = View(TimeSpan.FromHours(1), null, 1, Feature("n", AggregationKind.Count, window: TimeSpan.FromMinutes(5)));
        var few = new FeatureViewState(view);
        var many = new FeatureViewState(view);
        for (var i = 0; i < 600; i++)
        {
            // One event per 5-second tile, sealed so the ids do not count.
            many.Apply(Event($"e{i}", T0 + (i * 5_000)));
        }

        few.Apply(Event("e0", T0));
        SealAll(few);
        SealAll(many);

        var perTile = (Write(many).Length - Write(few).Length) / 599.0;

        Assert.InRange(perTile, 3, 8);
    }

    [Fact]
    public void Truncated_or_extended_data_is_refused_not_misread()
    {
        var state = new FeatureViewState(View(Feature("n", AggregationKind.Count)));
        state.Apply(Event("a", T0));
        var data = Write(state);

        for (var length = 0; length < data.Length; length++)
        {
            Assert.Throws<InvalidDataException>(() => FeatureViewState.ReadSnapshot(data.AsSpan(0, length)));
        }

        Assert.Throws<InvalidDataException>(() => FeatureViewState.ReadSnapshot([.. data, 0]));
    }

    [Theory]
    [InlineData(3)] // the layout before shared tile lists and hashed ids, never released
    [InlineData(8)]
    [InlineData(0x54)] // a segment is not a view state
    public void Unknown_format_is_refused_with_its_number(byte format)
    {
        var state = new FeatureViewState(View(Feature("n", AggregationKind.Count)));
        var data = Write(state);
        Assert.Equal(FeatureViewState.BinaryFormat, FeatureViewState.ReadFormat(data));
        data[0] = format;

        var error = Assert.Throws<InvalidDataException>(() => FeatureViewState.ReadSnapshot(data));

        Assert.Contains($"format {format}; this version reads formats 4, 5, 6 and 7 only", error.Message, StringComparison.Ordinal);
        Assert.Throws<InvalidDataException>(() => FeatureViewState.ReadViewVersion(data));
    }

    [Theory]
    [InlineData(4, false)]
    [InlineData(5, false)]
    [InlineData(5, true)]
    [InlineData(6, false)]
    [InlineData(6, true)]
    public void A_format_4_5_or_6_state_reads_as_format_7_without_the_later_columns(byte format, bool format5Columns)
    {
        // Formats 4, 5 and 6 are format 7 without some columns: the same bytes with the older first byte.
        FeatureDefinition[] features = format5Columns
            ? [Feature("n", AggregationKind.Count), Feature("v", AggregationKind.Variance), Feature("first", AggregationKind.First, field: "tag"), Feature("distinct", AggregationKind.CountDistinct, field: "tag")]
            : [Feature("n", AggregationKind.Count), Feature("s", AggregationKind.Sum)];
        var view = View(TimeSpan.FromHours(1), null, 1, features);
        var state = new FeatureViewState(view);
        state.Apply(Event("a", T0, amount: 2, tag: "x"));
        state.Apply(Event("b", T0 + 1_000, amount: 5, tag: "y"));
        var data = Write(state);
        data[0] = format;

        var restored = FeatureViewState.ReadPacked(view, data);

        for (var f = 0; f < view.Features.Count; f++)
        {
            Assert.Equal(state.Read(f, T0 + 1_000), restored.Read(f, T0 + 1_000));
        }
    }

    [Theory]
    [InlineData(4, AggregationKind.Variance, 8)]
    [InlineData(4, AggregationKind.LastN, 64)]
    [InlineData(5, AggregationKind.LastN, 64)]
    public void An_older_format_carrying_a_later_column_is_refused(byte format, AggregationKind aggregation, int column)
    {
        var view = View(Feature("v", aggregation));
        var state = new FeatureViewState(view);
        state.Apply(Event("a", 1_800_000_000_000, amount: 2));
        var data = Write(state);
        data[0] = format;

        var error = Assert.Throws<InvalidDataException>(() => FeatureViewState.ReadSnapshot(data));

        Assert.Contains($"format {format} has unknown tile fields {column}", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Last_n_tiles_round_trip_through_the_packed_form_with_every_value_kind()
    {
        var view = View(
            Feature("last_tags", AggregationKind.LastN, field: "tag", window: TimeSpan.FromMinutes(10), lastN: 4),
            Feature("last_tags_long", AggregationKind.LastN, field: "tag", window: TimeSpan.FromMinutes(10), lastN: 7),
            Feature("last_amounts", AggregationKind.LastN, window: TimeSpan.FromMinutes(10), lastN: 3),
            Feature("first_tag", AggregationKind.First, field: "tag", window: TimeSpan.FromMinutes(10)));
        var state = new FeatureViewState(view);
        const long t0 = 1_800_000_000_000;
        ScalarValue[] values = [ScalarValue.FromString("ü-ß-日本"), ScalarValue.FromInt64(long.MinValue), ScalarValue.FromBool(false), ScalarValue.FromString(""), ScalarValue.FromDouble(-0.0)];
        for (var i = 0; i < 40; i++)
        {
            var fields = new Dictionary<string, ScalarValue> { ["tag"] = values[i % values.Length], ["amount"] = ScalarValue.FromDouble(i * 0.5) };
            state.Apply(new FeatureEvent($"e{i}", t0 + ((i * 7_919) % 300_000), fields));
        }

        var data = Write(state);
        var restored = FeatureViewState.ReadPacked(view, data);

        Assert.Equal(data, Write(restored));
        for (var f = 0; f < view.Features.Count; f++)
        {
            Assert.Equal(state.Read(f, t0 + 300_000), restored.Read(f, t0 + 300_000));
        }

        Assert.Equal(7, restored.Read(1, t0 + 300_000).Value.AsList.Count);
        Assert.Equal(4, restored.Read(0, t0 + 300_000).Value.AsList.Count);
    }

    [Fact]
    public void First_variance_and_count_distinct_tiles_round_trip_through_the_packed_form()
    {
        var view = View(
            Feature("first_tag", AggregationKind.First, field: "tag", window: TimeSpan.FromMinutes(10)),
            Feature("first_amount", AggregationKind.First, field: "amount", window: TimeSpan.FromMinutes(10)),
            Feature("var", AggregationKind.Variance, window: TimeSpan.FromMinutes(10)),
            Feature("sd", AggregationKind.Stddev, window: TimeSpan.FromMinutes(10)),
            Feature("distinct_tags", AggregationKind.CountDistinct, field: "tag", window: TimeSpan.FromMinutes(10)),
            Feature("distinct_amounts", AggregationKind.CountDistinct, window: TimeSpan.FromMinutes(10)));
        var state = new FeatureViewState(view, maxSeenEvents: 10_000);
        const long t0 = 1_800_000_000_000;
        for (var i = 0; i < 3_000; i++)
        {
            // One tile of many distinct amounts (turns into registers), others of a few tags (stay exact).
            state.Apply(Event($"e{i}", t0 + (i % 7 * 1_000) + (i / 1_000 * 60_000), amount: i < 1_000 ? i : i % 3, tag: $"t{i % 40}"));
        }

        var data = Write(state);
        var restored = FeatureViewState.ReadPacked(view, data, maxSeenEvents: 10_000);
        var again = Write(restored);

        Assert.Equal(data, again);
        for (var f = 0; f < view.Features.Count; f++)
        {
            Assert.Equal(state.Read(f, t0 + 180_000), restored.Read(f, t0 + 180_000));
        }

        Assert.Equal(ScalarValue.FromString("t0"), restored.Read(0, t0 + 180_000).Value);
        Assert.Equal(40, restored.Read(4, t0 + 180_000).Value.AsInt64);
    }

    [Fact]
    public void A_corrupt_distinct_sketch_is_refused()
    {
        var view = View(Feature("d", AggregationKind.CountDistinct, field: "tag"));
        var state = new FeatureViewState(view);
        state.Apply(Event("a", 1_800_000_000_000, tag: "x"));
        state.Apply(Event("b", 1_800_000_000_000, tag: "y"));
        var data = Write(state);
        // The sketch closes the state: form, count, then two hashes in ascending order. Swap the hashes.
        var hashes = data.AsSpan(data.Length - 16);
        var swapped = hashes[8..].ToArray().Concat(hashes[..8].ToArray()).ToArray();
        swapped.CopyTo(hashes);

        var error = Assert.Throws<InvalidDataException>(() => FeatureViewState.ReadSnapshot(data));

        Assert.Contains("out of order", error.Message, StringComparison.Ordinal);
        data[^17] = 9;
        Assert.Throws<InvalidDataException>(() => FeatureViewState.ReadSnapshot(data));
        Assert.Throws<InvalidDataException>(() => FeatureViewState.ReadSnapshot(data.AsSpan(0, data.Length - 3)));
    }

    [Fact]
    public void Corrupt_count_cannot_allocate_more_than_the_data_holds()
    {
        var state = new FeatureViewState(View(Feature("n", AggregationKind.Count)));
        var data = Write(state);
        // The seen-id count follows the 1 + 4 + 5 × 8 header bytes; claim 2^28 ids.
        byte[] corrupt = [.. data[..45], 0x80, 0x80, 0x80, 0x80, 0x01, .. data[46..]];

        var error = Assert.Throws<InvalidDataException>(() => FeatureViewState.ReadSnapshot(corrupt));

        Assert.Contains("claims 268435456 items", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Main_write_holds_only_the_ids_accepted_since_the_last_seal()
    {
        var view = View(TimeSpan.FromHours(1), null, 1, Feature("n", AggregationKind.Count, window: TimeSpan.FromHours(1)));
        var state = new FeatureViewState(view);
        state.Apply(Event("a", T0));
        state.Apply(Event("b", T0 + 1_000));
        var segment = state.EncodeSeenSegment(out var count, out var maxTimestamp);
        Assert.Equal(2, state.OpenSeenCount); // encoding alone seals nothing
        state.SealOpenSeenEvents(count);
        state.Apply(Event("c", T0 + 2_000));

        var main = FeatureViewState.ReadSnapshot(Write(state));

        Assert.Equal((2, T0 + 1_000), (count, maxTimestamp));
        Assert.Equal([Seen("a", T0), Seen("b", T0 + 1_000)], FeatureViewState.ReadSeenSegment(segment));
        Assert.Equal([Seen("c", T0 + 2_000)], main.SeenEvents);
        Assert.Equal((1, 3), (state.OpenSeenCount, state.SeenEventCount));

        var restored = FeatureViewState.Restore(view, main, FeatureViewState.ReadSeenSegment(segment));
        Assert.Equal((1, 3), (restored.OpenSeenCount, restored.SeenEventCount));
        Assert.Equal(ApplyOutcome.Duplicate, restored.Apply(Event("a", T0)));
        Assert.Equal(ApplyOutcome.Duplicate, restored.Apply(Event("c", T0 + 2_000)));
        Assert.Equal(3L, restored.Read(0, T0 + 2_000).Value.AsInt64);

        // Without the segment its ids are unknown: the segment is what keeps them.
        Assert.Equal(ApplyOutcome.Accepted, FeatureViewState.Restore(view, main).Apply(Event("a", T0)));
    }

    [Fact]
    public void Sealed_ids_behind_the_lateness_bound_are_not_restored()
    {
        var view = View(TimeSpan.FromMinutes(1), null, 1, Feature("n", AggregationKind.Count));
        var state = new FeatureViewState(view);
        state.Apply(Event("old", T0));
        var segment = state.EncodeSeenSegment(out var count, out _);
        state.SealOpenSeenEvents(count);
        state.Apply(Event("new", T0 + 120_000));

        var restored = FeatureViewState.Restore(view, FeatureViewState.ReadSnapshot(Write(state)), FeatureViewState.ReadSeenSegment(segment));

        Assert.Equal(1, restored.SeenEventCount);
        Assert.Equal(ApplyOutcome.Late, restored.Apply(Event("old", T0)));
    }

    [Fact]
    public void Corrupt_segments_are_refused_not_misread()
    {
        var state = new FeatureViewState(View(Feature("n", AggregationKind.Count)));
        state.Apply(Event("a", T0));
        var data = state.EncodeSeenSegment(out _, out _);

        for (var length = 0; length < data.Length; length++)
        {
            Assert.Throws<InvalidDataException>(() => FeatureViewState.ReadSeenSegment(data.AsSpan(0, length)));
        }

        Assert.Throws<InvalidDataException>(() => FeatureViewState.ReadSeenSegment([.. data, 0]));
        Assert.Throws<InvalidDataException>(() => FeatureViewState.ReadSeenSegment(Write(state)));
        Assert.Throws<InvalidDataException>(() => FeatureViewState.ReadSnapshot(data));
        Assert.Throws<InvalidDataException>(() => FeatureViewState.ReadSeenSegment([FeatureViewState.SeenSegmentFormat, 0x80, 0x80, 0x80, 0x80, 0x01]));
    }

    [Fact]
    public void Open_ids_stay_bounded_when_never_sealed()
    {
        var view = View(TimeSpan.FromMinutes(1), null, 1, Feature("n", AggregationKind.Count));
        var state = new FeatureViewState(view);
        for (var i = 0; i < 10_000; i++)
        {
            state.Apply(Event($"e{i}", T0 + (i * 1_000L)));
        }

        Assert.InRange(state.OpenSeenCount, state.SeenEventCount, (2 * state.SeenEventCount) + 65);
    }

    private static SeenId Seen(string id, long time) => new(FeatureViewState.HashEventId(id), time);

    private static void SealAll(FeatureViewState state)
    {
        state.EncodeSeenSegment(out var count, out _);
        state.SealOpenSeenEvents(count);
    }

    private static byte[] Write(FeatureViewState state)
    {
        var buffer = new ArrayBufferWriter<byte>();
        state.WriteTo(buffer);
        return buffer.WrittenSpan.ToArray();
    }
}
