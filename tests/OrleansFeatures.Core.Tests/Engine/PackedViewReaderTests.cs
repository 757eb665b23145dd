using System.Buffers;
using System.Text;
using OrleansFeatures.Core.Definitions;
using OrleansFeatures.Core.Engine;
using OrleansFeatures.Core.Events;
using static OrleansFeatures.Core.Tests.Engine.TestViews;

namespace OrleansFeatures.Core.Tests.Engine;

/// <summary>
/// A read copy read straight from its bytes (<see cref="PackedViewReader"/>) equals the live state it was written
/// from, feature by feature and bit for bit, at any query time; and the format refuses what it is not.
/// </summary>
public class PackedViewReaderTests
{
    private const int Logs = 1_000;
    private const long T0 = 1_800_000_000_000;

    private static readonly AggregationKind[] Aggregations = AggregationPropertyTests.BuiltIn;

    [Fact]
    public void Every_feature_read_from_the_read_copy_equals_the_live_state_over_random_logs()
    {
        for (var log = 0; log < Logs; log++)
        {
            var seed = 250_000 + log;
            var random = new Random(seed);
            var view = RandomMixedView(random, version: 1, extra: false);
            var state = new FeatureViewState(view);
            var events = AggregationPropertyTests.RandomLog(random);
            // Some copies are written mid-log, some of a state that never accepted anything.
            var applied = random.Next(8) == 0 ? 0 : random.Next(1, events.Count + 1);
            foreach (var e in events.Take(applied))
            {
                state.Apply(e);
            }

            AssertReadsEqual(view, state, ReadCopy(state), random, $"seed {seed}");
        }
    }

    [Fact]
    public void A_read_copy_of_a_state_restored_onto_a_changed_view_reads_as_that_state()
    {
        // A feature added to a view starts empty and gets its own tile list (the restored layout splits shared
        // lists): the read copy carries the state's own layout, so it reads exactly as the restored state.
        for (var log = 0; log < Logs / 4; log++)
        {
            var seed = 260_000 + log;
            var random = new Random(seed);
            var before = RandomMixedView(new Random(seed), version: 1, extra: false);
            var after = RandomMixedView(new Random(seed), version: 2, extra: true);
            var events = AggregationPropertyTests.RandomLog(random);
            var cut = random.Next(events.Count + 1);
            var state = new FeatureViewState(before);
            foreach (var e in events.Take(cut))
            {
                state.Apply(e);
            }

            state = FeatureViewState.Restore(after, state.ToSnapshot());
            foreach (var e in events.Skip(cut))
            {
                state.Apply(e);
            }

            AssertReadsEqual(after, state, ReadCopy(state), random, $"seed {seed}");
        }
    }

    [Fact]
    public void Latest_values_of_every_kind_including_NaN_and_negative_zero_read_back_bit_for_bit()
    {
        var view = View(TimeSpan.FromHours(1), TimeSpan.FromMinutes(10), 1,
            Feature("last", AggregationKind.Latest, field: "x"),
            Feature("min", AggregationKind.Min, field: "amount", window: TimeSpan.FromMinutes(5)),
            Feature("max", AggregationKind.Max, field: "amount", window: TimeSpan.FromMinutes(5)),
            Feature("sum", AggregationKind.Sum, field: "amount", window: TimeSpan.FromMinutes(5)));
        ScalarValue[] values =
        [
            ScalarValue.FromDouble(double.NaN), ScalarValue.FromDouble(-0.0), ScalarValue.FromInt64(long.MinValue),
            ScalarValue.FromBool(false), ScalarValue.FromString(""), ScalarValue.FromString("ü-ß-日本 " + new string('x', 300)),
        ];
        foreach (var value in values)
        {
            var state = new FeatureViewState(view);
            // -0.0 as the only number of a window: min, max and sum read -0.0, 0.0 + -0.0 and so on exactly as live.
            state.Apply(new FeatureEvent("a", T0, new Dictionary<string, ScalarValue> { ["x"] = value, ["amount"] = ScalarValue.FromDouble(-0.0) }));
            var packed = ReadCopy(state);
            var reader = new PackedViewReader(packed);
            foreach (var t in new[] { T0, T0 + 60_000, T0 + 600_001, T0 + 3_600_000 })
            {
                for (var f = 0; f < view.Features.Count; f++)
                {
                    Assert.Equal(state.Read(f, t), reader.Read(view, f, t));
                }
            }

            Assert.Equal(value, reader.Read(view, 0, T0).Value);
        }
    }

    [Fact]
    public void A_state_that_accepted_nothing_reads_not_found_from_a_header_only_copy()
    {
        var view = TwentyFeatureView(version: 7);
        var empty = new FeatureViewState(view);

        var packed = ReadCopy(empty);

        Assert.Equal(22, packed.Length);
        var reader = new PackedViewReader(packed);
        Assert.False(reader.AnyAccepted);
        Assert.Equal(7, PackedViewReader.ReadViewVersion(packed));
        for (var f = 0; f < view.Features.Count; f++)
        {
            Assert.Equal(new FeatureReading(ScalarValue.Null, ReadingStatus.NotFound, 0), reader.Read(view, f, T0));
        }
    }

    [Fact]
    public void Read_copy_names_no_feature_holds_no_event_id_and_is_far_smaller_than_the_stored_form()
    {
        var view = TwentyFeatureView(version: 1);
        var state = new FeatureViewState(view);
        for (var i = 0; i < 4; i++)
        {
            state.Apply(Event($"event-{Guid.NewGuid()}", T0 - (i * 3_600_000), tag: $"t{i}", amount: i));
        }

        var stored = new ArrayBufferWriter<byte>();
        state.WriteTo(stored);
        var copy = ReadCopy(state);

        var text = Encoding.UTF8.GetString(copy);
        Assert.DoesNotContain("feature_", text, StringComparison.Ordinal);
        Assert.DoesNotContain("Count|", text, StringComparison.Ordinal);
        Assert.True(copy.Length * 3 < stored.WrittenCount, $"read copy {copy.Length} B, stored form {stored.WrittenCount} B");
    }

    [Fact]
    public void A_view_with_other_features_or_another_version_does_not_read_the_copy()
    {
        var view = TwentyFeatureView(version: 1);
        var state = new FeatureViewState(view);
        state.Apply(Event("a", T0, amount: 3));
        var reader = new PackedViewReader(ReadCopy(state));

        var renamed = View(TimeSpan.FromHours(1), null, 1, [.. view.Definition.Features.Select((f, i) => i == 3 ? f with { Name = "other" } : f)]);
        var reordered = View(TimeSpan.FromHours(1), null, 1, [.. view.Definition.Features.Reverse()]);
        var changedWindow = View(TimeSpan.FromHours(1), null, 1, [.. view.Definition.Features.Select((f, i) => i == 5 ? f with { Window = TimeSpan.FromHours(2) } : f)]);
        var nextVersion = TwentyFeatureView(version: 2);

        Assert.True(reader.IsFor(view));
        Assert.True(reader.IsFor(TwentyFeatureView(version: 1)));
        foreach (var other in new[] { renamed, reordered, changedWindow, nextVersion })
        {
            Assert.False(reader.IsFor(other));
            var copy = ReadCopy(state);
            Assert.Throws<ArgumentException>(() => new PackedViewReader(copy).Read(other, 0, T0));
        }
    }

    [Fact]
    public void Unknown_formats_are_refused_naming_the_format_found_and_the_one_read()
    {
        var view = TwentyFeatureView(version: 1);
        var state = new FeatureViewState(view);
        state.Apply(Event("a", T0));
        var stored = new ArrayBufferWriter<byte>();
        state.WriteTo(stored);
        var copy = ReadCopy(state);

        // The stored form is not a read copy, and a read copy is not a stored state: an activation never restores one.
        var notACopy = Assert.Throws<InvalidDataException>(() => new PackedViewReader(stored.WrittenSpan));
        Assert.Contains($"format {FeatureViewState.BinaryFormat}; this version reads format {FeatureViewState.ReadCopyFormat} only", notACopy.Message, StringComparison.Ordinal);
        var notStored = Assert.Throws<InvalidDataException>(() => FeatureViewState.ReadSnapshot(copy));
        Assert.Contains($"format {FeatureViewState.ReadCopyFormat}; this version reads formats {FeatureViewState.ReadableFormats} only", notStored.Message, StringComparison.Ordinal);
        Assert.Throws<InvalidDataException>(() => FeatureViewState.ReadViewVersion(copy));
        var previous = stored.WrittenSpan.ToArray();
        previous[0] = FeatureViewState.Format6;
        Assert.Throws<InvalidDataException>(() => new PackedViewReader(previous));

        // The read copy before last_n and feature types (0xC6) is refused too: it never held either column.
        copy[0] = 0xC6;
        Assert.Contains("format 198; this version reads format 199 only", Assert.Throws<InvalidDataException>(() => new PackedViewReader(copy)).Message, StringComparison.Ordinal);

        copy[0] = 9;
        Assert.Contains("format 9", Assert.Throws<InvalidDataException>(() => new PackedViewReader(copy)).Message, StringComparison.Ordinal);
        Assert.Throws<InvalidDataException>(() => new PackedViewReader([]));
    }

    [Fact]
    public void The_read_copy_format_byte_is_none_of_the_stored_formats_nor_the_seen_segment()
    {
        // Both sequences grow: read copies number from 0xC0, stored formats count up from 1, segments are 0x54.
        Assert.True(FeatureViewState.ReadCopyFormat >= 0xC0);
        Assert.True(FeatureViewState.BinaryFormat < 0x54 && FeatureViewState.Format6 < FeatureViewState.BinaryFormat);
        Assert.NotEqual(FeatureViewState.SeenSegmentFormat, FeatureViewState.ReadCopyFormat);
        var state = new FeatureViewState(TwentyFeatureView(version: 1));
        Assert.Equal(FeatureViewState.ReadCopyFormat, ReadCopy(state)[0]);
        state.Apply(Event("a", T0));
        Assert.Equal(FeatureViewState.ReadCopyFormat, ReadCopy(state)[0]);
    }

    [Fact]
    public void First_and_count_distinct_read_from_the_copy_past_the_exact_limit_and_beside_other_columns()
    {
        // One list read by first, count_distinct; another by variance, stddev, sum, min and max: every column in
        // one copy, with sketches both exact (early tiles) and dense (a tile holding more than 512 values).
        var view = View(TimeSpan.FromMinutes(10), TimeSpan.FromHours(2), 1,
            Feature("first", AggregationKind.First, field: "tag", window: TimeSpan.FromHours(1), tile: TimeSpan.FromMinutes(5)),
            Feature("distinct", AggregationKind.CountDistinct, field: "tag", window: TimeSpan.FromHours(1), tile: TimeSpan.FromMinutes(5)),
            Feature("variance", AggregationKind.Variance, field: "amount", window: TimeSpan.FromHours(1)),
            Feature("stddev", AggregationKind.Stddev, field: "amount", window: TimeSpan.FromMinutes(30)),
            Feature("sum", AggregationKind.Sum, field: "amount", window: TimeSpan.FromHours(1)),
            Feature("min", AggregationKind.Min, field: "amount", window: TimeSpan.FromHours(1)),
            Feature("max", AggregationKind.Max, field: "amount", window: TimeSpan.FromHours(1)),
            Feature("distinct_amount", AggregationKind.CountDistinct, field: "amount", window: TimeSpan.FromMinutes(20)));
        var state = new FeatureViewState(view, maxSeenEvents: 10_000);
        for (var i = 0; i < 2_000; i++)
        {
            // A few values per early tile (exact sketches there), then 1,500 in the last tile (dense there).
            var ts = i < 500 ? T0 + (i * 6_000) : T0 + 3_300_000 + i;
            state.Apply(Event($"e{i}", ts, amount: (i % 97) * 1e6 + 0.25, tag: $"user-{i % 1_700}"));
        }

        var reader = new PackedViewReader(ReadCopy(state));
        foreach (var t in new[] { T0 + 3_599_999, T0 + 3_600_000 + 600_000, T0 + 5_000_000, T0 + 7_000_000, T0 + 20_000_000 })
        {
            for (var f = 0; f < view.Features.Count; f++)
            {
                Assert.Equal(state.Read(f, t), reader.Read(view, f, t));
            }
        }

        Assert.True(reader.Read(view, 1, T0 + 3_599_999).Value.AsInt64 > DistinctSketch.ExactLimit);
        Assert.Equal(ScalarValue.FromString("user-0"), reader.Read(view, 0, T0 + 3_599_999).Value);
    }

    [Fact]
    public void A_truncated_read_copy_is_refused_rather_than_misread()
    {
        var view = TwentyFeatureView(version: 1);
        var state = new FeatureViewState(view);
        for (var i = 0; i < 6; i++)
        {
            state.Apply(Event($"e{i}", T0 + (i * 90_000), tag: "long tag value", amount: i * 1.5));
        }

        var copy = ReadCopy(state);
        for (var length = 0; length < copy.Length; length++)
        {
            var truncated = copy.AsSpan(0, length).ToArray();
            Assert.Throws<InvalidDataException>(() =>
            {
                var reader = new PackedViewReader(truncated);
                for (var f = 0; f < view.Features.Count; f++)
                {
                    reader.Read(view, f, T0 + 600_000);
                }
            });
        }
    }

    private static void AssertReadsEqual(CompiledFeatureView view, FeatureViewState state, byte[] packed, Random random, string context)
    {
        var reader = new PackedViewReader(packed);
        Assert.True(reader.IsFor(view), context);
        var times = new List<long> { state.Watermark == long.MinValue ? T0 : state.Watermark };
        for (var q = 0; q < 12; q++)
        {
            times.Add(AggregationPropertyTests.RandomQueryTime(random, state, view));
        }

        // Well after every window and TTL: empty windows and expired values.
        times.Add(times[^1] + (long)TimeSpan.FromDays(2).TotalMilliseconds);
        foreach (var t in times)
        {
            for (var f = 0; f < view.Features.Count; f++)
            {
                var expected = state.Read(f, t);
                var actual = reader.Read(view, f, t);
                Assert.True(expected == actual, $"{context}, feature {view.Features[f].Name} ({view.Features[f].Signature}), t={t}: read {actual}, live {expected}");
            }
        }
    }

    /// <summary>Every aggregation over shared and separate tile lists, with filters, tile widths and (for some) a TTL.</summary>
    private static CompiledFeatureView RandomMixedView(Random random, int version, bool extra)
    {
        var features = new List<FeatureDefinition>();
        var count = random.Next(2, 9);
        for (var i = 0; i < count; i++)
        {
            var kind = Aggregations[random.Next(Aggregations.Length)];
            // Few distinct windows and filters, so features often share a tile list.
            var window = AggregationPropertyTests.Windows[random.Next(2)];
            TimeSpan? tile = random.Next(4) == 0 ? TimeSpan.FromSeconds(window.TotalSeconds / 4) : null;
            FilterExpression? where = random.Next(3) == 0 ? new FieldEquals("kind", AggregationPropertyTests.Kinds[random.Next(2)]) : null;
            // Latest, first and count_distinct read any value: the string field or the numeric one ("n/a" counts too).
            var field = (kind == AggregationKind.Latest || kind.ReadsAnyValue()) && random.Next(2) == 0 ? "tag" : "amount";
            features.Add(Feature($"f{i}", kind, field, window, tile, where, lastN: AggregationPropertyTests.LastNs[random.Next(AggregationPropertyTests.LastNs.Length)]));
        }

        if (extra)
        {
            features.Insert(random.Next(features.Count + 1), Feature("added", Aggregations[random.Next(1, Aggregations.Length)], "amount", AggregationPropertyTests.Windows[random.Next(2)]));
        }

        TimeSpan? ttl = random.Next(3) switch
        {
            0 => null,
            1 => TimeSpan.FromMinutes(random.Next(1, 30)),
            _ => TimeSpan.FromHours(random.Next(1, 5)),
        };
        return View(AggregationPropertyTests.Latenesses[random.Next(AggregationPropertyTests.Latenesses.Length)], ttl, version, [.. features]);
    }

    private static CompiledFeatureView TwentyFeatureView(int version)
    {
        var features = new List<FeatureDefinition>();
        for (var i = 0; i < 20; i++)
        {
            var kind = Aggregations[i % Aggregations.Length];
            features.Add(Feature($"feature_{i}", kind, kind == AggregationKind.Latest ? "tag" : "amount", TimeSpan.FromHours(1 + (i % 3))));
        }

        return View(TimeSpan.FromHours(1), null, version, [.. features]);
    }

    private static byte[] ReadCopy(FeatureViewState state)
    {
        var buffer = new ArrayBufferWriter<byte>();
        state.WriteReadCopyTo(buffer);
        return buffer.WrittenSpan.ToArray();
    }
}
