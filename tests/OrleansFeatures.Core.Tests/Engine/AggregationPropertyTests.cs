using OrleansFeatures.Core.Definitions;
using OrleansFeatures.Core.Engine;
using OrleansFeatures.Core.Events;
using static OrleansFeatures.Core.Tests.Engine.TestViews;

namespace OrleansFeatures.Core.Tests.Engine;

/// <summary>
/// For random event logs (out of order, duplicated, late), every feature equals a brute-force computation over
/// the same events at random query times: exactly for count, min, max, latest, first, count_distinct and last_n; within 1e-9
/// (relative) for sum, mean, variance and stddev, which the brute force computes in another order (two passes).
/// </summary>
public class AggregationPropertyTests
{
    private const int LogsPerKind = 1_000;
    private const long Base = 1_800_000_000_000;

    internal static readonly TimeSpan[] Windows = [TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(5), TimeSpan.FromHours(1), TimeSpan.FromMinutes(10)];
    internal static readonly TimeSpan[] Latenesses = [TimeSpan.Zero, TimeSpan.FromSeconds(30), TimeSpan.FromMinutes(10), TimeSpan.FromHours(2)];
    internal static readonly string[] Kinds = ["click", "view", "share"];
    internal static readonly int[] LastNs = [1, 2, 3, 5, 10, 50];

    /// <summary>The built-in aggregations (a C# feature type has its own tests: FeatureTypeEngineTests).</summary>
    public static readonly AggregationKind[] BuiltIn = [.. Enum.GetValues<AggregationKind>().Where(k => k != AggregationKind.Plugin)];

    public static TheoryData<AggregationKind> AllKinds => new(BuiltIn);

    [Theory]
    [MemberData(nameof(AllKinds))]
    public void Every_feature_equals_a_brute_force_computation_over_random_logs(AggregationKind kind)
    {
        for (var log = 0; log < LogsPerKind; log++)
        {
            var seed = (((int)kind + 1) * 1_000_003) + log;
            var random = new Random(seed);
            var view = RandomView(random, kind);
            var events = RandomLog(random);
            var state = new FeatureViewState(view);
            var oracle = new Oracle(view);
            foreach (var e in events)
            {
                Assert.True(oracle.Apply(e) == state.Apply(e), $"seed {seed}: outcome of {e.EventId} differs");
            }

            for (var q = 0; q < 8; q++)
            {
                var t = RandomQueryTime(random, state, view);
                for (var f = 0; f < view.Features.Count; f++)
                {
                    AssertSame(oracle.Read(f, t), state.Read(f, t), $"seed {seed}, feature {view.Features[f].Name} ({view.Features[f].Signature}), t={t}");
                }
            }
        }
    }

    [Fact]
    public void Snapshot_and_restore_mid_log_changes_nothing()
    {
        for (var log = 0; log < LogsPerKind; log++)
        {
            var seed = 77_000 + log;
            var random = new Random(seed);
            var view = RandomView(random, BuiltIn[random.Next(BuiltIn.Length)]);
            var events = RandomLog(random);
            var cut = random.Next(events.Count + 1);
            var straight = new FeatureViewState(view);
            var interrupted = new FeatureViewState(view);
            for (var i = 0; i < events.Count; i++)
            {
                if (i == cut)
                {
                    interrupted = RestoreEitherWay(view, interrupted, binary: log % 2 == 0);
                }

                Assert.True(straight.Apply(events[i]) == interrupted.Apply(events[i]), $"seed {seed}: outcome of event {i} differs");
            }

            for (var q = 0; q < 4; q++)
            {
                var t = RandomQueryTime(random, straight, view);
                for (var f = 0; f < view.Features.Count; f++)
                {
                    Assert.Equal(straight.Read(f, t), interrupted.Read(f, t));
                }
            }
        }
    }

    [Fact]
    public void Sealing_segments_and_restoring_from_main_plus_segments_changes_nothing()
    {
        for (var log = 0; log < LogsPerKind; log++)
        {
            var seed = 91_000 + log;
            var random = new Random(seed);
            var view = RandomView(random, BuiltIn[random.Next(BuiltIn.Length)]);
            var events = RandomLog(random);
            // Some runs cap the ids kept, so restores also meet a de-duplication horizon.
            var maxSeen = random.Next(3) == 0 ? random.Next(5, 40) : FeatureViewState.DefaultMaxSeenEvents;
            var straight = new FeatureViewState(view, maxSeen);
            var interrupted = new FeatureViewState(view, maxSeen);
            // What a grain keeps in storage: sealed segments (data, max event time) and the last main write.
            var segments = new List<(byte[] Data, long MaxTimestampMs)>();
            for (var i = 0; i < events.Count; i++)
            {
                if (random.Next(8) == 0)
                {
                    var data = interrupted.EncodeSeenSegment(out var count, out var maxTimestamp);
                    interrupted.SealOpenSeenEvents(count);
                    segments.Add((data, maxTimestamp));
                    segments.RemoveAll(s => s.MaxTimestampMs < interrupted.LatenessBound);
                }

                // Writes keep the open ids' encoding between them, so most writes continue on the same state and
                // only some restore from what was just written.
                if (random.Next(4) == 0)
                {
                    var main = new System.Buffers.ArrayBufferWriter<byte>();
                    interrupted.WriteTo(main);
                    if (random.Next(3) == 0)
                    {
                        interrupted = FeatureViewState.Restore(view, FeatureViewState.ReadSnapshot(main.WrittenSpan), [], maxSeen);
                        foreach (var segment in segments)
                        {
                            interrupted.AddSealedSeenEvents(FeatureViewState.ReadSeenSegment(segment.Data));
                        }
                    }
                }

                Assert.True(straight.Apply(events[i]) == interrupted.Apply(events[i]), $"seed {seed}: outcome of event {i} differs");
            }

            Assert.Equal(SeenIds(straight), SeenIds(interrupted));
            Assert.Equal((straight.Watermark, straight.DedupHorizon, straight.AcceptedCount, straight.DuplicateCount, straight.LateCount),
                (interrupted.Watermark, interrupted.DedupHorizon, interrupted.AcceptedCount, interrupted.DuplicateCount, interrupted.LateCount));
            for (var q = 0; q < 4; q++)
            {
                var t = RandomQueryTime(random, straight, view);
                for (var f = 0; f < view.Features.Count; f++)
                {
                    Assert.Equal(straight.Read(f, t), interrupted.Read(f, t));
                }
            }
        }
    }

    private static List<SeenId> SeenIds(FeatureViewState state) =>
        [.. state.ToSnapshot().SeenEvents.Where(e => e.TimestampMs >= state.LatenessBound).OrderBy(e => e.IdHash)];

    /// <summary>Half the logs go through the persisted binary form, half through the object snapshot.</summary>
    private static FeatureViewState RestoreEitherWay(CompiledFeatureView view, FeatureViewState state, bool binary)
    {
        if (!binary)
        {
            return FeatureViewState.Restore(view, state.ToSnapshot());
        }

        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        state.WriteTo(buffer);
        return FeatureViewState.Restore(view, FeatureViewState.ReadSnapshot(buffer.WrittenSpan));
    }

    private static void AssertSame(FeatureReading expected, FeatureReading actual, string context)
    {
        Assert.True(expected.Status == actual.Status, $"{context}: status {actual.Status}, expected {expected.Status}");
        Assert.True(expected.EventTimeMs == actual.EventTimeMs, $"{context}: event time {actual.EventTimeMs}, expected {expected.EventTimeMs}");
        if (expected.Value.Kind == ScalarKind.Double && actual.Value.Kind == ScalarKind.Double)
        {
            var e = expected.Value.AsDouble;
            var a = actual.Value.AsDouble;
            Assert.True(Math.Abs(e - a) <= 1e-9 * Math.Max(1, Math.Abs(e)), $"{context}: {a}, expected {e}");
            return;
        }

        Assert.True(expected.Value == actual.Value, $"{context}: {actual.Value} ({actual.Value.Kind}), expected {expected.Value} ({expected.Value.Kind})");
    }

    private static CompiledFeatureView RandomView(Random random, AggregationKind kind)
    {
        var features = new List<FeatureDefinition>();
        for (var i = 0; i < 3; i++)
        {
            var window = Windows[random.Next(Windows.Length)];
            TimeSpan? tile = random.Next(3) == 0 ? TimeSpan.FromSeconds(window.TotalSeconds / 4) : null;
            FilterExpression? where = random.Next(2) == 0 ? new FieldEquals("kind", Kinds[random.Next(Kinds.Length)]) : null;
            // first and count_distinct read any value: a string field, or the numeric one (where "n/a" also counts).
            var field = kind == AggregationKind.Latest || (kind.ReadsAnyValue() && random.Next(2) == 0) ? "tag" : "amount";
            // last_n: small lists (so that full tiles drop values) and large ones; features sharing a list keep the largest n.
            features.Add(Feature($"f{i}", kind, field, window, tile, where, lastN: LastNs[random.Next(LastNs.Length)]));
        }

        return View(Latenesses[random.Next(Latenesses.Length)], null, 1, [.. features]);
    }

    /// <summary>A random log: out of order, replays, late events, missing and non-numeric fields (also used by <see cref="PackedViewReaderTests"/>).</summary>
    internal static List<FeatureEvent> RandomLog(Random random)
    {
        var count = random.Next(1, 160);
        var span = (long)TimeSpan.FromHours(random.Next(2) == 0 ? 1 : 4).TotalMilliseconds;
        var events = new List<FeatureEvent>(count);
        var clock = Base;
        for (var i = 0; i < count; i++)
        {
            if (i > 0 && random.NextDouble() < 0.1)
            {
                events.Add(events[random.Next(events.Count)]); // a replay: same id, time and fields
                continue;
            }

            clock += random.Next(0, (int)(2 * span / count) + 1);
            var jitter = random.NextDouble() switch
            {
                < 0.6 => 0,
                < 0.9 => -random.Next(0, 120_000),        // a little out of order
                _ => -random.Next(0, (int)span),          // far behind: often late
            };
            double? amount = random.NextDouble() < 0.1 ? null : random.Next(-200, 200) * 0.25;
            var e = Event($"e{i}", clock + jitter, Kinds[random.Next(Kinds.Length)], amount, random.NextDouble() < 0.1 ? null : $"t{random.Next(5)}");
            if (random.NextDouble() < 0.03)
            {
                var fields = new Dictionary<string, ScalarValue>(e.Fields) { ["amount"] = ScalarValue.FromString("n/a") };
                e = e with { Fields = fields };
            }

            events.Add(e);
        }

        return events;
    }

    internal static long RandomQueryTime(Random random, FeatureViewState state, CompiledFeatureView view)
    {
        var bound = state.Watermark == long.MinValue ? Base : state.LatenessBound;
        var reach = (long)TimeSpan.FromHours(2).TotalMilliseconds + view.AllowedLatenessMs;
        return bound + (long)(random.NextDouble() * reach);
    }

    /// <summary>The brute force: keeps every accepted event and recomputes each reading from all of them.</summary>
    private sealed class Oracle(CompiledFeatureView view)
    {
        private readonly List<FeatureEvent> _accepted = [];
        private readonly HashSet<string> _ids = [];
        private long _watermark = long.MinValue;

        public ApplyOutcome Apply(FeatureEvent e)
        {
            if (_watermark != long.MinValue && e.TimestampMs < _watermark - view.AllowedLatenessMs)
            {
                return ApplyOutcome.Late;
            }

            if (!_ids.Add(e.EventId))
            {
                return ApplyOutcome.Duplicate;
            }

            _accepted.Add(e);
            _watermark = Math.Max(_watermark, e.TimestampMs);
            return ApplyOutcome.Accepted;
        }

        public FeatureReading Read(int index, long t)
        {
            if (_accepted.Count == 0)
            {
                return new FeatureReading(ScalarValue.Null, ReadingStatus.NotFound, 0);
            }

            var feature = view.Features[index];
            var matching = _accepted.Where(e => feature.Filter?.Evaluate(e.Fields) ?? true).ToList();
            if (feature.Aggregation == AggregationKind.Latest)
            {
                FeatureEvent? best = null;
                foreach (var e in matching)
                {
                    if (e.Fields.TryGetValue("tag", out var v) && !v.IsNull && (best is null || e.TimestampMs >= best.TimestampMs))
                    {
                        best = e;
                    }
                }

                return best is null
                    ? new FeatureReading(ScalarValue.Null, ReadingStatus.NotFound, 0)
                    : new FeatureReading(best.Fields["tag"], ReadingStatus.Present, best.TimestampMs);
            }

            var high = Floor(t, feature.TileMs);
            var low = high - feature.TilesPerWindow + 1;
            var inWindow = matching.Where(e => Floor(e.TimestampMs, feature.TileMs) >= low && Floor(e.TimestampMs, feature.TileMs) <= high).ToList();
            if (feature.Aggregation.ReadsAnyValue())
            {
                var field = feature.Field!;
                var withValue = inWindow.Where(e => e.Fields.TryGetValue(field, out var v) && !v.IsNull).ToList();
                var newestValue = withValue.Count == 0 ? 0 : withValue.Max(e => e.TimestampMs);
                if (feature.Aggregation == AggregationKind.LastN)
                {
                    // The last n by event time, ties in the order accepted (a stable sort of the accepted order), newest first.
                    var last = withValue.OrderBy(e => e.TimestampMs).TakeLast(feature.LastN).Reverse().Select(e => e.Fields[field]).ToArray();
                    return new FeatureReading(ScalarValue.FromList(last), ReadingStatus.Present, newestValue);
                }

                if (feature.Aggregation == AggregationKind.CountDistinct)
                {
                    // Logs here stay under the sketch's exact limit (512), so the count is exact.
                    var distinct = withValue.Select(e => e.Fields[field]).Distinct().Count();
                    return new FeatureReading(ScalarValue.FromInt64(distinct), ReadingStatus.Present, newestValue);
                }

                // first: the smallest event time; on a tie the first accepted.
                FeatureEvent? earliest = null;
                foreach (var e in withValue)
                {
                    if (earliest is null || e.TimestampMs < earliest.TimestampMs)
                    {
                        earliest = e;
                    }
                }

                return earliest is null
                    ? new FeatureReading(ScalarValue.Null, ReadingStatus.NotFound, 0)
                    : new FeatureReading(earliest.Fields[field], ReadingStatus.Present, newestValue);
            }

            if (feature.Aggregation != AggregationKind.Count)
            {
                inWindow = inWindow.Where(e => e.Fields.TryGetValue("amount", out var v) && v.Kind == ScalarKind.Double).ToList();
            }

            var values = inWindow.Select(e => feature.Aggregation == AggregationKind.Count ? 0 : e.Fields["amount"].AsDouble).ToList();
            var newest = inWindow.Count == 0 ? 0 : inWindow.Max(e => e.TimestampMs);
            return feature.Aggregation switch
            {
                AggregationKind.Count => new FeatureReading(ScalarValue.FromInt64(inWindow.Count), ReadingStatus.Present, newest),
                AggregationKind.Sum => new FeatureReading(ScalarValue.FromDouble(values.Sum()), ReadingStatus.Present, newest),
                _ when values.Count == 0 => new FeatureReading(ScalarValue.Null, ReadingStatus.NotFound, 0),
                AggregationKind.Mean => new FeatureReading(ScalarValue.FromDouble(values.Average()), ReadingStatus.Present, newest),
                AggregationKind.Min => new FeatureReading(ScalarValue.FromDouble(values.Min()), ReadingStatus.Present, newest),
                AggregationKind.Max => new FeatureReading(ScalarValue.FromDouble(values.Max()), ReadingStatus.Present, newest),
                AggregationKind.Variance => new FeatureReading(ScalarValue.FromDouble(PopulationVariance(values)), ReadingStatus.Present, newest),
                AggregationKind.Stddev => new FeatureReading(ScalarValue.FromDouble(Math.Sqrt(PopulationVariance(values))), ReadingStatus.Present, newest),
                _ => throw new InvalidOperationException($"no brute force for {feature.Aggregation}"),
            };
        }

        /// <summary>Two passes, in full: the textbook definition, not the engine's streaming form.</summary>
        private static double PopulationVariance(List<double> values)
        {
            var mean = values.Average();
            return values.Sum(v => (v - mean) * (v - mean)) / values.Count;
        }

        private static long Floor(long value, long divisor) => (long)Math.Floor((double)value / divisor);
    }
}
