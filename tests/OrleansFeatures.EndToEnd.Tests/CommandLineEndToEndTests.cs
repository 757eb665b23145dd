using Grpc.Core;
using OrleansFeatures.TestInfrastructure;
using OrleansFeatures.V1;

namespace OrleansFeatures.EndToEnd.Tests;

/// <summary>How the gateway reads its command line.</summary>
public sealed class CommandLineEndToEndTests
{
    [Fact]
    public async Task Demo_switch_starts_the_demo_and_keeps_the_setting_that_follows_it()
    {
        using var temp = new TempDirectory();
        await using var gateway = new GatewayProcess(temp.Path, "--demo", "--FeatureStore:Limits:MaxEventsPerPush=2");
        await gateway.StartAsync();
        using var client = new GatewayClient(gateway);

        // The demo applies the example definitions when the registry is empty.
        await Poll.UntilAsync(
            async () => (await client.Registry.ListDefinitionsAsync(new ListDefinitionsRequest())).RegistryVersion,
            version => version > 0,
            TimeSpan.FromSeconds(30),
            "the demo to apply its definitions");

        var now = DateTimeOffset.UtcNow;
        var push = Events.Push(Events.Play("a", "u", now, "x", "view", 1), Events.Play("b", "u", now, "x", "view", 1), Events.Play("c", "u", now, "x", "view", 1));
        var error = await Assert.ThrowsAsync<RpcException>(async () => await client.Ingestion.PushEventsAsync(push));

        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("limit is 2", error.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_demo_logs_that_its_definitions_were_applied_and_its_generator_started()
    {
        using var temp = new TempDirectory();

        // The shipped log levels (appsettings.json), not the tests' quieter default.
        await using var gateway = new GatewayProcess(temp.Path, "--demo", "--Logging:LogLevel:Default=Information");
        await gateway.StartAsync();

        await Poll.UntilAsync(
            () => Task.FromResult(gateway.Output),
            output => output.Contains("Demo definitions applied", StringComparison.Ordinal) && output.Contains("Demo generator started", StringComparison.Ordinal),
            TimeSpan.FromSeconds(30),
            "the demo's start-up lines");
    }

    [Fact]
    public async Task An_out_of_range_event_limit_fails_start_up_naming_its_key()
    {
        using var temp = new TempDirectory();
        await using var gateway = new GatewayProcess(temp.Path, "--FeatureStore:Limits:MaxFutureSkew=-00:05:00");

        var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => gateway.StartAsync());

        Assert.Contains("FeatureStore:Limits:MaxFutureSkew", refused.Message, StringComparison.Ordinal);
    }
}
