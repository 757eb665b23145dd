using System.Buffers;
using System.Text.RegularExpressions;

namespace OrleansFeatures.Sdk.Testing;

/// <summary>A feature type broke a promise of its contract; the message names the check and the events that show it.</summary>
public sealed class FeatureTypeConformanceException(string message) : Exception(message);

/// <summary>How <see cref="FeatureTypeConformance.Check"/> exercises a type.</summary>
public sealed class ConformanceOptions
{
    /// <summary>Seed of the random event logs: a failure names it, and the same seed repeats the failure.</summary>
    public int Seed { get; init; } = 26;

    /// <summary>Random event logs per check.</summary>
    public int Logs { get; init; } = 300;

    /// <summary>Events in one log, at most.</summary>
    public int MaxEventsPerLog { get; init; } = 60;

    /// <summary>Events applied to one tile by the bounded-size check.</summary>
    public int BoundedEvents { get; init; } = 20_000;

    /// <summary>
    /// Relative tolerance when a merge of tiles is compared with one tile holding every event, or events applied in
    /// another order: a double summed in another order may differ in its last bits. Online and offline apply a tile's
    /// events in the same (arrival) order and merge the same tiles, so they agree exactly whatever this is.
    /// </summary>
    public double Tolerance { get; init; } = 1e-9;

    /// <summary>The field values events carry; by default integers and decimals of either sign (numbers) or mixed kinds (values).</summary>
    public Func<Random, FeatureValue>? Values { get; init; }
}

/// <summary>
/// The conformance kit every feature type runs in its own tests (<c>FeatureTypeConformance.Check(new MyType())</c>):
/// its name and version, the serialization round trip, determinism, merge consistency (one tile holding every event
/// reads as the time-ordered merge of per-tile parts; for an order-free type any partition and merge order; the
/// arrival order within a tile never matters), readings of the declared kind, and a state size that stays within
/// <see cref="IFeatureType.MaxStateBytes"/> however many events a tile or a window holds. It throws
/// <see cref="FeatureTypeConformanceException"/> at the first broken promise; it needs no test framework.
/// </summary>
public static partial class FeatureTypeConformance
{
    private const long TileMs = 1_000;
    private const int TilesPerLog = 8;

    [GeneratedRegex("^[a-z][a-z0-9_]{0,63}$")]
    private static partial Regex NamePattern();

    /// <summary>Runs every check against <paramref name="type"/>.</summary>
    public static void Check(IFeatureType type, ConformanceOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(type);
        options ??= new ConformanceOptions();
        CheckIdentity(type);
        var random = new Random(options.Seed);
        var values = options.Values ?? DefaultValues(type.Input);
        for (var log = 0; log < options.Logs; log++)
        {
            var events = RandomLog(random, values, options.MaxEventsPerLog);
            var context = $"log {log} (seed {options.Seed}, {events.Count} events)";
            CheckRoundTrip(type, events, context);
            CheckDeterminism(type, events, context);
            CheckMergeConsistency(type, events, random, options, context);
        }

        CheckBounded(type, values, options);
    }

    private static void CheckIdentity(IFeatureType type)
    {
        if (!NamePattern().IsMatch(type.Name ?? ""))
        {
            Fail($"name '{type.Name}' must be lower-case letters, digits and '_', starting with a letter, at most 64 characters");
        }

        if (type.Version < 1)
        {
            Fail($"{type.Name}: version {type.Version} must be 1 or more");
        }

        if (type.ValueKind == FeatureValueKind.Missing || !Enum.IsDefined(type.ValueKind))
        {
            Fail($"{Id(type)}: value kind {type.ValueKind} must be Int64, Double, String or Bool");
        }

        if (type.MaxStateBytes <= 0)
        {
            Fail($"{Id(type)}: MaxStateBytes {type.MaxStateBytes} must be positive");
        }
    }

    private static void CheckRoundTrip(IFeatureType type, List<Event> events, string context)
    {
        var tile = Applied(type, events);
        var bytes = Bytes(type, tile);
        object read;
        try
        {
            read = type.ReadTile(bytes, type.StateFormat);
        }
        catch (Exception exception) when (exception is not FeatureTypeConformanceException)
        {
            throw new FeatureTypeConformanceException($"{Id(type)} round trip, {context}: ReadTile of its own {bytes.Length} bytes threw {exception.GetType().Name}: {exception.Message}");
        }

        var again = Bytes(type, read);
        if (!bytes.AsSpan().SequenceEqual(again))
        {
            Fail($"{Id(type)} round trip, {context}: a tile read back writes {again.Length} different bytes from the {bytes.Length} it was read from");
        }

        Same(type, ReadWindow(type, tile), ReadWindow(type, read), 0, $"round trip, {context}: the tile read back reads differently");
        Same(type, type.Read(tile), type.Read(read), 0, $"round trip, {context}: the tile read back reads differently on its own");
    }

    private static void CheckDeterminism(IFeatureType type, List<Event> events, string context)
    {
        var first = Applied(type, events);
        var second = Applied(type, events);
        var bytes = Bytes(type, first);
        if (!bytes.AsSpan().SequenceEqual(Bytes(type, second)))
        {
            Fail($"{Id(type)} determinism, {context}: the same events applied to two new tiles write different bytes");
        }

        var reading = ReadWindow(type, first);
        Same(type, reading, ReadWindow(type, second), 0, $"determinism, {context}: the same events read differently");
        Same(type, reading, ReadWindow(type, first), 0, $"determinism, {context}: reading the same window twice gives two values");
        if (!bytes.AsSpan().SequenceEqual(Bytes(type, first)))
        {
            Fail($"{Id(type)} determinism, {context}: reading or merging a tile changed it");
        }

        if (!reading.IsMissing && reading.Kind != type.ValueKind)
        {
            Fail($"{Id(type)}, {context}: read a {reading.Kind} value; the type declares {type.ValueKind}");
        }

        if (reading.Kind == FeatureValueKind.Double && !double.IsFinite(reading.AsDouble))
        {
            Fail($"{Id(type)}, {context}: read {reading}; a served double must be finite (serve Missing instead)");
        }
    }

    private static void CheckMergeConsistency(IFeatureType type, List<Event> events, Random random, ConformanceOptions options, string context)
    {
        var all = ReadWindow(type, Applied(type, events));

        // Event-time order: the arrival order within a tile must not matter (times are distinct in a log).
        var byTime = events.OrderBy(e => e.TimeMs).ToList();
        Same(type, all, ReadWindow(type, Applied(type, byTime)), options.Tolerance, $"arrival order, {context}: the same events applied in event-time order read differently");

        // Per-tile parts merged in time order, as the engine reads a window.
        var parts = new List<Event>[TilesPerLog];
        for (var t = 0; t < TilesPerLog; t++)
        {
            parts[t] = [];
        }

        foreach (var e in events)
        {
            parts[e.TimeMs / TileMs].Add(e);
        }

        var tiles = parts.Where(p => p.Count > 0).Select(p => Applied(type, p)).ToList();
        Same(type, all, Merged(type, tiles), options.Tolerance, $"merge consistency, {context}: the merge of its {tiles.Count} tiles in time order reads differently from one tile holding every event");
        if (type.OrderMatters)
        {
            return;
        }

        // An order-free type: any partition, merged in any order.
        var shuffled = tiles.OrderBy(_ => random.Next()).ToList();
        Same(type, all, Merged(type, shuffled), options.Tolerance, $"merge order, {context}: the type says order does not matter, but merging its tiles out of time order reads differently");
        var groups = random.Next(1, 5);
        var scattered = Enumerable.Range(0, groups).Select(_ => new List<Event>()).ToList();
        foreach (var e in events)
        {
            scattered[random.Next(groups)].Add(e);
        }

        Same(type, all, Merged(type, [.. scattered.Where(g => g.Count > 0).Select(g => Applied(type, g))]), options.Tolerance,
            $"merge consistency, {context}: the type says order does not matter, but parts split across times merge differently");
    }

    private static void CheckBounded(IFeatureType type, Func<Random, FeatureValue> values, ConformanceOptions options)
    {
        var random = new Random(options.Seed + 1);
        var tile = type.NewTile();
        for (var i = 0; i < options.BoundedEvents; i++)
        {
            type.Apply(tile, values(random), i);
        }

        var size = Bytes(type, tile).Length;
        if (size > type.MaxStateBytes)
        {
            Fail($"{Id(type)} bounded state: a tile of {options.BoundedEvents} events writes {size} bytes, more than MaxStateBytes {type.MaxStateBytes}");
        }

        var window = type.NewTile();
        for (var t = 0; t < 32; t++)
        {
            var part = type.NewTile();
            for (var i = 0; i < options.BoundedEvents / 32; i++)
            {
                type.Apply(part, values(random), (t * 1_000_000L) + i);
            }

            type.Merge(window, part);
        }

        size = Bytes(type, window).Length;
        if (size > type.MaxStateBytes)
        {
            Fail($"{Id(type)} bounded state: a window of 32 merged tiles writes {size} bytes, more than MaxStateBytes {type.MaxStateBytes}");
        }
    }

    private static List<Event> RandomLog(Random random, Func<Random, FeatureValue> values, int maxEvents)
    {
        var count = random.Next(1, maxEvents + 1);
        var times = new HashSet<long>();
        var events = new List<Event>(count);
        while (events.Count < count)
        {
            var time = random.NextInt64(TilesPerLog * TileMs);
            if (times.Add(time))
            {
                events.Add(new Event(values(random), time));
            }
        }

        return events;
    }

    private static Func<Random, FeatureValue> DefaultValues(FeatureInput input) => input == FeatureInput.Numbers
        ? static random => random.Next(2) == 0 ? FeatureValue.FromInt64(random.Next(-1_000, 1_000)) : FeatureValue.FromDouble(Math.Round((random.NextDouble() - 0.5) * 2_000, 3))
        : static random => random.Next(4) switch
        {
            0 => FeatureValue.FromInt64(random.Next(-50, 50)),
            1 => FeatureValue.FromDouble(random.Next(-50, 50) / 4.0),
            2 => FeatureValue.FromBool(random.Next(2) == 0),
            _ => FeatureValue.FromString($"v{random.Next(100)}"),
        };

    private static object Applied(IFeatureType type, IEnumerable<Event> events)
    {
        var tile = type.NewTile();
        foreach (var e in events)
        {
            type.Apply(tile, e.Value, e.TimeMs);
        }

        return tile;
    }

    private static FeatureValue Merged(IFeatureType type, List<object> tiles)
    {
        var window = type.NewTile();
        foreach (var tile in tiles)
        {
            type.Merge(window, tile);
        }

        return type.Read(window);
    }

    private static FeatureValue ReadWindow(IFeatureType type, object tile) => Merged(type, [tile]);

    private static byte[] Bytes(IFeatureType type, object tile)
    {
        var buffer = new ArrayBufferWriter<byte>();
        type.Write(tile, buffer);
        return buffer.WrittenSpan.ToArray();
    }

    private static void Same(IFeatureType type, FeatureValue expected, FeatureValue actual, double tolerance, string what)
    {
        var same = expected.Kind == actual.Kind && (expected.Equals(actual)
            || (expected.Kind == FeatureValueKind.Double
                && Math.Abs(expected.AsDouble - actual.AsDouble) <= tolerance * Math.Max(1, Math.Max(Math.Abs(expected.AsDouble), Math.Abs(actual.AsDouble)))));
        if (!same)
        {
            Fail($"{Id(type)} {what}: expected {expected} ({expected.Kind}), read {actual} ({actual.Kind})");
        }
    }

    private static string Id(IFeatureType type) => $"{type.Name}@{type.Version}";

    private static void Fail(string message) => throw new FeatureTypeConformanceException(message);

    private readonly record struct Event(FeatureValue Value, long TimeMs);
}
