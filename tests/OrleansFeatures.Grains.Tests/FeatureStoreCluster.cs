using Microsoft.Extensions.Configuration;
using Orleans.TestingHost;
using OrleansFeatures.Grains.Hosting;
using OrleansFeatures.TestInfrastructure;

namespace OrleansFeatures.Grains.Tests;

/// <summary>An in-process Orleans test cluster whose silos keep grain state in one SQLite file the test owns.</summary>
internal static class FeatureStoreCluster
{
    /// <param name="databasePath">The SQLite file; null keeps state in Orleans' memory storage instead.</param>
    /// <param name="configure">Further silo configuration, applied after the storage (tests that wrap it).</param>
    public static async Task<InProcessTestCluster> StartAsync(string? databasePath, short silos = 1, Action<ISiloBuilder>? configure = null)
    {
        var builder = new InProcessTestClusterBuilder(silos);
        builder.ConfigureSilo((_, silo) =>
        {
            if (databasePath is null)
            {
                silo.AddFeatureStoreMemoryStorage(FeatureStoreStorage.Name);
            }
            else
            {
                silo.AddSqliteGrainStorage(FeatureStoreStorage.Name, o => o.DatabasePath = databasePath);
            }

            silo.AddFeatureStoreServices(new ConfigurationBuilder()
                .AddInMemoryCollection(new Dictionary<string, string?> { ["RefreshInterval"] = "00:00:00.500" })
                .Build());
            configure?.Invoke(silo);
        });
        var cluster = builder.Build();
        await cluster.DeployAsync();
        return cluster;
    }

    public static string NewDatabasePath(TempDirectory directory) => Path.Combine(directory.Path, "store.db");
}
