using OrleansFeatures.TestInfrastructure;

namespace OrleansFeatures.EndToEnd.Tests;

/// <summary>
/// Azurite (Table and Blob, behind forwarders so it can go offline and come back) and the arguments that make gateway
/// and worker processes one AzureStorage-mode cluster on loopback.
/// </summary>
internal sealed class AzureCluster : IAsyncDisposable
{
    private readonly TempDirectory _temp;
    private readonly List<GatewayProcess> _silos = [];
    private readonly string _clusterId = $"c{Guid.NewGuid():N}"[..12];

    private AzureCluster(TempDirectory temp, AzuriteServer azurite)
    {
        _temp = temp;
        Azurite = azurite;
    }

    public AzuriteServer Azurite { get; }

    public static async Task<AzureCluster> StartAsync()
    {
        return new AzureCluster(new TempDirectory("orleansfeatures-cluster"), await AzuriteServer.StartWithBlobAsync());
    }

    /// <summary>Settings every silo of this cluster shares, then <paramref name="extra"/>.</summary>
    public string[] Args(params string[] extra) =>
    [
        "--FeatureStore:Mode=AzureStorage",
        $"--FeatureStore:AzureStorage:ConnectionString={Azurite.ConnectionString}",
        "--FeatureStore:AdvertisedIPAddress=127.0.0.1",
        $"--FeatureStore:ClusterId={_clusterId}",
        "--FeatureStore:Shutdown:ReadinessDrain=00:00:01",
        .. extra,
    ];

    public GatewayProcess Gateway(params string[] extra) => Track(new GatewayProcess(SiloDirectory(), Args(extra)));

    public GatewayProcess Worker(params string[] extra) => Track(GatewayProcess.Worker(SiloDirectory(), Args(extra)));

    public async ValueTask DisposeAsync()
    {
        foreach (var silo in _silos)
        {
            await silo.DisposeAsync();
        }

        await Azurite.DisposeAsync();
        _temp.Dispose();
    }

    private GatewayProcess Track(GatewayProcess silo)
    {
        _silos.Add(silo);
        return silo;
    }

    private string SiloDirectory()
    {
        var path = Path.Combine(_temp.Path, $"silo{_silos.Count}");
        Directory.CreateDirectory(path);
        return path;
    }
}
