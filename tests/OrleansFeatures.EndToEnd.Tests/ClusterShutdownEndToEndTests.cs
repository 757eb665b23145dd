using System.Diagnostics;
using System.Globalization;
using OrleansFeatures.TestInfrastructure;
using Xunit.Abstractions;

namespace OrleansFeatures.EndToEnd.Tests;

/// <summary>A stopping silo exits within FeatureStore:Shutdown:Timeout whatever storage does (docs/operations.md, "Stopping").</summary>
public sealed class ClusterShutdownEndToEndTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_worker_SIGTERMed_while_storage_is_unreachable_exits_within_its_shutdown_timeout()
    {
        var shutdownTimeout = TimeSpan.FromSeconds(10);
        await using var cluster = await AzureCluster.StartAsync();
        var worker = cluster.Worker($"--FeatureStore:Shutdown:Timeout={shutdownTimeout}");
        await worker.StartAsync();

        await cluster.Azurite.TakeOfflineAsync();
        var stopwatch = Stopwatch.StartNew();
        await worker.StopAsync();
        stopwatch.Stop();

        output.WriteLine($"SIGTERM to exit with storage unreachable: {stopwatch.Elapsed.TotalSeconds:0.0} s (Shutdown:Timeout {shutdownTimeout.TotalSeconds} s)");
        // The runtime's own exit (disposing the host, flushing logs) takes well under a second beyond the deadline.
        Assert.True(stopwatch.Elapsed < shutdownTimeout + TimeSpan.FromSeconds(2), $"exited after {stopwatch.Elapsed}; output:\n{worker.Output}");
    }

    [Fact]
    public async Task A_stopping_gateway_keeps_answering_through_its_drain_and_sends_its_callers_to_new_connections()
    {
        using var temp = new TempDirectory();
        await using var gateway = new GatewayProcess(temp.Path, "--FeatureStore:Shutdown:ReadinessDrain=00:00:05");
        await gateway.StartAsync();
        // Through a layer-4 balancer, as behind a Kubernetes Service: it counts the connections the client opens.
        await using var balancer = new TcpLoadBalancer(gateway.GrpcPort);
        using var client = new GatewayClient(balancer.Address);
        var check = new Grpc.Health.V1.HealthCheckRequest();
        // grpc.health knows the gateway from its first health publication, which follows readiness by a moment
        // (HealthPublishOnStart); on a loaded machine the first call can come before it and answer NotFound.
        await Poll.UntilAsync(
            async () => (await client.Health.CheckAsync(check)).Status,
            status => status == Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus.Serving,
            TimeSpan.FromSeconds(10),
            "grpc.health to answer SERVING");
        await client.Health.CheckAsync(check);
        Assert.Equal(1, balancer.Connections);

        Process.Start("kill", ["-TERM", gateway.ProcessId.ToString(CultureInfo.InvariantCulture)])!.WaitForExit();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        await Poll.UntilAsync(
            async () => (await http.GetAsync(new Uri(gateway.HttpAddress, "healthz/ready"))).StatusCode,
            status => status == System.Net.HttpStatusCode.ServiceUnavailable,
            TimeSpan.FromSeconds(4),
            "readiness to fail once the stop begins");

        // Still answered during the drain; the connection is asked to close once the call ends (HTTP/2 GOAWAY), so the
        // next call opens a new connection, which a balancer gives to a ready gateway.
        await client.Health.CheckAsync(check);
        await client.Health.CheckAsync(check);
        output.WriteLine($"connections opened: {balancer.Connections}");
        Assert.True(balancer.Connections >= 2, "the stopping gateway kept its caller's connection open");
    }
}
