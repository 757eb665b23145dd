using System.Text;
using OrleansFeatures.Core.Definitions;
using OrleansFeatures.Core.Events;

namespace OrleansFeatures.Core.Tests.Events;

public class EventSchemaTests
{
    private static readonly SourceDefinition Source = new(
        "plays",
        "ts",
        "event_id",
        new Dictionary<string, ScalarKind>
        {
            ["user_id"] = ScalarKind.String,
            ["seconds"] = ScalarKind.Double,
            ["count"] = ScalarKind.Int64,
            ["ts"] = ScalarKind.Int64,
            ["event_id"] = ScalarKind.String,
        },
        SourceLocation.None);

    [Fact]
    public void Id_and_time_come_from_fields_when_not_given()
    {
        var e = EventSchema.Normalize(Source, null, null, Fields(("event_id", S("e1")), ("ts", I(1_700_000_000_000)), ("user_id", S("u"))), out var error);

        Assert.Null(error);
        Assert.Equal("e1", e!.EventId);
        Assert.Equal(1_700_000_000_000, e.TimestampMs);
    }

    [Fact]
    public void Iso_8601_time_is_accepted()
    {
        var e = EventSchema.Normalize(Source, "e1", null, Fields(("ts", S("2026-11-24T10:00:00Z"))), out _);

        Assert.Equal(DateTimeOffset.Parse("2026-11-24T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture).ToUnixTimeMilliseconds(), e!.TimestampMs);
    }

    [Fact]
    public void Integer_given_for_a_double_field_is_widened()
    {
        var e = EventSchema.Normalize(Source, "e1", 1, Fields(("seconds", I(5))), out _);

        Assert.Equal(ScalarValue.FromDouble(5), e!.Fields["seconds"]);
    }

    [Fact]
    public void Wrong_type_for_a_declared_field_is_rejected_with_the_field_name()
    {
        var e = EventSchema.Normalize(Source, "e1", 1, Fields(("count", S("many"))), out var error);

        Assert.Null(e);
        Assert.Contains("'count'", error, StringComparison.Ordinal);
        Assert.Contains("int64", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Undeclared_fields_are_dropped()
    {
        var e = EventSchema.Normalize(Source, "e1", 1, Fields(("extra", S("x")), ("user_id", S("u"))), out _);

        Assert.False(e!.Fields.ContainsKey("extra"));
        Assert.True(e.Fields.ContainsKey("user_id"));
    }

    [Theory]
    [InlineData(null, 1L, "event_id")]
    [InlineData("e1", null, "'ts'")]
    [InlineData("e1", 0L, "not after 1970")]
    public void Missing_id_or_time_is_rejected(string? id, long? time, string expected)
    {
        var e = EventSchema.Normalize(Source, id, time, Fields(), out var error);

        Assert.Null(e);
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }

    [Fact]
    public void Normalised_fields_read_like_a_dictionary_of_the_declared_present_fields()
    {
        var raw = JsonEventReader.TryRead(Encoding.UTF8.GetBytes("""{"event_id":"e1","ts":1700000000000,"user_id":"u","seconds":5,"extra":"x","none":null}"""), null, null, out _)!;
        var fields = EventSchema.Normalize(Source, raw.EventId, raw.TimestampMs, raw.Fields, out _)!.Fields;

        var expected = new Dictionary<string, ScalarValue>
        {
            ["event_id"] = S("e1"),
            ["ts"] = I(1_700_000_000_000),
            ["user_id"] = S("u"),
            ["seconds"] = ScalarValue.FromDouble(5),
        };
        Assert.Equal(expected.Count, fields.Count);
        Assert.Equal(expected.OrderBy(f => f.Key, StringComparer.Ordinal), fields.OrderBy(f => f.Key, StringComparer.Ordinal));
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), fields.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(S("u"), fields["user_id"]);
        Assert.False(fields.ContainsKey("count"));   // declared, absent
        Assert.False(fields.ContainsKey("extra"));   // undeclared
        Assert.False(fields.TryGetValue("none", out _));
        Assert.Throws<KeyNotFoundException>(() => fields["count"]);
    }

    [Fact]
    public void Json_events_share_one_string_per_field_name()
    {
        var first = JsonEventReader.TryRead(Encoding.UTF8.GetBytes("""{"shared_name":1}"""), null, null, out _)!;
        var second = JsonEventReader.TryRead(Encoding.UTF8.GetBytes("""{"shared_name":2}"""), null, null, out _)!;

        Assert.Same(first.Fields.Keys.Single(), second.Fields.Keys.Single());
    }

    [Fact]
    public void Escaped_and_long_field_names_are_read_exactly()
    {
        var longName = new string('n', 100);
        var raw = JsonEventReader.TryRead(Encoding.UTF8.GetBytes($$"""{"café":1,"{{longName}}":2}"""), null, null, out var error)!;

        Assert.Null(error);
        Assert.Equal(ScalarValue.FromInt64(1), raw.Fields["café"]);
        Assert.Equal(ScalarValue.FromInt64(2), raw.Fields[longName]);
    }

    [Fact]
    public void Json_event_reads_flat_scalars()
    {
        var raw = JsonEventReader.TryRead(Encoding.UTF8.GetBytes("""{"user_id":"u1","count":3,"seconds":2.5,"ok":true,"none":null}"""), null, null, out var error);

        Assert.Null(error);
        Assert.Equal(ScalarValue.FromString("u1"), raw!.Fields["user_id"]);
        Assert.Equal(ScalarValue.FromInt64(3), raw.Fields["count"]);
        Assert.Equal(ScalarValue.FromDouble(2.5), raw.Fields["seconds"]);
        Assert.Equal(ScalarValue.FromBool(true), raw.Fields["ok"]);
        Assert.False(raw.Fields.ContainsKey("none"));
    }

    [Theory]
    [InlineData("not json", "not valid JSON")]
    [InlineData("[1,2]", "not a JSON object")]
    [InlineData("""{"a":{"b":1}}""", "'a'")]
    [InlineData("""{"a":1} {}""", "not valid JSON")]
    [InlineData("""{"a":1""", "not valid JSON")]
    public void Malformed_json_event_is_rejected_with_a_reason(string json, string expected)
    {
        var raw = JsonEventReader.TryRead(Encoding.UTF8.GetBytes(json), null, null, out var error);

        Assert.Null(raw);
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"event_id":"e1","ts":1700000000000,"user_id":"u","seconds":5,"count":2,"extra":"x","none":null}""", null, null)]
    [InlineData("""{"event_id":7,"ts":"2026-11-24T10:00:00Z","seconds":1.5}""", null, null)]
    [InlineData("""{"ts":1700000000000,"user_id":"u"}""", "from-header", null)]
    [InlineData("""{"user_id":"u"}""", "e1", 1700000000000L)]
    [InlineData("""{"user_id":"u","user_id":"v","seconds":1,"seconds":null}""", "e1", 5L)]
    [InlineData("""{"user_id":"u"}""", null, 5L)]
    [InlineData("""{"event_id":"e1","user_id":"u"}""", null, null)]
    [InlineData("""{"event_id":"e1","ts":true}""", null, null)]
    [InlineData("""{"event_id":"e1","ts":-5}""", null, null)]
    [InlineData("""{"count":"many","event_id":"e1","ts":1}""", null, null)]
    [InlineData("""{"count":2.5,"event_id":"e1","ts":1}""", null, null)]
    [InlineData("""{"event_id":"","ts":1}""", null, null)]
    [InlineData("""{"event_id":"e1","ts":1,"user_id":[1]}""", null, null)]
    [InlineData("""not json""", "e1", 1L)]
    public void Reading_json_into_the_layout_matches_reading_then_normalising(string json, string? eventId, long? timestampMs)
    {
        var bytes = Encoding.UTF8.GetBytes(json);
        var raw = JsonEventReader.TryRead(bytes, eventId, timestampMs, out var readError);
        string? expectedError = readError;
        var expected = raw is null ? null : EventSchema.Normalize(Source, raw.EventId, raw.TimestampMs, raw.Fields, out expectedError);

        var actual = EventSchema.ReadJson(Source, bytes, eventId, timestampMs, out var actualError);

        Assert.Equal(expectedError, actualError);
        Assert.Equal(expected is null, actual is null);
        if (expected is not null && actual is not null)
        {
            Assert.Equal((expected.EventId, expected.TimestampMs), (actual.EventId, actual.TimestampMs));
            Assert.Equal(expected.Fields.OrderBy(f => f.Key, StringComparer.Ordinal), actual.Fields.OrderBy(f => f.Key, StringComparer.Ordinal));
        }
    }

    [Theory]
    [InlineData("""{"event_id":"e1","ts":1,"user_id":"u","meta":{"a":{"b":[1,2]}}}""")]
    [InlineData("""{"event_id":"e1","ts":1,"user_id":"u","tags":["x","y"]}""")]
    public void An_undeclared_nested_field_is_ignored_like_any_undeclared_field(string json)
    {
        var e = EventSchema.ReadJson(Source, Encoding.UTF8.GetBytes(json), null, null, out var error);

        Assert.Null(error);
        Assert.Equal("u", e!.Fields["user_id"].AsString);
    }

    [Fact]
    public void A_declared_field_holding_a_nested_object_is_rejected_naming_the_field()
    {
        var e = EventSchema.ReadJson(Source, Encoding.UTF8.GetBytes("""{"event_id":"e1","ts":1,"seconds":{"v":1}}"""), null, null, out var error);

        Assert.Null(e);
        Assert.Contains("field 'seconds' is a JSON StartObject", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Events_read_from_json_share_their_repeated_string_values_but_not_their_ids()
    {
        var first = EventSchema.ReadJson(Source, "{\"event_id\":\"e1\",\"ts\":1,\"user_id\":\"u-shared\"}"u8, null, null, out _)!;
        var second = EventSchema.ReadJson(Source, "{\"event_id\":\"e1\",\"ts\":1,\"user_id\":\"u-shared\"}"u8, null, null, out _)!;

        Assert.Same(first.Fields["user_id"].AsString, second.Fields["user_id"].AsString);
        Assert.Equal(first.EventId, second.EventId);
        Assert.NotSame(first.EventId, second.EventId);
    }

    [Fact]
    public void An_undeclared_string_with_invalid_utf8_is_refused_as_before()
    {
        var json = Encoding.UTF8.GetBytes("{\"event_id\":\"e1\",\"ts\":1,\"user_id\":\"u\",\"note\":\"x\"}");
        json[^3] = 0xFF;

        Assert.Throws<InvalidOperationException>(() => EventSchema.ReadJson(Source, json, null, null, out _));
        Assert.Throws<InvalidOperationException>(() => JsonEventReader.TryRead(json, null, null, out _));
    }

    private static ScalarValue S(string value) => ScalarValue.FromString(value);

    private static ScalarValue I(long value) => ScalarValue.FromInt64(value);

    private static Dictionary<string, ScalarValue> Fields(params (string Name, ScalarValue Value)[] fields) =>
        fields.ToDictionary(f => f.Name, f => f.Value);
}
