using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using OrleansFeatures.Core.Definitions;
using OrleansFeatures.Core.Engine;
using OrleansFeatures.Core.Events;

/// <summary>
/// Engine only, in this process: the cost of applying events to a view of one windowed feature, per aggregation,
/// against <c>sum</c> of the same field run in the same rounds (interleaved, so the machine's noise hits all alike).
/// Prints ns and bytes allocated per event, heap and packed bytes per entity state, and the ratios to sum.
/// <c>aggregations [--entities N] [--events-per-entity N] [--rounds N]</c>.
/// </summary>
internal static class AggregationCostBenchmark
{
    private const long T0 = 1_800_000_000_000;

    private static readonly (string Name, AggregationKind Kind, string Field)[] Cases =
    [
        ("sum (baseline)", AggregationKind.Sum, "seconds"),
        ("mean", AggregationKind.Mean, "seconds"),
        ("variance", AggregationKind.Variance, "seconds"),
        ("first (string)", AggregationKind.First, "content"),
        ("count_distinct (string)", AggregationKind.CountDistinct, "content"),
        ("last_n n=10 (string)", AggregationKind.LastN, "content"),

        // A C# feature type (examples/feature-types/Momentum): the last ten numbers of a tile kept in time order, the
        // built-in of similar work being variance (a small update of the tile's numbers per event).
        ("momentum@1 (C# type)", AggregationKind.Plugin, "seconds"),
    ];

    private static readonly FeatureTypeCatalog FeatureTypes = new([new SportsMedia.FeatureTypes.MomentumFeatureType()]);

    public static Task RunAsync(string[] args)
    {
        var entities = Option(args, "--entities", 2_000);
        var eventsPerEntity = Option(args, "--events-per-entity", 200);
        var rounds = Option(args, "--rounds", 5);
        var source = new SourceDefinition("plays", "ts", "event_id",
            new Dictionary<string, ScalarKind> { ["user_id"] = ScalarKind.String, ["content"] = ScalarKind.String, ["seconds"] = ScalarKind.Double },
            SourceLocation.None);
        var views = Cases.Select(c => new CompiledFeatureView(new FeatureViewDefinition(
            "v", 1, "user", source, "user_id", null, TimeSpan.FromMinutes(10),
            [new FeatureDefinition("f", c.Kind switch
                {
                    AggregationKind.CountDistinct => ScalarKind.Int64,
                    AggregationKind.First => ScalarKind.String,
                    AggregationKind.LastN => ScalarKind.List,
                    _ => ScalarKind.Double,
                },
                c.Kind, c.Field, TimeSpan.FromHours(1), TimeSpan.FromMinutes(1), null, SourceLocation.None,
                c.Kind == AggregationKind.Plugin ? "momentum@1" : null)
            {
                LastN = c.Kind == AggregationKind.LastN ? 10 : 0,
                ElementType = ScalarKind.String,
            }],
            SourceLocation.None), FeatureTypes)).ToArray();

        // One event log for every case: 200 plays per user over an hour, 50 distinct contents per user.
        var random = new Random(26);
        var events = new FeatureEvent[entities * eventsPerEntity];
        for (var i = 0; i < events.Length; i++)
        {
            var fields = new Dictionary<string, ScalarValue>(StringComparer.Ordinal)
            {
                ["user_id"] = ScalarValue.FromString($"u{i / eventsPerEntity}"),
                ["content"] = ScalarValue.FromString($"content-{random.Next(50)}"),
                ["seconds"] = ScalarValue.FromDouble(random.Next(1, 3_600) / 4.0),
            };
            events[i] = new FeatureEvent($"e{i}", T0 + (i % eventsPerEntity * 18_000L), fields);
        }

        var nanos = new double[Cases.Length];
        var bytes = new double[Cases.Length];
        var heap = new double[Cases.Length];
        var packed = new double[Cases.Length];
        for (var round = 0; round < rounds; round++)
        {
            for (var c = 0; c < Cases.Length; c++)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
                GC.Collect();
                var heapBefore = GC.GetTotalMemory(forceFullCollection: true);
                var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
                var clock = Stopwatch.StartNew();
                var states = new FeatureViewState[entities];
                for (var e = 0; e < entities; e++)
                {
                    var state = new FeatureViewState(views[c]);
                    for (var k = 0; k < eventsPerEntity; k++)
                    {
                        state.Apply(events[(e * eventsPerEntity) + k]);
                    }

                    states[e] = state;
                }

                var elapsed = clock.Elapsed;
                var allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
                var heapAfter = GC.GetTotalMemory(forceFullCollection: true);
                var buffer = new ArrayBufferWriter<byte>();
                long packedBytes = 0;
                foreach (var state in states)
                {
                    buffer.Clear();
                    state.WriteTo(buffer);
                    packedBytes += buffer.WrittenCount;
                }

                if (round > 0)
                {
                    // Round 0 warms the JIT; it is not counted.
                    nanos[c] += elapsed.TotalNanoseconds / events.Length;
                    bytes[c] += (double)allocated / events.Length;
                    heap[c] += (double)(heapAfter - heapBefore) / entities;
                    packed[c] += (double)packedBytes / entities;
                }

                GC.KeepAlive(states);
            }
        }

        var counted = Math.Max(1, rounds - 1);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{entities:N0} entities x {eventsPerEntity} events (1h window, 1m tiles, 50 distinct contents each), {counted} rounds after one warm-up, load average {LoadAverage()}"));
        Console.WriteLine($"  {"aggregation",-26} {"ns/event",9} {"x sum",6} {"B/event",8} {"heap B/state",13} {"packed B/state",15}");
        for (var c = 0; c < Cases.Length; c++)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {Cases[c].Name,-26} {nanos[c] / counted,9:0} {nanos[c] / nanos[0],6:0.00} {bytes[c] / counted,8:0} {heap[c] / counted,13:0} {packed[c] / counted,15:0}"));
        }

        var variance = Array.FindIndex(Cases, c => c.Kind == AggregationKind.Variance);
        var momentum = Array.FindIndex(Cases, c => c.Kind == AggregationKind.Plugin);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  momentum@1 / variance (a built-in of similar work): {nanos[momentum] / nanos[variance]:0.00}x ns/event, {bytes[momentum] / Math.Max(1, bytes[variance]):0.00}x B/event"));
        return Task.CompletedTask;
    }

    private static int Option(string[] args, string name, int fallback)
    {
        var at = Array.IndexOf(args, name);
        return at >= 0 && at + 1 < args.Length ? int.Parse(args[at + 1], CultureInfo.InvariantCulture) : fallback;
    }

    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "n/a";
}
