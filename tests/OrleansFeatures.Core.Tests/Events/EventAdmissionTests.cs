using OrleansFeatures.Core.Definitions;
using OrleansFeatures.Core.Engine;
using OrleansFeatures.Core.Events;

namespace OrleansFeatures.Core.Tests.Events;

public class EventAdmissionTests
{
    private const string Yaml = """
        entity: user
        key: user_id
        sources:
          - name: plays
            timestamp_field: ts
            event_id_field: event_id
            fields: { user_id: string, sport: string, seconds: double, ts: int64, event_id: string }
        feature_views:
          - name: user_plays
            source: plays
            features:
              - { name: seconds_1h, aggregation: sum, field: seconds, window: 1h }
        """;

    private static readonly DefinitionSet Set = DefinitionLoader.Load([new DefinitionDocument("defs.yaml", Yaml)]).Set!;
    private static readonly SourceDefinition Source = Set.Sources["plays"];
    private static readonly IReadOnlyList<CompiledFeatureView> Views = [new CompiledFeatureView(Set.FeatureViews["user_plays"])];
    private static readonly long Now = new DateTimeOffset(2026, 11, 30, 12, 0, 0, TimeSpan.Zero).ToUnixTimeMilliseconds();
    private static readonly EventLimits Limits = new();

    [Fact]
    public void An_ordinary_event_is_admitted()
    {
        Assert.Null(Check(Event("e1", Now - 60_000, "u1", 3.5)));
    }

    [Fact]
    public void An_event_up_to_the_allowed_skew_ahead_of_the_clock_is_admitted()
    {
        Assert.Null(Check(Event("e1", Now + (long)Limits.MaxFutureSkew.TotalMilliseconds, "u1", 1)));
    }

    [Fact]
    public void An_event_from_the_year_2100_is_rejected_as_too_far_ahead_of_the_clock()
    {
        var reason = Check(Event("e1", new DateTimeOffset(2100, 1, 1, 0, 0, 0, TimeSpan.Zero).ToUnixTimeMilliseconds(), "u1", 1));

        Assert.NotNull(reason);
        Assert.Contains("2100-01-01T00:00:00.000Z", reason, StringComparison.Ordinal);
        Assert.Contains("ahead of the server clock", reason, StringComparison.Ordinal);
    }

    [Fact]
    public void An_event_time_beyond_any_calendar_date_is_rejected_without_overflow()
    {
        var reason = Check(Event("e1", long.MaxValue, "u1", 1));

        Assert.NotNull(reason);
        Assert.Contains(long.MaxValue.ToString(System.Globalization.CultureInfo.InvariantCulture), reason, StringComparison.Ordinal);
    }

    [Fact]
    public void The_future_skew_is_configurable()
    {
        var tight = new EventLimits { MaxFutureSkew = TimeSpan.FromSeconds(5) };

        Assert.NotNull(EventAdmission.Check(Event("e1", Now + 10_000, "u1", 1), Views, null, Now, tight));
        Assert.Null(EventAdmission.Check(Event("e1", Now + 4_000, "u1", 1), Views, null, Now, tight));
    }

    [Theory]
    [InlineData(double.NaN, "NaN")]
    [InlineData(double.PositiveInfinity, "Infinity")]
    [InlineData(double.NegativeInfinity, "-Infinity")]
    public void A_non_finite_number_is_rejected_naming_its_field(double seconds, string shown)
    {
        var reason = Check(Event("e1", Now, "u1", seconds));

        Assert.Equal($"event 'e1': field 'seconds' is {shown}; only finite numbers are accepted", reason);
    }

    [Fact]
    public void An_overflowing_json_number_is_rejected_naming_its_field()
    {
        var featureEvent = EventSchema.ReadJson(Source, """{"event_id":"e1","ts":1700000000000,"user_id":"u1","seconds":1e999}"""u8, null, null, out var error);
        Assert.Null(error);

        Assert.Contains("field 'seconds'", EventAdmission.Check(featureEvent!, Views, null, Now, Limits), StringComparison.Ordinal);
    }

    [Fact]
    public void An_entity_key_longer_than_the_key_limit_is_rejected()
    {
        var atLimit = new string('k', EventLimits.DefaultMaxKeyLength);

        Assert.Null(Check(Event("e1", Now, atLimit, 1)));
        Assert.Equal(
            "event 'e1': entity key in 'user_id' is 1048576 characters; the limit is 256",
            Check(Event("e1", Now, new string('k', 1 << 20), 1)));
    }

    [Fact]
    public void A_fallback_key_longer_than_the_key_limit_is_rejected_when_the_event_has_no_key_field()
    {
        var keyless = EventSchema.Normalize(Source, "e1", Now, new Dictionary<string, ScalarValue> { ["seconds"] = ScalarValue.FromDouble(1) }, out _)!;

        Assert.Null(EventAdmission.Check(keyless, Views, "short", Now, Limits));
        Assert.Contains("entity key in 'user_id' is 300 characters", EventAdmission.Check(keyless, Views, new string('k', 300), Now, Limits), StringComparison.Ordinal);
    }

    [Fact]
    public void An_event_id_longer_than_the_key_limit_is_rejected_without_echoing_it()
    {
        var reason = Check(Event(new string('i', 1 << 20), Now, "u1", 1));

        Assert.Equal("event id is 1048576 characters; the limit is 256", reason);
    }

    [Fact]
    public void A_string_field_longer_than_the_field_limit_is_rejected_naming_its_field()
    {
        Assert.Null(Check(Event("e1", Now, "u1", 1, sport: new string('s', EventLimits.DefaultMaxStringFieldLength))));
        Assert.Equal(
            "event 'e1': field 'sport' is 4097 characters; the limit is 4096",
            Check(Event("e1", Now, "u1", 1, sport: new string('s', EventLimits.DefaultMaxStringFieldLength + 1))));
    }

    [Fact]
    public void Fields_in_a_plain_dictionary_get_the_same_rules_as_normalised_ones()
    {
        var featureEvent = new FeatureEvent("e1", Now, new Dictionary<string, ScalarValue>
        {
            ["user_id"] = ScalarValue.FromString("u1"),
            ["seconds"] = ScalarValue.FromDouble(double.NaN),
        });

        Assert.Equal("event 'e1': field 'seconds' is NaN; only finite numbers are accepted", Check(featureEvent));
    }

    [Theory]
    [InlineData(1_700_000_000, 5_000_000, 1_700_000_000_005)]
    [InlineData(0, 999_999_999, 999)]
    [InlineData(253_402_300_799, 0, 253_402_300_799_000)]
    public void A_valid_protobuf_timestamp_converts_to_unix_milliseconds(long seconds, int nanos, long expectedMs)
    {
        Assert.True(EventAdmission.TryConvertTimestamp(seconds, nanos, out var ms, out var error));
        Assert.Null(error);
        Assert.Equal(expectedMs, ms);
    }

    [Theory]
    [InlineData(1_700_000_000, -5, "event_time.nanos is -5")]
    [InlineData(1_700_000_000, 2_000_000_000, "event_time.nanos is 2000000000")]
    [InlineData(long.MaxValue, 0, "event_time.seconds is 9223372036854775807")]
    [InlineData(long.MinValue, 0, "event_time.seconds is -9223372036854775808")]
    public void An_invalid_protobuf_timestamp_is_refused_with_a_precise_reason(long seconds, int nanos, string expected)
    {
        Assert.False(EventAdmission.TryConvertTimestamp(seconds, nanos, out _, out var error));
        Assert.StartsWith(expected, error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(1e308)]
    [InlineData(-1e251)]
    [InlineData(double.MaxValue)]
    public void A_number_whose_window_sum_could_overflow_is_rejected_naming_the_field_and_the_bound(double seconds)
    {
        var reason = Check(Event("e1", Now, "u1", seconds));

        Assert.NotNull(reason);
        Assert.Contains("field 'seconds'", reason, StringComparison.Ordinal);
        Assert.Contains("1E+250", reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_number_at_the_bound_is_admitted()
    {
        Assert.Null(Check(Event("e1", Now, "u1", EventLimits.MaxNumberMagnitude)));
        Assert.Null(Check(Event("e1", Now, "u1", -EventLimits.MaxNumberMagnitude)));
    }

    [Fact]
    public void Default_limits_are_valid()
    {
        Assert.Empty(new EventLimits().Validate());
    }

    [Fact]
    public void Each_out_of_range_limit_is_reported_naming_its_configuration_key()
    {
        var problems = new EventLimits { MaxFutureSkew = TimeSpan.FromMinutes(-1), MaxKeyLength = 0, MaxStringFieldLength = 0 }.Validate();

        Assert.Collection(
            problems,
            p => Assert.StartsWith("FeatureStore:Limits:MaxFutureSkew ", p, StringComparison.Ordinal),
            p => Assert.StartsWith("FeatureStore:Limits:MaxKeyLength ", p, StringComparison.Ordinal),
            p => Assert.StartsWith("FeatureStore:Limits:MaxStringFieldLength ", p, StringComparison.Ordinal));
    }

    private static string? Check(FeatureEvent featureEvent) => EventAdmission.Check(featureEvent, Views, null, Now, Limits);

    private static FeatureEvent Event(string id, long timestampMs, string user, double seconds, string sport = "tennis") =>
        EventSchema.Normalize(
            Source,
            id,
            timestampMs,
            new Dictionary<string, ScalarValue>
            {
                ["user_id"] = ScalarValue.FromString(user),
                ["sport"] = ScalarValue.FromString(sport),
                ["seconds"] = ScalarValue.FromDouble(seconds),
            },
            out _)!;
}
