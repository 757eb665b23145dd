using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Orleans.Configuration;
using Orleans.Hosting;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Grains.Definitions;
using Microsoft.Extensions.Options;
using OrleansFeatures.Grains.Ingestion;
using OrleansFeatures.Grains.Interfaces;
using OrleansFeatures.Streaming.EventHubs;
using OrleansFeatures.Grains.Serving;
using OrleansFeatures.Streaming.Kafka;

namespace OrleansFeatures.Grains.Hosting;

/// <summary>Settings of a feature store silo, bound from the <c>FeatureStore</c> configuration section.</summary>
public sealed class FeatureStoreSiloOptions
{
    public const string Section = "FeatureStore";

    /// <summary><c>Embedded</c> (the default: <see cref="Clustering"/> and <see cref="Storage"/> apply) or <c>AzureStorage</c> (<see cref="AzureStorageSettings"/>).</summary>
    public FeatureStoreMode Mode { get; set; } = FeatureStoreMode.Embedded;

    /// <summary>Under <c>AzureStorage</c>: the address other silos and clients reach this silo on.</summary>
    public string? AdvertisedIPAddress { get; set; }

    /// <summary>Under <c>AzureStorage</c>: run as a Kubernetes pod (address and name from the downward API, defunct silos' pods watched).</summary>
    public bool Kubernetes { get; set; }

    /// <summary>Orleans cluster id; silos with the same id form one cluster.</summary>
    public string ClusterId { get; set; } = "orleansfeatures";

    public string ServiceId { get; set; } = "orleansfeatures";

    /// <summary><c>Localhost</c> (single node, the embedded default).</summary>
    public string Clustering { get; set; } = "Localhost";

    public int SiloPort { get; set; } = 11111;

    public int GatewayPort { get; set; } = 30000;

    /// <summary>Silo port of the first silo, which the others join under localhost clustering; 0 means this silo is the first.</summary>
    public int PrimarySiloPort { get; set; }

    /// <summary><c>Sqlite</c> (durable local file, the default) or <c>Memory</c> (tests and benchmarks only: nothing survives a restart).</summary>
    public string Storage { get; set; } = "Sqlite";

    /// <summary>
    /// The thread pool's minimum worker threads, raised to this at start-up (never lowered; 0 leaves the runtime's
    /// default, one per core). Orleans queues grain turns started on a pool thread on that thread's own queue, which
    /// it drains before the shared queue where a new request lands; with more workers, some look at the shared
    /// queue sooner, so lookups wait less behind a backlog being applied (docs/benchmarks.md, "Stop 9").
    /// </summary>
    public int MinWorkerThreads { get; set; } = 16;
}

/// <summary>Configures a silo to host the feature store's grains and services.</summary>
public static class FeatureStoreSiloExtensions
{
    /// <summary>Name of the Kafka-protocol stream provider.</summary>
    public const string KafkaProviderName = "kafka";

    /// <summary>Adds grain storage, clustering and the services every feature store silo runs, from configuration.</summary>
    public static ISiloBuilder AddFeatureStore(this ISiloBuilder silo, IConfiguration configuration)
    {
        var section = configuration.GetSection(FeatureStoreSiloOptions.Section);
        var options = section.Get<FeatureStoreSiloOptions>() ?? new FeatureStoreSiloOptions();
        RaiseMinWorkerThreads(options.MinWorkerThreads);
        if (options.Mode == FeatureStoreMode.AzureStorage)
        {
            var azure = configuration.GetSection(AzureStorageSettings.Section).Get<AzureStorageSettings>() ?? new AzureStorageSettings();
            silo.UseFeatureStoreAzureStorage(options, azure);
        }
        else
        {
            AddEmbedded(silo, section, options);
        }

        AddStreams(silo, section);
        silo.Services.AddOptions<IngestionOptions>().Bind(section.GetSection("Ingestion"));
        silo.Services.AddOptions<EventLimits>().Bind(section.GetSection("Limits"));
        silo.Services.AddOptions<ServingOptions>().Bind(section.GetSection("Serving"));
        silo.Services.AddOptions<EntityLifetimeOptions>().Bind(section.GetSection("Entities"));
        silo.Services.AddOptions<FeatureTypeOptions>().Bind(section.GetSection("FeatureTypes"));
        return silo.AddFeatureStoreServices(section.GetSection("Definitions"));
    }

    private static void AddEmbedded(ISiloBuilder silo, IConfigurationSection section, FeatureStoreSiloOptions options)
    {
        if (!Enum.IsDefined(options.Mode))
        {
            throw new OrleansConfigurationException($"FeatureStore:Mode is '{options.Mode}'; supported values are Embedded and AzureStorage.");
        }

        switch (options.Clustering.ToLowerInvariant())
        {
            case "localhost":
                var primary = options.PrimarySiloPort > 0 ? new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, options.PrimarySiloPort) : null;
                silo.UseLocalhostClustering(options.SiloPort, options.GatewayPort, primary, options.ServiceId, options.ClusterId);
                break;
            case "none":
                // The host (a test cluster) configures clustering itself.
                break;
            default:
                throw new OrleansConfigurationException(
                    $"FeatureStore:Clustering is '{options.Clustering}'; supported values are Localhost and None.");
        }

        switch (options.Storage.ToLowerInvariant())
        {
            case "sqlite":
                if (options.PrimarySiloPort > 0 && options.PrimarySiloPort != options.SiloPort)
                {
                    // Each silo would keep its own file, and a grain moving between silos would lose its state.
                    throw new OrleansConfigurationException(
                        "FeatureStore:Storage is Sqlite, which is single-node; a silo joining a cluster (FeatureStore:PrimarySiloPort) needs shared grain storage.");
                }

                var sqlite = section.GetSection("Sqlite");
                silo.AddSqliteGrainStorage(FeatureStoreStorage.Name, o => sqlite.Bind(o));
                break;
            case "memory":
                silo.AddFeatureStoreMemoryStorage(FeatureStoreStorage.Name);
                break;
            default:
                throw new OrleansConfigurationException(
                    $"FeatureStore:Storage is '{options.Storage}'; supported values are Sqlite and Memory.");
        }
    }

    private static void AddStreams(ISiloBuilder silo, IConfigurationSection section)
    {
        var kafka = section.GetSection("Kafka");
        switch (StreamProviderSetting.Read(section))
        {
            case StreamProviderKind.Kafka:
                if (string.IsNullOrWhiteSpace(kafka["BootstrapServers"]))
                {
                    throw new OrleansConfigurationException(
                        "FeatureStore:Streams:Provider is Kafka, but FeatureStore:Kafka:BootstrapServers is not set (host:port[,host:port]).");
                }

                silo.AddFeatureStoreKafka(o => kafka.Bind(o));
                break;
            case StreamProviderKind.EventHubs:
                if (string.Equals(section["Ingestion:Mode"], "Kafka", StringComparison.OrdinalIgnoreCase))
                {
                    throw new OrleansConfigurationException(
                        "FeatureStore:Ingestion:Mode is Kafka (pushes produce to Kafka topics), which needs FeatureStore:Streams:Provider=Kafka; with EventHubs use Direct.");
                }

                var eventHubs = new EventHubStreamOptions();
                section.GetSection("EventHubs").Bind(eventHubs);
                silo.AddFeatureStoreEventHubs(eventHubs);
                break;
        }
    }

    /// <summary>Raises the thread pool's minimum worker threads to <paramref name="wanted"/> if it is lower; 0 changes nothing.</summary>
    internal static void RaiseMinWorkerThreads(int wanted)
    {
        if (wanted is < 0 or > 1_024)
        {
            throw new OrleansConfigurationException($"FeatureStore:MinWorkerThreads must be between 0 and 1024, was {wanted}.");
        }

        ThreadPool.GetMinThreads(out var workers, out var io);
        if (wanted > workers && !ThreadPool.SetMinThreads(wanted, io))
        {
            throw new OrleansConfigurationException($"FeatureStore:MinWorkerThreads: the thread pool refused a minimum of {wanted} worker threads.");
        }
    }

    /// <summary>Consumes the definitions' source topics through the Kafka-protocol stream provider.</summary>
    public static ISiloBuilder AddFeatureStoreKafka(this ISiloBuilder silo, Action<KafkaStreamOptions> configure, Action<StreamPullingAgentOptions>? configurePulling = null)
    {
        silo.Services.AddKeyedSingleton<IKafkaMessageMapper, FeatureEventKafkaMapper>(KafkaProviderName);
        silo.Services.AddSingleton(sp => new KafkaEventProducer(sp.GetRequiredService<IOptionsMonitor<KafkaStreamOptions>>().Get(KafkaProviderName)));
        silo.AddKafkaStreams(KafkaProviderName, configure, configurePulling);
        // The consume threads yield the cores to request handling as the ingestion lane's workers do: one setting.
        silo.Services.AddOptions<KafkaStreamOptions>(KafkaProviderName)
            .Configure<IOptions<IngestionOptions>>((kafka, ingestion) => kafka.ConsumeThreadNice = ingestion.Value.WorkerNice);
        return silo;
    }

    /// <summary>
    /// Consumes the definitions' source hubs through Orleans' Event Hubs provider (one provider per hub, checkpoints and
    /// dead letters in Azure Table storage). Fails here, naming the setting, when <paramref name="options"/> is bad.
    /// </summary>
    public static ISiloBuilder AddFeatureStoreEventHubs(this ISiloBuilder silo, EventHubStreamOptions options, Action<StreamPullingAgentOptions>? configurePulling = null)
    {
        options.StreamNamespace = IngestedEvent.Namespace;
        silo.Services.AddSingleton<IEventHubEventMapper, FeatureEventHubMapper>();
        return silo.AddGatedEventHubStreams(options, configurePulling);
    }

    /// <summary>The services without storage or clustering, for hosts (such as test clusters) that bring their own.</summary>
    public static ISiloBuilder AddFeatureStoreServices(this ISiloBuilder silo, IConfiguration? definitions = null)
    {
        var refresh = silo.Services.AddOptions<DefinitionRefreshOptions>();
        if (definitions is not null)
        {
            refresh.Bind(definitions);
        }

        refresh.Validate(o => o.RefreshInterval > TimeSpan.Zero, "FeatureStore:Definitions:RefreshInterval must be positive");
        silo.Services.AddSingleton<DefinitionCatalog>();
        // A host (a test cluster) may register its own catalog first.
        silo.Services.AddOptions<FeatureTypeOptions>().ValidateOnStart();
        silo.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<FeatureTypeOptions>, FeatureTypeOptionsValidator>());
        silo.Services.TryAddSingleton(sp => FeatureTypeLoading.Load(sp.GetRequiredService<IOptions<FeatureTypeOptions>>().Value));
        silo.Services.AddHostedService<FeatureTypeReportService>();
        silo.Services.AddSingleton<EventRouter>();
        silo.Services.TryAddSingleton<StreamEventMapper>();
        silo.Services.AddSingleton<LocalEntityIndex>();
        silo.Services.AddSingleton<WarmEntityCache>();
        silo.Services.AddSingleton<WarmTier>();
        silo.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>, WarmTierStop>();
        silo.AddPlacementDirector<SiloPinnedPlacement, SiloPinnedPlacementDirector>();
        silo.Services.AddSingleton<EntityFeatureReader>();
        silo.Services.AddOptions<ServingOptions>().ValidateOnStart();
        silo.Services.AddOptions<EntityLifetimeOptions>().ValidateOnStart();
        silo.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ServingOptions>, ServingOptionsValidator>());
        silo.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<EntityLifetimeOptions>, ServingOptionsValidator>());
        // The idle time before an entity deactivates (and, with the warm tier, becomes warm) is Orleans' collection age
        // for the entity grain type; other grains keep Orleans' default.
        silo.Services.AddOptions<GrainCollectionOptions>().Configure<IOptions<EntityLifetimeOptions>>((collection, entities) =>
            collection.ClassSpecificCollectionAge[typeof(EntityGrain).FullName!] = entities.Value.IdleTimeout);
        silo.Services.TryAddSingleton(TimeProvider.System);
        silo.Services.AddSingleton<IngestionEntrance>();
        silo.Services.AddOptions<EventLimits>().ValidateOnStart();
        silo.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<EventLimits>, EventLimitsValidator>());
        silo.Services.AddOptions<IngestionOptions>().ValidateOnStart();
        silo.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<IngestionOptions>, IngestionOptionsValidator>());
        silo.Services.AddSingleton<IngestionLane>();
        // A participant is resolved when the silo starts: the lane's workers start (and log their priority) with it.
        silo.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<IngestionLane>());
        silo.Services.AddHostedService<DefinitionRefreshService>();
        // W3C trace context travels with grain calls, so a request's trace reaches the grains and writes it causes.
        silo.AddActivityPropagation();
        return silo;
    }
}
