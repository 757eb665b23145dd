using Grpc.Core;
using OrleansFeatures.TestInfrastructure;
using OrleansFeatures.V1;
using Timestamp = Google.Protobuf.WellKnownTypes.Timestamp;

namespace OrleansFeatures.EndToEnd.Tests;

/// <summary>One gateway process with the test definitions applied, shared by the admission tests (each uses its own users).</summary>
public sealed class AdmissionGateway : IAsyncLifetime
{
    private readonly TempDirectory _directory = new();

    public GatewayProcess Process { get; private set; } = null!;

    internal GatewayClient Client { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Process = new GatewayProcess(_directory.Path);
        await Process.StartAsync();
        Client = new GatewayClient(Process);
        await Client.Registry.ApplyDefinitionsAsync(E2EDefinitions.Request());
    }

    public async Task DisposeAsync()
    {
        Client.Dispose();
        await Process.DisposeAsync();
        _directory.Dispose();
    }
}

/// <summary>The admission rules on the push path of the real gateway: poison events are rejected, neighbours unaffected.</summary>
public sealed class EventAdmissionEndToEndTests(AdmissionGateway gateway) : IClassFixture<AdmissionGateway>
{
    private GatewayClient Client => gateway.Client;

    [Fact]
    public async Task An_event_dated_2100_is_rejected_and_a_later_real_event_of_that_entity_is_accepted()
    {
        var future = Events.Play("future", "time-traveller", new DateTimeOffset(2100, 1, 1, 0, 0, 0, TimeSpan.Zero), "chess", "click", 1);
        var first = await Client.Ingestion.PushEventsAsync(Events.Push(future));

        Assert.Equal(EventStatus.Rejected, first.Results[0].Status);
        Assert.Contains("ahead of the server clock", first.Results[0].Reason, StringComparison.Ordinal);

        var now = DateTimeOffset.UtcNow;
        var real = await Client.Ingestion.PushEventsAsync(Events.Push(Events.Play("real", "time-traveller", now, "tennis", "click", 1)));
        Assert.Equal(EventStatus.Accepted, real.Results[0].Status);

        var features = await Lookup("time-traveller", "user_plays:last_sport", "user_plays:plays_1h");
        Assert.Equal("tennis", features[0].Value.StringValue);
        Assert.Equal(1, features[1].Value.Int64Value);
    }

    [Fact]
    public async Task Non_finite_numbers_are_rejected_naming_the_field_and_the_sum_stays_finite()
    {
        var now = DateTimeOffset.UtcNow.AddMinutes(-1);
        var push = await Client.Ingestion.PushEventsAsync(Events.Push(
            Events.Play("nan", "finite-user", now, "golf", "view", double.NaN),
            Events.Play("inf", "finite-user", now, "golf", "view", double.PositiveInfinity),
            Events.Play("-inf", "finite-user", now, "golf", "view", double.NegativeInfinity),
            Events.Play("ok", "finite-user", now, "golf", "view", 7)));

        Assert.Equal([EventStatus.Rejected, EventStatus.Rejected, EventStatus.Rejected, EventStatus.Accepted], push.Results.Select(r => r.Status));
        Assert.All(push.Results.Take(3), r => Assert.Contains("field 'seconds'", r.Reason, StringComparison.Ordinal));
        Assert.Equal(7, (await Lookup("finite-user", "user_plays:seconds_24h"))[0].Value.DoubleValue);
    }

    [Fact]
    public async Task A_one_megabyte_entity_key_or_event_id_is_rejected_with_a_short_reason()
    {
        var now = DateTimeOffset.UtcNow;
        var huge = new string('k', 1 << 20);
        var push = await Client.Ingestion.PushEventsAsync(Events.Push(
            Events.Play("big-key", huge, now, "golf", "view", 1),
            Events.Play(huge, "big-id-user", now, "golf", "view", 1),
            Events.Play("neighbour", "big-id-user", now, "golf", "view", 1)));

        Assert.Equal([EventStatus.Rejected, EventStatus.Rejected, EventStatus.Accepted], push.Results.Select(r => r.Status));
        Assert.Contains("entity key in 'user_id' is 1048576 characters; the limit is 256", push.Results[0].Reason, StringComparison.Ordinal);
        Assert.Equal("event id is 1048576 characters; the limit is 256", push.Results[1].Reason);
    }

    [Theory]
    [InlineData(1_700_000_000, -5, "event_time.nanos is -5")]
    [InlineData(1_700_000_000, 2_000_000_000, "event_time.nanos is 2000000000")]
    [InlineData(long.MaxValue, 0, "event_time.seconds is 9223372036854775807")]
    public async Task An_invalid_event_time_is_rejected_with_a_precise_reason_and_its_neighbour_accepted(long seconds, int nanos, string reason)
    {
        var user = $"time-{seconds}-{nanos}";
        var bad = Events.Play($"bad-{user}", user, DateTimeOffset.UtcNow, "golf", "view", 1);
        bad.EventTime = new Timestamp { Seconds = seconds, Nanos = nanos };
        var push = await Client.Ingestion.PushEventsAsync(Events.Push(bad, Events.Play($"good-{user}", user, DateTimeOffset.UtcNow, "golf", "view", 1)));

        Assert.Equal([EventStatus.Rejected, EventStatus.Accepted], push.Results.Select(r => r.Status));
        Assert.StartsWith(reason, push.Results[0].Reason, StringComparison.Ordinal);
        Assert.Equal(1, push.Rejected);
        Assert.Equal(1, push.Accepted);
    }

    [Fact]
    public async Task A_lookup_id_longer_than_the_shared_key_limit_is_refused_naming_the_setting()
    {
        var request = new GetOnlineFeaturesRequest { EntityType = "user" };
        request.EntityIds.Add(new string('k', 257));
        (request.Features ??= new()).References.Add("user_plays:plays_1h");

        var error = await Assert.ThrowsAsync<RpcException>(async () => await Client.Serving.GetOnlineFeaturesAsync(request));

        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("FeatureStore:Limits:MaxKeyLength", error.Status.Detail, StringComparison.Ordinal);
    }

    private async Task<IList<FeatureValue>> Lookup(string user, params string[] features)
    {
        var request = new GetOnlineFeaturesRequest { EntityType = "user" };
        request.EntityIds.Add(user);
        (request.Features ??= new()).References.Add(features);
        return (await Client.Serving.GetOnlineFeaturesAsync(request)).Entities[0].Values;
    }
}
