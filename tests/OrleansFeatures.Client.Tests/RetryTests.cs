using Grpc.Core;
using OrleansFeatures.V1;

namespace OrleansFeatures.Client.Tests;

/// <summary>What the client retries, how often and how far apart, observed at a real gRPC server that fails on purpose.</summary>
public sealed class RetryTests
{
    private static FeatureStoreClientOptions Options(Uri address, int maxAttempts = 4) => new()
    {
        Address = address,
        ApiKey = "k-123",
        MaxAttempts = maxAttempts,
        InitialBackoff = TimeSpan.FromMilliseconds(40),
        MaxBackoff = TimeSpan.FromMilliseconds(200),
        DefaultDeadline = TimeSpan.FromSeconds(20),
    };

    [Fact]
    public async Task Unavailable_is_retried_with_growing_backoff_until_the_server_answers()
    {
        await using var server = await ScriptedGateway.StartAsync();
        server.Calls.FailWith(StatusCode.Unavailable, times: 3);
        using var client = new FeatureStoreClient(Options(server.Address));

        var response = await client.LookupAsync("user", ["u1"], "ranker");

        Assert.Equal("u1", response.Entities[0].EntityId);
        var seen = server.Calls.Seen;
        Assert.Equal(4, seen.Count);
        // Backoff after attempt n is in [ceiling/2, ceiling], ceiling = 40 ms doubled per attempt: at least 20, 40, 80 ms.
        double[] minimumGapsMs = [20, 40, 80];
        for (var i = 1; i < seen.Count; i++)
        {
            Assert.True((seen[i].At - seen[i - 1].At).TotalMilliseconds >= minimumGapsMs[i - 1] - 2, $"gap before attempt {i + 1}: {(seen[i].At - seen[i - 1].At).TotalMilliseconds} ms");
        }

        Assert.All(seen, s => Assert.Equal("ApiKey k-123", s.ApiKey));
    }

    [Fact]
    public async Task Retries_stop_after_max_attempts_with_the_last_status()
    {
        await using var server = await ScriptedGateway.StartAsync();
        server.Calls.FailWith(StatusCode.Unavailable, times: 10);
        using var client = new FeatureStoreClient(Options(server.Address, maxAttempts: 3));

        var failure = await Assert.ThrowsAsync<RpcException>(() => client.GetInferenceInputsAsync(new GetInferenceInputsRequest { FeatureService = "s" }));

        Assert.Equal(StatusCode.Unavailable, failure.StatusCode);
        Assert.Equal(3, server.Calls.Attempts);
    }

    [Theory]
    [InlineData(StatusCode.InvalidArgument)]
    [InlineData(StatusCode.NotFound)]
    [InlineData(StatusCode.PermissionDenied)]
    [InlineData(StatusCode.Unauthenticated)]
    [InlineData(StatusCode.FailedPrecondition)]
    [InlineData(StatusCode.ResourceExhausted)]
    [InlineData(StatusCode.Internal)]
    public async Task Answers_about_the_request_are_never_retried(StatusCode status)
    {
        await using var server = await ScriptedGateway.StartAsync();
        server.Calls.FailWith(status, times: 5);
        using var client = new FeatureStoreClient(Options(server.Address));

        var lookup = await Assert.ThrowsAsync<RpcException>(() => client.LookupFeaturesAsync("user", ["u1"], ["v:f"]));
        var push = await Assert.ThrowsAsync<RpcException>(() => client.PushAsync("plays", [new Event { EventId = "e1" }]));

        Assert.Equal((status, status), (lookup.StatusCode, push.StatusCode));
        Assert.Equal(2, server.Calls.Attempts);
    }

    [Fact]
    public async Task A_read_past_its_deadline_is_retried_but_a_push_is_not()
    {
        await using var server = await ScriptedGateway.StartAsync();
        using var client = new FeatureStoreClient(Options(server.Address));

        server.Calls.Stall(times: 2);
        var lookup = await client.LookupAsync("user", ["u1", "u22"], "ranker", deadline: TimeSpan.FromMilliseconds(300));
        Assert.Equal(3, server.Calls.Attempts);
        Assert.Equal(3, lookup.Entities[1].Values[0].Value.Int64Value);

        server.Calls.Stall(times: 1);
        var push = await Assert.ThrowsAsync<RpcException>(() => client.PushAsync("plays", [new Event { EventId = "e1" }], deadline: TimeSpan.FromMilliseconds(300)));
        Assert.Equal(StatusCode.DeadlineExceeded, push.StatusCode);
        Assert.Equal(4, server.Calls.Attempts);
    }

    [Fact]
    public async Task A_push_is_retried_when_the_server_is_unavailable()
    {
        await using var server = await ScriptedGateway.StartAsync();
        server.Calls.FailWith(StatusCode.Unavailable, times: 2);
        using var client = new FeatureStoreClient(Options(server.Address));

        var pushed = await client.PushAsync("plays", [new Event { EventId = "e1" }, new Event { EventId = "e2" }]);

        Assert.Equal(2, pushed.Accepted);
        Assert.Equal(3, server.Calls.Attempts);
    }

    [Fact]
    public async Task A_gateway_that_is_not_listening_is_unavailable_after_every_attempt()
    {
        var address = new Uri($"http://127.0.0.1:{TestInfrastructure.FreePort.Next()}");
        using var client = new FeatureStoreClient(Options(address, maxAttempts: 2));

        var failure = await Assert.ThrowsAsync<RpcException>(() => client.LookupAsync("user", ["u1"], "ranker"));

        Assert.Equal(StatusCode.Unavailable, failure.StatusCode);
    }

    [Fact]
    public async Task Calls_share_one_connection_and_the_cancelled_caller_stops_retrying()
    {
        await using var server = await ScriptedGateway.StartAsync();
        using var client = new FeatureStoreClient(Options(server.Address));
        for (var i = 0; i < 20; i++)
        {
            await client.LookupAsync("user", [$"u{i}"], "ranker");
        }

        await Task.WhenAll(Enumerable.Range(0, 20).Select(i => client.PushAsync("plays", [new Event { EventId = $"e{i}" }])));
        Assert.Single(server.Calls.Seen.Select(s => s.Connection).Distinct());

        var before = server.Calls.Attempts;
        server.Calls.FailWith(StatusCode.Unavailable, times: 10);
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(150));
        var options = Options(server.Address, maxAttempts: 10);
        options.InitialBackoff = options.MaxBackoff = TimeSpan.FromSeconds(5);
        using var patient = new FeatureStoreClient(options);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => patient.LookupAsync("user", ["u1"], "ranker", cancellationToken: cancel.Token));
        Assert.Equal(before + 1, server.Calls.Attempts);
    }
}
