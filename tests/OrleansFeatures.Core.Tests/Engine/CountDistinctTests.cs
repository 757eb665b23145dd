using OrleansFeatures.Core.Definitions;
using OrleansFeatures.Core.Engine;
using OrleansFeatures.Core.Events;
using Xunit.Abstractions;
using static OrleansFeatures.Core.Tests.Engine.TestViews;

namespace OrleansFeatures.Core.Tests.Engine;

/// <summary>
/// count_distinct: exact up to <see cref="DistinctSketch.ExactLimit"/> distinct values in a window, then within the
/// documented error of its HyperLogLog (relative standard error 1.04/√4096 = 1.63%; every set checked here within 3σ
/// = 4.9%), and the same answer whatever the order, the tiles or the restores the values went through.
/// </summary>
public class CountDistinctTests(ITestOutputHelper output)
{
    private const long T0 = 1_800_000_000_000;

    /// <summary>The documented bound: three standard errors of a 4,096-register HyperLogLog.</summary>
    private const double DocumentedBound = 3 * 1.04 / 64;

    [Fact]
    public void Up_to_512_distinct_values_are_counted_exactly_with_repeats()
    {
        for (var n = 0; n <= DistinctSketch.ExactLimit; n += 7)
        {
            var sketch = new DistinctSketch();
            for (var i = 0; i < 3 * n; i++)
            {
                sketch.Add(DistinctSketch.Hash(ScalarValue.FromString($"content-{i % Math.Max(n, 1)}")));
            }

            using var union = new DistinctSketch.Union();
            if (n > 0) union.Add(sketch);
            Assert.Equal(n, union.Count());
            Assert.False(sketch.IsDense);
        }
    }

    [Theory, Trait("Speed", "Slow")] // up to a million values: the fast loop leaves it out
    [InlineData(1_000)]
    [InlineData(5_000)]
    [InlineData(20_000)]
    [InlineData(100_000)]
    [InlineData(1_000_000)]
    public void The_estimate_stays_within_three_standard_errors(int distinct)
    {
        var trials = distinct >= 1_000_000 ? 3 : 12;
        var squares = 0.0;
        for (var trial = 0; trial < trials; trial++)
        {
            // Values spread over 24 tiles of a window, so the read merges exact and register tiles alike.
            var tiles = new DistinctSketch[24];
            for (var t = 0; t < tiles.Length; t++) tiles[t] = new DistinctSketch();
            for (var i = 0; i < distinct; i++)
            {
                var hash = DistinctSketch.Hash(ScalarValue.FromString($"trial{trial}-user{i}"));
                tiles[i % tiles.Length].Add(hash);
                if (i % 5 == 0) tiles[(i + 3) % tiles.Length].Add(hash); // the same value in another tile
            }

            using var union = new DistinctSketch.Union();
            foreach (var tile in tiles) union.Add(tile);
            var error = (union.Count() - (double)distinct) / distinct;
            Assert.True(Math.Abs(error) <= DocumentedBound, $"{distinct} distinct, trial {trial}: relative error {error:P2} beyond {DocumentedBound:P2}");
            squares += error * error;
            output.WriteLine($"{distinct} distinct, trial {trial}: relative error {error:P3}");
        }

        // Many sets together: the typical error is the standard error, not merely under the bound.
        if (trials >= 12)
        {
            Assert.True(Math.Sqrt(squares / trials) <= 2 * 1.04 / 64, $"RMS error {Math.Sqrt(squares / trials):P2}");
        }
    }

    [Fact, Trait("Speed", "Slow")] // a million values: the fast loop leaves it out
    public void A_million_distinct_users_in_a_window_read_within_the_documented_error_online()
    {
        var view = View(TimeSpan.FromMinutes(1), null, 1, Feature("viewers", AggregationKind.CountDistinct, field: "tag", window: TimeSpan.FromHours(1)));
        var state = new FeatureViewState(view, maxSeenEvents: 1_100_000);
        const int distinct = 1_000_000;
        for (var i = 0; i < distinct; i++)
        {
            state.Apply(Event($"e{i}", T0 + (i * 3L), tag: $"viewer-{i}"));
        }

        var read = state.Read(0, T0 + (3L * distinct));

        var error = (read.Value.AsInt64 - (double)distinct) / distinct;
        output.WriteLine($"read {read.Value.AsInt64} for {distinct}: relative error {error:P3}");
        Assert.True(Math.Abs(error) <= DocumentedBound, $"read {read.Value.AsInt64}: relative error {error:P2}");
    }

    [Fact]
    public void The_count_does_not_depend_on_arrival_order_tiles_or_restores()
    {
        var view = View(TimeSpan.FromHours(2), null, 1, Feature("d", AggregationKind.CountDistinct, field: "tag", window: TimeSpan.FromHours(1)));
        var random = new Random(26);
        var events = Enumerable.Range(0, 6_000)
            .Select(i => Event($"e{i}", T0 + random.Next(0, 3_600_000), tag: $"v{random.Next(0, 4_000)}"))
            .ToList();
        var inOrder = new FeatureViewState(view);
        foreach (var e in events.OrderBy(e => e.TimestampMs)) inOrder.Apply(e);

        var shuffled = new FeatureViewState(view);
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        var applied = 0;
        foreach (var e in events.OrderBy(_ => random.Next()))
        {
            shuffled.Apply(e, T0 + 3_600_000);
            if (++applied % 1_000 == 0)
            {
                buffer.Clear();
                shuffled.WriteTo(buffer);
                shuffled = FeatureViewState.ReadPacked(view, buffer.WrittenSpan);
            }
        }

        for (var t = T0 + 3_000_000; t < T0 + 3_600_000; t += 61_000)
        {
            Assert.Equal(inOrder.Read(0, t), shuffled.Read(0, t));
        }
    }

    [Fact]
    public void Values_of_different_kinds_are_distinct_and_an_integral_double_is_its_integer()
    {
        Assert.Equal(DistinctSketch.Hash(ScalarValue.FromInt64(5)), DistinctSketch.Hash(ScalarValue.FromDouble(5.0)));
        Assert.Equal(DistinctSketch.Hash(ScalarValue.FromInt64(0)), DistinctSketch.Hash(ScalarValue.FromDouble(-0.0)));
        var kinds = new[] { ScalarValue.FromString("1"), ScalarValue.FromInt64(1), ScalarValue.FromBool(true), ScalarValue.FromDouble(1.5) }
            .Select(v => DistinctSketch.Hash(v))
            .ToHashSet();
        Assert.Equal(4, kinds.Count);
    }

    [Fact]
    public void The_hash_is_stable_across_releases()
    {
        // Persisted sketches hold these hashes: a change of hash would split one value into two after an upgrade.
        Assert.Equal(0xEE9AFE68FE01F933UL, DistinctSketch.Hash(ScalarValue.FromString("content-42")));
    }

    [Fact]
    public void An_empty_window_counts_zero_and_missing_values_count_nothing()
    {
        var view = View(Feature("d", AggregationKind.CountDistinct, field: "tag", window: TimeSpan.FromMinutes(5)));
        var state = new FeatureViewState(view);
        state.Apply(Event("a", T0, tag: null));
        state.Apply(Event("b", T0, tag: "x"));

        Assert.Equal(new FeatureReading(ScalarValue.FromInt64(1), ReadingStatus.Present, T0), state.Read(0, T0));
        Assert.Equal(new FeatureReading(ScalarValue.FromInt64(0), ReadingStatus.Present, 0), state.Read(0, T0 + 600_000));
    }

    [Fact]
    public void A_tile_turned_into_registers_takes_4_KiB_packed_and_an_exact_one_8_bytes_a_value()
    {
        var sketch = new DistinctSketch();
        for (var i = 0; i < 100; i++) sketch.Add(DistinctSketch.Hash(ScalarValue.FromInt64(i)));
        Assert.Equal(1 + 1 + (8 * 100), sketch.PackedBytes);
        for (var i = 100; i < 1_000; i++) sketch.Add(DistinctSketch.Hash(ScalarValue.FromInt64(i)));
        Assert.True(sketch.IsDense);
        Assert.Equal(1 + 4_096, sketch.PackedBytes);
    }
}
