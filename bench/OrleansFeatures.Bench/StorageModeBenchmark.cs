using System.Globalization;
using OrleansFeatures.Client;
using OrleansFeatures.TestInfrastructure;
using OrleansFeatures.V1;

/// <summary>
/// Durable ingestion into the same grains on three storages in one run: embedded SQLite, and AzureStorage mode with
/// grain state in Azure Blob and in Azure Table (both on Azurite on loopback, membership in its Table service).
/// PushEvents in Direct mode (ACCEPTED = written), in two shapes (one and ten events per entity per request), rounds
/// alternated over the three gateways so machine noise falls on all alike.
/// </summary>
internal static class StorageModeBenchmark
{
    public static async Task RunAsync(string[] args)
    {
        var users = 2_000;
        var requests = 24;
        for (var i = 1; i < args.Length - 1; i++)
        {
            if (args[i] == "--users") users = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
            if (args[i] == "--requests") requests = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
        }

        using var temp = new TempDirectory("orleansfeatures-bench-azure");
        await using var azurite = await AzuriteServer.StartWithBlobAsync();
        string[] azure(string kind, string cluster) =>
        [
            "--FeatureStore:Mode=AzureStorage",
            $"--FeatureStore:AzureStorage:ConnectionString={azurite.ConnectionString}",
            $"--FeatureStore:AzureStorage:GrainStorage={kind}",
            "--FeatureStore:AdvertisedIPAddress=127.0.0.1",
            $"--FeatureStore:ClusterId={cluster}",
        ];
        var stores = new (string Name, string[] Args)[]
        {
            ("SQLite (embedded)", []),
            ("Azure Blob (Azurite)", azure("Blob", "bench-blob")),
            ("Azure Table (Azurite)", azure("Table", "bench-table")),
        };

        var runs = new List<(string Name, GatewayProcess Gateway, FeatureStoreClient Client, PushLoadBenchmark.Totals One, PushLoadBenchmark.Totals Ten)>();
        var channels = new List<FeatureStoreClient>();
        try
        {
            foreach (var (name, settings) in stores)
            {
                var directory = Path.Combine(temp.Path, runs.Count.ToString(CultureInfo.InvariantCulture));
                Directory.CreateDirectory(directory);
                var gateway = new GatewayProcess(directory, settings);
                await gateway.StartAsync();
                var client = BenchClient.For(gateway.GrpcAddress);
                channels.Add(client);
                await new FeatureRegistry.FeatureRegistryClient(client.CallInvoker).ApplyDefinitionsAsync(await ExampleDefinitions.RequestAsync());
                var seed = 0;
                var seeded = await PushLoadBenchmark.RunShapeAsync(client, gateway, users, requests: (users / 1_000) + 4, eventsPerEntity: 1, () => seed++);
                Console.WriteLine($"{name}: seeded {seeded.Events} events onto {users} users");
                runs.Add((name, gateway, client, new(), new()));
            }

            var next = 1_000_000;
            for (var round = 0; round < 3; round++)
            {
                foreach (var run in runs)
                {
                    run.One.Add(await PushLoadBenchmark.RunShapeAsync(run.Client, run.Gateway, users, requests / 3, eventsPerEntity: 1, () => next++));
                    run.Ten.Add(await PushLoadBenchmark.RunShapeAsync(run.Client, run.Gateway, users, requests / 3, eventsPerEntity: 10, () => next++));
                }
            }

            Console.WriteLine();
            Console.WriteLine($"PushEvents (Direct, durable on ACCEPTED), 1,000 events per request, {users} users + 500 content items, {Environment.ProcessorCount} cores");
            var baseline = runs[0];
            foreach (var run in runs)
            {
                Console.WriteLine(
                    $"  {run.Name,-22} 1 event/entity: {run.One.Events / run.One.Seconds,7:0} events/s = {run.One.Calls / run.One.Seconds,6:0} entity writes/s ({Ratio(run.One, baseline.One)}), CPU {run.One.CpuSeconds * 1e6 / run.One.Calls,5:0} us/write" +
                    $" | 10 events/entity: {run.Ten.Events / run.Ten.Seconds,7:0} events/s ({Ratio(run.Ten, baseline.Ten)})");
            }
        }
        finally
        {
            foreach (var channel in channels)
            {
                channel.Dispose();
            }

            foreach (var run in runs)
            {
                await run.Gateway.DisposeAsync();
            }
        }
    }

    private static string Ratio(PushLoadBenchmark.Totals run, PushLoadBenchmark.Totals baseline) =>
        string.Create(CultureInfo.InvariantCulture, $"{run.Events / run.Seconds / (baseline.Events / baseline.Seconds):0.00}x SQLite");
}
