using System.Security.Cryptography;
using System.Text;
using Timestamp = Google.Protobuf.WellKnownTypes.Timestamp;
using Grpc.Core;
using OrleansFeatures.TestInfrastructure;
using OrleansFeatures.V1;

namespace OrleansFeatures.Client.Tests;

/// <summary>The client against the real gateway process with API keys on: every typed call, and the matrix view against plain lookups.</summary>
[Trait("Speed", "Slow")] // the fast loop leaves it out (tests/README.md): it starts real servers or processes
public sealed class GatewayClientTests
{
    private const string Yaml = """
        entity: user
        key: user_id
        sources:
          - name: plays
            fields: { user_id: string, sport: string, seconds: double }
        feature_views:
          - name: user_plays
            source: plays
            ttl: 7d
            features:
              - { name: plays_1h, aggregation: count, window: 1h }
              - { name: seconds_24h, aggregation: sum, field: seconds, window: 24h }
              - { name: last_sport, latest: sport }
        feature_services:
          - name: ranker
            features: [user_plays:plays_1h, user_plays:seconds_24h, user_plays:last_sport]
            defaults: { "user_plays:plays_1h": 0 }
            encodings: { "user_plays:last_sport": { categories: [football, tennis, f1] } }
        """;

    private const string Secret = "client-test-key-0123456789abcdef";

    [Fact]
    public async Task Push_lookup_and_inference_inputs_through_the_client_match_the_gateway()
    {
        using var temp = new TempDirectory();
        await using var gateway = new GatewayProcess(
            temp.Path,
            "--FeatureStore:Auth:Mode=ApiKeys",
            "--FeatureStore:Auth:ApiKeys:0:Name=model-server",
            $"--FeatureStore:Auth:ApiKeys:0:Hash={Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Secret)))}",
            "--FeatureStore:Auth:ApiKeys:0:Permissions:0=read",
            "--FeatureStore:Auth:ApiKeys:0:Permissions:1=write",
            "--FeatureStore:Auth:ApiKeys:0:Permissions:2=admin")
        { AuthOff = false };
        await gateway.StartAsync();
        using var client = new FeatureStoreClient(new FeatureStoreClientOptions { Address = gateway.GrpcAddress, ApiKey = Secret, DefaultDeadline = TimeSpan.FromSeconds(30) });
        await new FeatureRegistry.FeatureRegistryClient(client.CallInvoker).ApplyDefinitionsAsync(
            new ApplyDefinitionsRequest { Documents = { new DefinitionDocument { Name = "plays.yaml", Yaml = Yaml } } });

        var now = DateTimeOffset.UtcNow;
        var pushed = await client.PushAsync("plays", [Play("p1", "u1", now.AddMinutes(-3), "tennis", 10), Play("p2", "u1", now.AddMinutes(-2), "f1", 5), Play("p3", "u2", now.AddMinutes(-1), "golf", 7)]);
        Assert.Equal(3, pushed.Accepted);

        var byService = await client.LookupAsync("user", ["u1", "u2", "nobody"], "ranker");
        var byReference = await client.LookupFeaturesAsync("user", ["u1"], ["user_plays:last_sport", "user_plays:plays_1h"]);
        Assert.Equal(["user_plays:plays_1h", "user_plays:seconds_24h", "user_plays:last_sport"], byService.FeatureNames);
        Assert.Equal(2, byService.Entities[0].Values[0].Value.Int64Value);
        Assert.Equal(15.0, byService.Entities[0].Values[1].Value.DoubleValue);
        Assert.Equal(FeatureStatus.Defaulted, byService.Entities[2].Values[0].Status);
        Assert.Equal(("f1", 2L), (byReference.Entities[0].Values[0].Value.StringValue, byReference.Entities[0].Values[1].Value.Int64Value));

        var inputs = await client.GetInferenceInputsAsync("ranker", new Dictionary<string, IReadOnlyList<string>> { ["user"] = ["u1", "u2", "nobody"] });
        Assert.Equal((3, 3), (inputs.RowCount, inputs.ColumnCount));
        Assert.Equal(2, inputs.ColumnIndex("user_plays:last_sport"));
        Assert.Equal(-1, inputs.ColumnIndex("user_plays:nothing"));
        var matrix = inputs.ToArray();
        for (var row = 0; row < 3; row++)
        {
            var looked = byService.Entities[row].Values;
            Assert.Equal(looked[0].Value.Int64Value, inputs[row, 0]);
            Assert.Equal(looked[0].Status == FeatureStatus.Present, inputs.IsPresent(row, 0));
            Assert.Equal(matrix[row, 1], inputs.Row(row)[1], 0f);
        }

        Assert.Equal([2f, 15f, 2f], inputs.Row(0).ToArray());
        Assert.Equal(3f, inputs[1, 2]); // golf is no category: index len(categories)
        Assert.True(float.IsNaN(inputs[2, 1]));
        Assert.False(inputs.IsPresent(2, 1));

        var invalid = await Assert.ThrowsAsync<RpcException>(() => client.LookupAsync("user", [], "ranker"));
        Assert.Equal(StatusCode.InvalidArgument, invalid.StatusCode);
        var unknown = await Assert.ThrowsAsync<RpcException>(() => client.GetInferenceInputsAsync("no_such_service", new Dictionary<string, IReadOnlyList<string>> { ["user"] = ["u1"] }));
        Assert.Equal(StatusCode.NotFound, unknown.StatusCode);

        using var keyless = new FeatureStoreClient(new FeatureStoreClientOptions { Address = gateway.GrpcAddress });
        var refused = await Assert.ThrowsAsync<RpcException>(() => keyless.LookupAsync("user", ["u1"], "ranker"));
        Assert.Equal(StatusCode.Unauthenticated, refused.StatusCode);
    }

    private static Event Play(string id, string user, DateTimeOffset time, string sport, double seconds) => new()
    {
        EventId = id,
        EventTime = Timestamp.FromDateTimeOffset(time),
        Fields =
        {
            ["user_id"] = new Value { StringValue = user },
            ["sport"] = new Value { StringValue = sport },
            ["seconds"] = new Value { DoubleValue = seconds },
        },
    };
}
