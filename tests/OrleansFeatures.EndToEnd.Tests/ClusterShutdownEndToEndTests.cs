using System.Diagnostics;
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
}
