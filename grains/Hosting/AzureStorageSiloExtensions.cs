using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Hosting;
using Orleans.Runtime;
using Orleans.Storage;
using OrleansFeatures.Grains.Storage;

namespace OrleansFeatures.Grains.Hosting;

/// <summary>Cluster membership in an Azure Table and the feature store's grain state in Azure Blob or Table storage.</summary>
public static class AzureStorageSiloExtensions
{
    /// <summary>Where Orleans' <see cref="ClusterMembershipOptions"/> are bound from (e.g. <c>FeatureStore:Membership:ProbeTimeout</c>).</summary>
    public const string MembershipSection = "FeatureStore:Membership";

    /// <summary>The feature store's probe timeout (Orleans' default is 5 s).</summary>
    public static readonly TimeSpan DefaultProbeTimeout = TimeSpan.FromSeconds(2);

    public static ISiloBuilder UseFeatureStoreAzureStorage(this ISiloBuilder silo, FeatureStoreSiloOptions options, AzureStorageSettings storage)
    {
        storage.Validate();
        var membershipTables = storage.CreateTableServiceClient(AzureStorageRequestMetrics.MembershipRole);
        silo.Configure<ClusterOptions>(o =>
        {
            o.ClusterId = options.ClusterId;
            o.ServiceId = options.ServiceId;
        });
        silo.UseAzureStorageClustering(o =>
        {
            o.TableServiceClient = membershipTables;
            o.TableName = storage.MembershipTableName;
        });
        ConfigureEndpoints(silo, options);
        // Failure detection: a dead silo's entities answer UNAVAILABLE until the others declare it dead, so a shorter
        // probe timeout shortens that window (default 5 s; effective timeouts adapt between half and four times it).
        // 2 s stays far above a loopback or in-cluster round trip and a gen-2 GC pause of the 2 GiB target heap, so a
        // loaded silo is not voted dead; every ClusterMembershipOptions setting can be overridden under
        // FeatureStore:Membership (docs/operations.md, "Failure detection").
        silo.Services.AddOptions<ClusterMembershipOptions>()
            .Configure(o => o.ProbeTimeout = DefaultProbeTimeout)
            .BindConfiguration(MembershipSection);

        switch (storage.GrainStorage)
        {
            case AzureGrainStorageKind.Blob:
                var blobs = storage.CreateBlobServiceClient(AzureStorageRequestMetrics.StateRole);
                silo.AddAzureBlobGrainStorage(FeatureStoreStorage.Name, o =>
                {
                    o.BlobServiceClient = blobs;
                    o.ContainerName = storage.ContainerName;
                });
                UseBinarySerializer<AzureBlobStorageOptions>(silo.Services);
                silo.Services.AddSingleton(new AzureStorageProbe(blobs.GetBlobContainerClient(storage.ContainerName)));
                break;
            case AzureGrainStorageKind.Table:
                var tables = storage.CreateTableServiceClient(AzureStorageRequestMetrics.StateRole);
                silo.AddAzureTableGrainStorage(FeatureStoreStorage.Name, o =>
                {
                    o.TableServiceClient = tables;
                    o.TableName = storage.StateTableName;
                });
                UseBinarySerializer<AzureTableStorageOptions>(silo.Services);
                silo.Services.AddSingleton(new AzureStorageProbe(tables.GetTableClient(storage.StateTableName)));
                break;
        }

        if (options.Kubernetes)
        {
            // Pod name, IP and namespace from the downward API (POD_NAME, POD_IP, POD_NAMESPACE); the pod's labels may
            // override the cluster id. Needs the RBAC in infra/k8s/base/rbac.yaml.
            silo.UseKubernetesHosting();
        }

        return silo;
    }

    /// <summary>Orleans' binary serializer, as SQLite uses: the providers' default JSON embeds CLR type names.</summary>
    private static void UseBinarySerializer<TOptions>(IServiceCollection services)
        where TOptions : class, IStorageProviderSerializerOptions =>
        services.AddTransient<IPostConfigureOptions<TOptions>>(sp =>
            new PostConfigureOptions<TOptions>(FeatureStoreStorage.Name, o => o.GrainStorageSerializer = ActivatorUtilities.CreateInstance<BinaryGrainStorageSerializer>(sp)));

    private static void ConfigureEndpoints(ISiloBuilder silo, FeatureStoreSiloOptions options)
    {
        IPAddress? advertised = null;
        if (!string.IsNullOrWhiteSpace(options.AdvertisedIPAddress) && !IPAddress.TryParse(options.AdvertisedIPAddress, out advertised))
        {
            throw new OrleansConfigurationException($"FeatureStore:AdvertisedIPAddress '{options.AdvertisedIPAddress}' is not an IP address.");
        }

        if (advertised is null && !options.Kubernetes)
        {
            throw new OrleansConfigurationException(
                "FeatureStore:AdvertisedIPAddress is required when FeatureStore:Mode is AzureStorage (the address other silos reach this one on), unless FeatureStore:Kubernetes is true (the pod IP is used).");
        }

        silo.Configure<EndpointOptions>(o =>
        {
            o.SiloPort = options.SiloPort;
            o.GatewayPort = options.GatewayPort;
            // Under Kubernetes hosting a null address is filled from POD_IP after configuration.
            if (advertised is not null)
            {
                o.AdvertisedIPAddress = advertised;
            }

            o.SiloListeningEndpoint = new IPEndPoint(IPAddress.Any, options.SiloPort);
            o.GatewayListeningEndpoint = new IPEndPoint(IPAddress.Any, options.GatewayPort);
        });
    }
}
