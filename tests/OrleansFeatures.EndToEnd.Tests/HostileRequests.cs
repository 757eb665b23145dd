using System.Globalization;
using System.Text;
using Google.Protobuf;
using OrleansFeatures.V1;
using Timestamp = Google.Protobuf.WellKnownTypes.Timestamp;

namespace OrleansFeatures.EndToEnd.Tests;

/// <summary>One hostile request: the RPC, the raw body, and what kind of hostility it carries (for the report).</summary>
internal sealed record HostileRequest(string Service, string Method, byte[] Body, string Kind);

/// <summary>
/// Builds hostile requests for every RPC of <c>gateway/Protos</c> from a seeded <see cref="Random"/>: random bytes,
/// mutated valid messages, and well-formed messages full of hostile values (huge, deeply nested, non-finite,
/// out-of-range, control characters). Request <c>i</c> depends only on the seed and <c>i</c>, so a failure
/// reproduces on its own. Nothing built here can change the registry or the neighbour entity <c>n1</c>.
/// </summary>
internal static class HostileRequests
{
    public const string Serving = "orleansfeatures.v1.FeatureServing";
    public const string Ingestion = "orleansfeatures.v1.FeatureIngestion";
    public const string Registry = "orleansfeatures.v1.FeatureRegistry";

    public static readonly (string Service, string Method)[] Rpcs =
    [
        (Serving, "GetOnlineFeatures"),
        (Serving, "GetInferenceInputs"),
        (Ingestion, "PushEvents"),
        (Registry, "ApplyDefinitions"),
        (Registry, "ListDefinitions"),
        (Registry, "GetDefinitions"),
        (Registry, "GetFeatureView"),
        (Registry, "GetFeatureService"),
    ];

    // A view over a source no document declares: any apply that carries it is refused as a whole.
    private const string Poison = """
        feature_views:
          - name: hostile_poison
            source: no_such_source_anywhere
            features:
              - { name: c, aggregation: count, window: 1h }
        """;

    // expected_version = 0 (field 2, varint): appended last it wins, and the registry (at version 1) refuses it.
    private static readonly byte[] StaleVersion = [0x10, 0x00];

    private static readonly double[] HostileDoubles =
    [
        double.NaN, double.PositiveInfinity, double.NegativeInfinity, double.MaxValue, double.MinValue, double.Epsilon, -0.0, 1e308,
    ];

    private static readonly long[] HostileSeconds = [long.MinValue, long.MaxValue, -62_135_596_801, 253_402_300_800, 0, -1, 4_102_444_800];

    private static readonly int[] HostileNanos = [-5, 2_000_000_000, int.MaxValue, int.MinValue, 999_999_999];

    public static HostileRequest Build(int seed, int index, bool allowOversized)
    {
        var random = new Random(unchecked((seed * 1_000_003) + index));
        var (service, method) = Rpcs[random.Next(Rpcs.Length)];
        var roll = random.Next(100);
        if (allowOversized && roll == 0)
        {
            // Beyond FeatureStore:Limits:MaxReceiveMessageBytes (16 MiB).
            var request = new GetFeatureViewRequest { Name = new string('o', 17 * 1024 * 1024) };
            return Finish(service, method, request.ToByteArray(), "oversized 17 MiB");
        }

        if (roll < 20)
        {
            var bytes = new byte[random.Next(0, 4096)];
            random.NextBytes(bytes);
            return Finish(service, method, bytes, "random bytes");
        }

        var message = Structured(random, method, hostile: roll >= 45);
        if (roll < 45)
        {
            return Finish(service, method, Mutate(random, message.ToByteArray()), "mutated " + message.Descriptor.Name);
        }

        return Finish(service, method, message.ToByteArray(), "hostile " + message.Descriptor.Name);
    }

    private static HostileRequest Finish(string service, string method, byte[] body, string kind) =>
        new(service, method, method == "ApplyDefinitions" && !kind.StartsWith("hostile", StringComparison.Ordinal) ? [.. body, .. StaleVersion] : body, kind);

    private static byte[] Mutate(Random random, byte[] valid)
    {
        var bytes = new List<byte>(valid);
        var edits = random.Next(1, 6);
        for (var edit = 0; edit < edits && bytes.Count > 0; edit++)
        {
            var at = random.Next(bytes.Count);
            switch (random.Next(5))
            {
                case 0: bytes[at] = (byte)random.Next(256); break;
                case 1: bytes.RemoveRange(at, bytes.Count - at); break;
                case 2: bytes.InsertRange(at, [0xFF, 0xFF, 0xFF, 0xFF, 0x0F]); break; // a huge length or varint
                case 3: bytes.Insert(at, (byte)random.Next(256)); break;
                default: bytes.InsertRange(at, [0x0A, (byte)random.Next(128)]); break; // a field 1 header with a short length
            }
        }

        return [.. bytes];
    }

    private static IMessage Structured(Random random, string method, bool hostile) => method switch
    {
        "GetOnlineFeatures" => Lookup(random, hostile),
        "GetInferenceInputs" => Inference(random, hostile),
        "PushEvents" => Push(random, hostile),
        "ApplyDefinitions" => Apply(random, hostile, poisoned: true),
        "GetFeatureView" => new GetFeatureViewRequest { Name = hostile ? Text(random) : "user_plays" },
        "GetFeatureService" => new GetFeatureServiceRequest { Name = hostile ? Text(random) : "ranker" },
        "ListDefinitions" => new ListDefinitionsRequest(),
        _ => new GetDefinitionsRequest(),
    };

    private static GetInferenceInputsRequest Inference(Random random, bool hostile)
    {
        var request = new GetInferenceInputsRequest { FeatureService = hostile && random.Next(3) == 0 ? Text(random) : "ranker" };
        var columns = hostile ? random.Next(0, 4) : 1;
        for (var c = 0; c < columns; c++)
        {
            var column = new EntityKeyColumn { EntityType = hostile && random.Next(3) == 0 ? Text(random) : "user" };
            var ids = hostile ? random.Next(4) switch { 0 => 0, 1 => 1_001, _ => random.Next(1, 50) } : random.Next(1, 10);
            for (var i = 0; i < ids; i++)
            {
                column.Ids.Add(hostile && random.Next(4) == 0 ? Text(random) : $"h{random.Next(1000)}");
            }

            request.Entities.Add(column);
        }

        if (hostile && random.Next(3) == 0)
        {
            request.RequestFields.Add(new RequestFieldColumn { Name = Text(random), Values = { new Value { DoubleValue = HostileDoubles[random.Next(HostileDoubles.Length)] } } });
        }

        return request;
    }

    private static GetOnlineFeaturesRequest Lookup(Random random, bool hostile)
    {
        var request = new GetOnlineFeaturesRequest { EntityType = hostile && random.Next(3) == 0 ? Text(random) : "user" };
        var ids = hostile ? random.Next(4) switch { 0 => 0, 1 => 1_001, _ => random.Next(1, 50) } : random.Next(1, 10);
        for (var i = 0; i < ids; i++)
        {
            request.EntityIds.Add(hostile && random.Next(4) == 0 ? Text(random) : $"h{random.Next(1000)}");
        }

        if (random.Next(2) == 0)
        {
            request.FeatureService = hostile && random.Next(2) == 0 ? Text(random) : "ranker";
        }

        var features = hostile ? random.Next(0, random.Next(3) == 0 ? 1_100 : 5) : random.Next(0, 3);
        for (var i = 0; i < features; i++)
        {
            (request.Features ??= new()).References.Add(random.Next(3) switch
            {
                0 => "user_plays:plays_1h",
                1 => "user_plays:" + Text(random),
                _ => Text(random),
            });
        }

        return request;
    }

    private static PushEventsRequest Push(Random random, bool hostile)
    {
        var request = new PushEventsRequest { Source = hostile && random.Next(8) == 0 ? Text(random) : "plays" };
        var count = hostile && random.Next(20) == 0 ? 10_001 : random.Next(hostile ? 0 : 1, 20);
        var now = DateTimeOffset.UtcNow;
        for (var i = 0; i < count; i++)
        {
            var e = new Event { EventId = hostile && random.Next(6) == 0 ? Text(random) : $"x{random.NextInt64():x}" };
            if (hostile && random.Next(3) == 0)
            {
                e.EventTime = new Timestamp { Seconds = Pick(random, HostileSeconds), Nanos = Pick(random, HostileNanos) };
            }
            else if (random.Next(8) != 0)
            {
                e.EventTime = Timestamp.FromDateTimeOffset(now.AddSeconds(-random.Next(3600)));
            }

            var user = hostile && random.Next(4) == 0 ? Text(random) : $"h{random.Next(1000)}";
            e.Fields["user_id"] = new Value { StringValue = user == "n1" ? "h1" : user };
            e.Fields["sport"] = new Value { StringValue = hostile && random.Next(5) == 0 ? Text(random) : "golf" };
            e.Fields["kind"] = hostile && random.Next(6) == 0 ? new Value { Int64Value = long.MinValue } : new Value { StringValue = "view" };
            e.Fields["seconds"] = hostile && random.Next(2) == 0 ? new Value { DoubleValue = Pick(random, HostileDoubles) } : new Value { DoubleValue = random.NextDouble() };
            if (hostile && random.Next(5) == 0)
            {
                e.Fields[Text(random)] = new Value { StringValue = Text(random) };
            }

            request.Events.Add(e);
        }

        return request;
    }

    private static ApplyDefinitionsRequest Apply(Random random, bool hostile, bool poisoned)
    {
        var request = new ApplyDefinitionsRequest();
        request.Documents.Add(new DefinitionDocument { Name = "plays.yaml", Yaml = E2EDefinitions.Yaml });
        if (hostile)
        {
            request.Documents.Add(new DefinitionDocument { Name = random.Next(10) == 0 ? Text(random) : "hostile.yaml", Yaml = HostileYaml(random) });
        }

        if (poisoned || random.Next(2) == 0)
        {
            request.Documents.Add(new DefinitionDocument { Name = "poison.yaml", Yaml = Poison });
        }

        // Half of them dry runs: the checks are the same, and a dry run never reaches the registry grain.
        request.ValidateOnly = random.Next(2) == 0;

        return request;
    }

    private static string HostileYaml(Random random)
    {
        // Deep and large documents cost the most (a 1 MB document takes up to a second): rarer and smaller.
        var depth = random.Next(3) == 0 ? random.Next(60, 20_000) : random.Next(1, 80);
        return random.Next(9) switch
        {
            0 => "a: " + new string('[', depth) + new string(']', depth),
            1 => "a: " + new string('{', depth) + new string('}', depth),
            2 => string.Concat(Enumerable.Range(0, Math.Min(depth, 200)).Select(i => new string(' ', i * 2) + $"k{i}:\n")),
            3 => BillionLaughs(random.Next(3, 12)),
            4 => E2EDefinitions.Yaml.Replace("kind == 'click'", Filter(random, depth), StringComparison.Ordinal),
            5 => E2EDefinitions.Yaml.Replace("seconds_24h", Text(random).Replace("\"", "", StringComparison.Ordinal), StringComparison.Ordinal),
            6 => new string('x', random.Next(2) == 0 ? 1_048_577 : random.Next(1, 100_000)),
            7 => "entity: " + Text(random) + "\nkey: [" + Text(random),
            _ => Encoding.UTF8.GetString(RandomBytes(random, random.Next(1, 2_000))),
        };
    }

    private static string Filter(Random random, int depth) => random.Next(3) switch
    {
        0 => new string('(', depth) + "kind == 'click'" + new string(')', depth),
        1 => string.Concat(Enumerable.Repeat("not ", depth)) + "kind == 'click'",
        _ => string.Join(" or ", Enumerable.Repeat("kind == 'click'", depth)),
    };

    private static string BillionLaughs(int levels)
    {
        var yaml = new StringBuilder("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for (var i = 1; i < levels; i++)
        {
            var previous = string.Join(", ", Enumerable.Repeat($"*a{i - 1}", 10));
            yaml.Append(CultureInfo.InvariantCulture, $"a{i}: &a{i} [{previous}]\n");
        }

        return yaml.ToString();
    }

    private static string Text(Random random) => random.Next(10) switch
    {
        0 => "",
        1 => new string('x', random.Next(257, 300_000)),
        2 => string.Concat(Enumerable.Range(0, random.Next(1, 300)).Select(_ => (char)random.Next(0, 32))),
        3 => "{0}{1}%s%n%x\"'\\`${}<script>",
        4 => "../../../../etc/passwd\0",
        5 => string.Concat(Enumerable.Range(0, random.Next(1, 200)).Select(_ => char.ConvertFromUtf32(random.Next(0x1F600, 0x1F650)))),
        6 => "\u202E\uFEFF\u200Bname\uFFFF",
        7 => "user_plays:plays_1h:extra:" + new string(':', random.Next(1, 1000)),
        _ => $"h{random.Next(1000)}",
    };

    private static byte[] RandomBytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }

    private static T Pick<T>(Random random, T[] values) => values[random.Next(values.Length)];
}
