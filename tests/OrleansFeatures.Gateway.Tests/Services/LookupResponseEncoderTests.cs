using Google.Protobuf;
using OrleansFeatures.Core.Engine;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Gateway.Services;

namespace OrleansFeatures.Gateway.Tests.Services;

public sealed class LookupResponseEncoderTests
{
    private static readonly ScalarValue[] Scalars =
    [
        ScalarValue.Null,
        ScalarValue.FromInt64(0), ScalarValue.FromInt64(1), ScalarValue.FromInt64(-1), ScalarValue.FromInt64(long.MaxValue),
        ScalarValue.FromInt64(long.MinValue), ScalarValue.FromInt64(300),
        ScalarValue.FromDouble(0), ScalarValue.FromDouble(-0.0), ScalarValue.FromDouble(double.NaN), ScalarValue.FromDouble(1.5e300),
        ScalarValue.FromDouble(double.NegativeInfinity),
        ScalarValue.FromString(""), ScalarValue.FromString("football"), ScalarValue.FromString("é⚽😀"), ScalarValue.FromString(new string('x', 300)),
        ScalarValue.FromBool(false), ScalarValue.FromBool(true),
    ];

    private static readonly long[] Times = [0, 1, 999, 1_000, 1_765_000_000_123, 253_402_300_799_999];

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public void An_encoded_answer_is_byte_for_byte_the_generated_message(int seed)
    {
        var random = new Random(seed);
        for (var round = 0; round < 200; round++)
        {
            var width = random.Next(1, 25);
            var names = new string[width];
            var defaults = new ScalarValue?[width];
            for (var f = 0; f < width; f++)
            {
                names[f] = random.Next(10) == 0 ? $"vue_{f}:é{f}" : $"view_{f % 3}:feature_{f}";
                defaults[f] = random.Next(3) == 0 ? Scalars[random.Next(Scalars.Length)] : null;
            }

            var ids = new string[random.Next(1, 4)];
            for (var i = 0; i < ids.Length; i++)
            {
                ids[i] = random.Next(5) == 0 ? $"üser-{i}" : $"u{random.Next(100_000)}";
            }

            var readings = new FeatureReading[ids.Length * width];
            for (var r = 0; r < readings.Length; r++)
            {
                var status = (ReadingStatus)random.Next(3);
                readings[r] = status == ReadingStatus.Present
                    ? new FeatureReading(random.Next(4) == 0 ? RandomList(random) : Scalars[random.Next(Scalars.Length)], status, Times[random.Next(Times.Length)])
                    : new FeatureReading(ScalarValue.Null, status, status == ReadingStatus.Expired ? Times[random.Next(Times.Length)] : 0);
            }

            var version = random.Next(3) == 0 ? 0 : random.NextInt64(1, long.MaxValue);
            var nowMs = Times[random.Next(1, Times.Length)];
            // Most answers have no stale entity (null); some mark a random subset.
            var stale = random.Next(3) == 0 ? Enumerable.Range(0, ids.Length).Select(_ => random.Next(2) == 0).ToArray() : null;

            var expected = FeatureServingService.ToMessage(names, defaults, ids, readings, stale, version, nowMs).ToByteArray();
            var length = LookupResponseEncoder.Measure(names, defaults, ids, readings, stale, version, nowMs);
            var encoded = new byte[length];
            var written = LookupResponseEncoder.Write(encoded, names, defaults, ids, readings, stale, version, nowMs);

            Assert.Equal(length, written);
            Assert.Equal(Convert.ToHexString(expected), Convert.ToHexString(encoded));
        }
    }

    /// <summary>A last_n reading: empty, or up to 40 scalars of mixed kinds (long strings make multi-byte lengths).</summary>
    private static ScalarValue RandomList(Random random)
    {
        var items = new ScalarValue[random.Next(3) == 0 ? 0 : random.Next(1, 40)];
        for (var i = 0; i < items.Length; i++)
        {
            // Lists never hold null items; every other scalar appears.
            items[i] = Scalars[random.Next(1, Scalars.Length)];
        }

        return ScalarValue.FromList(items);
    }

    [Fact]
    public void A_list_value_is_encoded_as_the_generated_value_list_and_parses_back()
    {
        ScalarValue[] lists =
        [
            ScalarValue.FromList([]),
            ScalarValue.FromList([ScalarValue.FromString("c9"), ScalarValue.FromString("c4")]),
            ScalarValue.FromList([.. Enumerable.Range(0, 200).Select(i => ScalarValue.FromString(new string('x', i)))]),
        ];
        var names = new[] { "watch:last_contents" };
        var readings = lists.Select(l => new FeatureReading(l, ReadingStatus.Present, 1_765_000_000_000)).ToArray();
        var ids = new[] { "u1", "u2", "u3" };

        var expected = FeatureServingService.ToMessage(names, [null], ids, readings, null, 7, 1_765_000_000_123).ToByteArray();
        var encoded = new byte[LookupResponseEncoder.Measure(names, [null], ids, readings, null, 7, 1_765_000_000_123)];
        LookupResponseEncoder.Write(encoded, names, [null], ids, readings, null, 7, 1_765_000_000_123);

        Assert.Equal(Convert.ToHexString(expected), Convert.ToHexString(encoded));
        var parsed = V1.GetOnlineFeaturesResponse.Parser.ParseFrom(encoded);
        for (var i = 0; i < lists.Length; i++)
        {
            var value = parsed.Entities[i].Values[0].Value;
            Assert.Equal(V1.Value.KindOneofCase.ListValue, value.KindCase);
            Assert.Equal(lists[i], ValueMapping.FromProto(value));
        }
    }

    [Fact]
    public void An_encoded_answer_parses_back_to_the_same_values()
    {
        string[] names = ["v:count", "v:name", "v:missing"];
        ScalarValue?[] defaults = [null, null, ScalarValue.FromDouble(-1)];
        FeatureReading[] readings =
        [
            new(ScalarValue.FromInt64(42), ReadingStatus.Present, 1_765_000_000_500),
            new(ScalarValue.FromString("tennis"), ReadingStatus.Present, 1_765_000_000_000),
            new(ScalarValue.Null, ReadingStatus.NotFound, 0),
        ];
        var length = LookupResponseEncoder.Measure(names, defaults, ["u1"], readings, null, 7, 1_765_000_001_250);
        var encoded = new byte[length];
        LookupResponseEncoder.Write(encoded, names, defaults, ["u1"], readings, null, 7, 1_765_000_001_250);

        var parsed = V1.GetOnlineFeaturesResponse.Parser.ParseFrom(encoded);

        Assert.Equal(names, parsed.FeatureNames);
        Assert.Equal(7, parsed.RegistryVersion);
        Assert.Equal(1_765_000_001_250, parsed.EvaluatedAt.ToDateTimeOffset().ToUnixTimeMilliseconds());
        var values = parsed.Entities.Single().Values;
        Assert.Equal(42, values[0].Value.Int64Value);
        Assert.Equal(V1.FeatureStatus.Present, values[0].Status);
        Assert.Equal(1_765_000_000_500, values[0].EventTime.ToDateTimeOffset().ToUnixTimeMilliseconds());
        Assert.Equal("tennis", values[1].Value.StringValue);
        Assert.Equal(-1, values[2].Value.DoubleValue);
        Assert.Equal(V1.FeatureStatus.Defaulted, values[2].Status);
        Assert.Null(values[2].EventTime);
        Assert.False(parsed.Entities.Single().Stale);
    }

    [Fact]
    public void Only_the_entities_answered_from_durable_state_are_marked_stale()
    {
        string[] names = ["v:count"];
        ScalarValue?[] defaults = [null];
        FeatureReading[] readings =
        [
            new(ScalarValue.FromInt64(1), ReadingStatus.Present, 1_765_000_000_500),
            new(ScalarValue.FromInt64(2), ReadingStatus.Present, 1_765_000_000_500),
            new(ScalarValue.Null, ReadingStatus.NotFound, 0),
        ];
        string[] ids = ["live", "stale", "stale-unknown"];
        bool[] stale = [false, true, true];
        var encoded = new byte[LookupResponseEncoder.Measure(names, defaults, ids, readings, stale, 7, 1_765_000_001_250)];
        LookupResponseEncoder.Write(encoded, names, defaults, ids, readings, stale, 7, 1_765_000_001_250);

        var parsed = V1.GetOnlineFeaturesResponse.Parser.ParseFrom(encoded);

        Assert.Equal(stale, parsed.Entities.Select(e => e.Stale));
        Assert.Equal(2, parsed.Entities[1].Values[0].Value.Int64Value);
    }
}
