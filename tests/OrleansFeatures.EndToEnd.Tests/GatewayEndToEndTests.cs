using Grpc.Core;
using OrleansFeatures.TestInfrastructure;
using OrleansFeatures.V1;

namespace OrleansFeatures.EndToEnd.Tests;

/// <summary>Starts the real gateway process and exercises it over gRPC only.</summary>
public sealed class GatewayEndToEndTests
{
    [Fact]
    public async Task Definitions_events_and_lookups_work_over_grpc()
    {
        using var temp = new TempDirectory();
        await using var gateway = new GatewayProcess(temp.Path);
        await gateway.StartAsync();
        using var client = new GatewayClient(gateway);

        // grpc.health.v1 answers from a cache published every few seconds.
        await Poll.UntilAsync(
            async () => (await client.Health.CheckAsync(new Grpc.Health.V1.HealthCheckRequest())).Status,
            status => status == Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus.Serving,
            TimeSpan.FromSeconds(30),
            "grpc.health.v1 to report SERVING");

        var applied = await client.Registry.ApplyDefinitionsAsync(E2EDefinitions.Request());
        Assert.True(applied.Applied);
        Assert.Equal(1, applied.RegistryVersion);

        var now = DateTimeOffset.UtcNow;
        var bad = Events.Play("bad-type", "u1", now, "tennis", "click", 1);
        bad.Fields["seconds"] = new Value { StringValue = "forty" };
        var noKey = Events.Play("no-key", "u1", now, "tennis", "click", 1);
        noKey.Fields.Remove("user_id");
        var noId = Events.Play("", "u1", now, "tennis", "click", 1);
        var push = await client.Ingestion.PushEventsAsync(Events.Push(
            Events.Play("e1", "u1", now.AddMinutes(-50), "football", "click", 30),
            bad,
            Events.Play("e2", "u1", now.AddMinutes(-20), "tennis", "view", 90),
            noKey,
            Events.Play("e3", "u1", now.AddMinutes(-5), "f1", "click", 60),
            noId,
            Events.Play("e4", "u2", now.AddHours(-3), "rugby", "view", 10)));

        Assert.Equal(
            [EventStatus.Accepted, EventStatus.Rejected, EventStatus.Accepted, EventStatus.Rejected, EventStatus.Accepted, EventStatus.Rejected, EventStatus.Accepted],
            push.Results.Select(r => r.Status));
        Assert.Contains("seconds", push.Results[1].Reason, StringComparison.Ordinal);
        Assert.Contains("user_id", push.Results[3].Reason, StringComparison.Ordinal);
        Assert.Contains("event_id", push.Results[5].Reason, StringComparison.Ordinal);
        Assert.Equal(4, push.Accepted);
        Assert.Equal(3, push.Rejected);

        var replay = await client.Ingestion.PushEventsAsync(Events.Push(Events.Play("e1", "u1", now.AddMinutes(-50), "football", "click", 30)));
        Assert.Equal(EventStatus.Duplicate, replay.Results[0].Status);

        var request = new GetOnlineFeaturesRequest { EntityType = "user" };
        request.EntityIds.Add(["u1", "u2", "nobody"]);
        (request.Features ??= new()).References.Add(["user_plays:last_sport", "user_plays:plays_1h", "user_plays:clicks_1h", "user_plays:seconds_24h", "user_plays:mean_seconds_24h", "user_plays:max_seconds_24h"]);
        var features = await client.Serving.GetOnlineFeaturesAsync(request);

        Assert.Equal(request.Features.References, features.FeatureNames);
        var u1 = features.Entities[0].Values;
        Assert.Equal("f1", u1[0].Value.StringValue);
        Assert.Equal(now.AddMinutes(-5).ToUnixTimeMilliseconds(), u1[0].EventTime.ToDateTimeOffset().ToUnixTimeMilliseconds());
        Assert.Equal(3, u1[1].Value.Int64Value);
        Assert.Equal(2, u1[2].Value.Int64Value);
        Assert.Equal(180, u1[3].Value.DoubleValue);
        Assert.Equal(60, u1[4].Value.DoubleValue, 9);
        Assert.Equal(90, u1[5].Value.DoubleValue);
        Assert.All(u1, v => Assert.Equal(FeatureStatus.Present, v.Status));

        var u2 = features.Entities[1].Values;
        Assert.Equal("rugby", u2[0].Value.StringValue);
        Assert.Equal(0, u2[1].Value.Int64Value);
        Assert.Equal(10, u2[3].Value.DoubleValue);

        var nobody = features.Entities[2].Values;
        Assert.All(nobody, v => Assert.Equal(FeatureStatus.NotFound, v.Status));

        var byService = new GetOnlineFeaturesRequest { EntityType = "user", FeatureService = "ranker" };
        byService.EntityIds.Add(["nobody", "u1"]);
        var served = await client.Serving.GetOnlineFeaturesAsync(byService);
        Assert.Equal(["user_plays:plays_1h", "user_plays:seconds_24h", "user_plays:last_sport"], served.FeatureNames);
        Assert.Equal(FeatureStatus.Defaulted, served.Entities[0].Values[0].Status);
        Assert.Equal(0, served.Entities[0].Values[0].Value.Int64Value);
        Assert.Equal(FeatureStatus.NotFound, served.Entities[0].Values[2].Status);
        Assert.Equal(3, served.Entities[1].Values[0].Value.Int64Value);
    }

    [Fact]
    public async Task Bad_requests_get_precise_statuses_and_the_server_keeps_serving()
    {
        using var temp = new TempDirectory();
        await using var gateway = new GatewayProcess(temp.Path, "--FeatureStore:Limits:MaxEntitiesPerRequest=5", "--FeatureStore:Limits:MaxEventsPerPush=3");
        await gateway.StartAsync();
        using var client = new GatewayClient(gateway);
        await client.Registry.ApplyDefinitionsAsync(E2EDefinitions.Request());

        await AssertStatus(StatusCode.InvalidArgument, "entity_ids", () => Lookup(client, "user", [], ["user_plays:plays_1h"]));
        await AssertStatus(StatusCode.InvalidArgument, "limit is 5", () => Lookup(client, "user", ["1", "2", "3", "4", "5", "6"], ["user_plays:plays_1h"]));
        await AssertStatus(StatusCode.InvalidArgument, "entity_ids[1]", () => Lookup(client, "user", ["1", ""], ["user_plays:plays_1h"]));
        await AssertStatus(StatusCode.InvalidArgument, "entity_type", () => Lookup(client, "", ["1"], ["user_plays:plays_1h"]));
        await AssertStatus(StatusCode.NotFound, "entity type 'player'", () => Lookup(client, "player", ["1"], ["user_plays:plays_1h"]));
        await AssertStatus(StatusCode.InvalidArgument, "features.references[0]", () => Lookup(client, "user", ["1"], ["plays_1h"]));
        await AssertStatus(StatusCode.NotFound, "no feature 'nope'", () => Lookup(client, "user", ["1"], ["user_plays:nope"]));
        await AssertStatus(StatusCode.NotFound, "feature view 'other'", () => Lookup(client, "user", ["1"], ["other:x"]));
        await AssertStatus(StatusCode.InvalidArgument, "features.references", () => Lookup(client, "user", ["1"], []));

        var missingService = new GetOnlineFeaturesRequest { EntityType = "user", FeatureService = "nope" };
        missingService.EntityIds.Add("1");
        await AssertStatus(StatusCode.NotFound, "feature service 'nope'", async () => await client.Serving.GetOnlineFeaturesAsync(missingService));

        var now = DateTimeOffset.UtcNow;
        await AssertStatus(StatusCode.InvalidArgument, "source", async () => await client.Ingestion.PushEventsAsync(new PushEventsRequest()));
        await AssertStatus(StatusCode.InvalidArgument, "at least one", async () => await client.Ingestion.PushEventsAsync(new PushEventsRequest { Source = "plays" }));
        await AssertStatus(StatusCode.InvalidArgument, "limit is 3", async () => await client.Ingestion.PushEventsAsync(Events.Push(
            Events.Play("a", "u", now, "x", "view", 1), Events.Play("b", "u", now, "x", "view", 1),
            Events.Play("c", "u", now, "x", "view", 1), Events.Play("d", "u", now, "x", "view", 1))));
        var unknownSource = Events.Push(Events.Play("a", "u", now, "x", "view", 1));
        unknownSource.Source = "nope";
        await AssertStatus(StatusCode.NotFound, "source 'nope'", async () => await client.Ingestion.PushEventsAsync(unknownSource));

        await AssertStatus(StatusCode.InvalidArgument, "plays.yaml:", async () =>
            await client.Registry.ApplyDefinitionsAsync(E2EDefinitions.Request(E2EDefinitions.Yaml.Replace("aggregation: max", "aggregation: biggest", StringComparison.Ordinal))));
        await AssertStatus(StatusCode.FailedPrecondition, "max_seconds_24h", async () =>
            await client.Registry.ApplyDefinitionsAsync(E2EDefinitions.Request(E2EDefinitions.Yaml.Replace("      - { name: max_seconds_24h, aggregation: max, field: seconds, window: 24h }\n", "", StringComparison.Ordinal))));
        await AssertStatus(StatusCode.InvalidArgument, "documents", async () => await client.Registry.ApplyDefinitionsAsync(new ApplyDefinitionsRequest()));
        await AssertStatus(StatusCode.NotFound, "feature view 'nope'", async () => await client.Registry.GetFeatureViewAsync(new GetFeatureViewRequest { Name = "nope" }));

        // Garbage bytes in place of a protobuf message.
        using var http = new HttpClient();
        using var garbage = new HttpRequestMessage(HttpMethod.Post, new Uri(gateway.GrpcAddress, "/orleansfeatures.v1.FeatureServing/GetOnlineFeatures"))
        {
            Content = new ByteArrayContent([0, 0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff, 0xff]),
            Version = System.Net.HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        garbage.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/grpc");
        using var garbageResponse = await http.SendAsync(garbage);
        await garbageResponse.Content.ReadAsByteArrayAsync();
        var grpcStatus = garbageResponse.TrailingHeaders.TryGetValues("grpc-status", out var trailer) ? trailer.First()
            : garbageResponse.Headers.TryGetValues("grpc-status", out var header) ? header.First()
            : null;
        // Grpc.AspNetCore fails the message before any of our code runs and answers UNKNOWN; what matters here is
        // that the call fails cleanly and the server goes on serving.
        Assert.NotNull(grpcStatus);
        Assert.NotEqual("0", grpcStatus);

        // Still serving after all of that.
        var view = await client.Registry.GetFeatureViewAsync(new GetFeatureViewRequest { Name = "user_plays" });
        Assert.Equal(6, view.Features.Count);
        var ok = await Lookup(client, "user", ["1"], ["user_plays:plays_1h"]);
        Assert.Equal(FeatureStatus.NotFound, ok.Entities[0].Values[0].Status);
    }

    [Fact]
    public async Task A_killed_gateway_loses_no_acknowledged_event()
    {
        using var temp = new TempDirectory();
        var gateway = new GatewayProcess(temp.Path);
        await gateway.StartAsync();
        var start = DateTimeOffset.UtcNow.AddMinutes(-30);
        var acknowledged = new HashSet<string>();
        var all = new List<Event>();
        for (var i = 0; i < 400; i++)
        {
            all.Add(Events.Play($"k{i}", $"user{i % 8}", start.AddSeconds(i), "football", "view", 1));
        }

        using (var client = new GatewayClient(gateway))
        {
            await client.Registry.ApplyDefinitionsAsync(E2EDefinitions.Request());
            var pushing = Task.Run(async () =>
            {
                for (var batch = 0; batch < all.Count / 10; batch++)
                {
                    var slice = all.Skip(batch * 10).Take(10).ToArray();
                    try
                    {
                        var result = await client.Ingestion.PushEventsAsync(Events.Push(slice));
                        for (var j = 0; j < slice.Length; j++)
                        {
                            if (result.Results[j].Status == EventStatus.Accepted)
                            {
                                lock (acknowledged)
                                {
                                    acknowledged.Add(slice[j].EventId);
                                }
                            }
                        }
                    }
                    catch (RpcException)
                    {
                        return; // the process was killed mid-call: nothing in this batch was acknowledged
                    }
                }
            });

            await Poll.UntilAsync(() => Task.FromResult(acknowledged.Count), n => n >= 100, TimeSpan.FromSeconds(60), "100 acknowledged events");
            await gateway.KillAsync();
            await pushing;
        }

        await gateway.DisposeAsync();
        await using var restarted = new GatewayProcess(temp.Path);
        await restarted.StartAsync();
        using var after = new GatewayClient(restarted);

        var ackedPerUser = Enumerable.Range(0, 8).ToDictionary(u => $"user{u}", u => all.Count(e => acknowledged.Contains(e.EventId) && e.Fields["user_id"].StringValue == $"user{u}"));
        var counts = await Lookup(after, "user", [.. ackedPerUser.Keys], ["user_plays:plays_1h"]);
        for (var u = 0; u < 8; u++)
        {
            // Events pushed after the last acknowledgement may or may not have landed; acknowledged ones must have.
            Assert.True(counts.Entities[u].Values[0].Value.Int64Value >= ackedPerUser[$"user{u}"], $"user{u} lost acknowledged events");
        }

        // Replaying everything is absorbed by de-duplication: each event is counted exactly once.
        for (var batch = 0; batch < all.Count / 50; batch++)
        {
            await after.Ingestion.PushEventsAsync(Events.Push([.. all.Skip(batch * 50).Take(50)]));
        }

        var final = await Lookup(after, "user", [.. ackedPerUser.Keys], ["user_plays:plays_1h"]);
        Assert.All(final.Entities, e => Assert.Equal(all.Count / 8, e.Values[0].Value.Int64Value));
    }

    private static async Task<GetOnlineFeaturesResponse> Lookup(GatewayClient client, string entityType, string[] ids, string[] features)
    {
        var request = new GetOnlineFeaturesRequest { EntityType = entityType };
        request.EntityIds.Add(ids);
        (request.Features ??= new()).References.Add(features);
        return await client.Serving.GetOnlineFeaturesAsync(request);
    }

    private static async Task AssertStatus<T>(StatusCode code, string messagePart, Func<Task<T>> call)
    {
        var error = await Assert.ThrowsAsync<RpcException>(call);
        Assert.Equal(code, error.StatusCode);
        Assert.Contains(messagePart, error.Status.Detail, StringComparison.Ordinal);
        if (code == StatusCode.InvalidArgument)
        {
            // Every INVALID_ARGUMENT carries the bad fields as google.rpc.BadRequest details.
            Assert.NotEmpty(error.GetRpcStatus()?.GetDetail<Google.Rpc.BadRequest>()?.FieldViolations ?? []);
        }
    }
}
