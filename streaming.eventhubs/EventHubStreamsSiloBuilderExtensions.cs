using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Hosting;
using Orleans.Runtime;
using Orleans.Streams;
using OrleansFeatures.Streaming.Kafka;

namespace OrleansFeatures.Streaming.EventHubs;

/// <summary>Adds Orleans' Event Hubs stream provider, one per hub, with mapping, gated checkpoints and dead letters of ours.</summary>
public static class EventHubStreamsSiloBuilderExtensions
{
    /// <summary>Name of the <see cref="EventHubStreamOptions"/> every hub's provider shares.</summary>
    public const string OptionsName = "eventhubs";

    /// <summary>
    /// Adds a stream provider per hub (<see cref="EventHubStreamOptions.ProviderName"/>); an
    /// <see cref="IEventHubEventMapper"/> must be registered. Subscriptions are implicit only. The options are
    /// validated here, so a bad setting fails start-up naming it.
    /// </summary>
    public static ISiloBuilder AddGatedEventHubStreams(this ISiloBuilder builder, EventHubStreamOptions options, Action<StreamPullingAgentOptions>? configurePulling = null)
    {
        EventHubStreamOptionsValidator.Validate(options);
        builder.Services.AddOptions<EventHubStreamOptions>(OptionsName).Configure(o => Copy(options, o));
        builder.Services.ConfigureNamedOptionForLogging<EventHubStreamOptions>(OptionsName);
        builder.Services.TryAddSingleton<StreamCommitGates>();
        builder.Services.TryAddSingleton(sp => new EventHubTables(sp.GetRequiredService<IOptionsMonitor<EventHubStreamOptions>>().Get(OptionsName)));
        builder.Services.TryAddSingleton<EventHubDeadLetterTable>();
        foreach (var hub in options.Hubs)
        {
            var name = EventHubStreamOptions.ProviderName(hub);
            builder.AddEventHubStreams(name, configurator =>
            {
                configurator.ConfigureEventHub(ob => ob.Configure(o =>
                {
                    if (!string.IsNullOrWhiteSpace(options.ConnectionString))
                    {
                        o.ConfigureEventHubConnection(options.ConnectionString, hub, options.ConsumerGroup);
                    }
                    else
                    {
                        o.ConfigureEventHubConnection(options.FullyQualifiedNamespace!, hub, options.ConsumerGroup, EventHubCredentials.Create(options));
                    }
                }));
                configurator.ConfigurePartitionReceiver(ob => ob.Configure(o => o.PrefetchCount = options.PrefetchCount));
                configurator.ConfigureCheckpointer<EventHubStreamOptions>(
                    (sp, _) => new EventHubPartitionCheckpointerFactory(sp.GetRequiredService<EventHubTables>(), options.ConsumerGroup, hub, sp.GetRequiredService<ILoggerFactory>()),
                    _ => { });
                configurator.ConfigureComponent<IQueueAdapterFactory>((sp, n) => GatedEventHubAdapterFactory.Create(sp, n, hub));
                configurator.ConfigureStreamPubSub(StreamPubSubType.ImplicitOnly);
                configurator.Configure<StreamPullingAgentOptions>(ob => ob.Configure(o =>
                {
                    // Freshness: look for new events every 10 ms rather than Orleans' default 100 ms.
                    o.GetQueueMsgsTimerPeriod = TimeSpan.FromMilliseconds(10);
                    // A delivery carries everything cached for the partition's stream, up to this many events: the
                    // ingester calls each entity once per delivery. Safe here (unlike the Kafka provider's cache, which
                    // reports each batch delivered): checkpoints follow what the ingester reports durable.
                    o.BatchContainerBatchSize = 10_000;
                    // As for Kafka: a batch Orleans gives up on is only read again after a restart.
                    o.MaxEventDeliveryTime = TimeSpan.FromMinutes(10);
                    configurePulling?.Invoke(o);
                }));
            });
        }

        return builder;
    }

    private static void Copy(EventHubStreamOptions from, EventHubStreamOptions to)
    {
        to.Hubs = [.. from.Hubs];
        to.ConsumerGroup = from.ConsumerGroup;
        to.ConnectionString = from.ConnectionString;
        to.FullyQualifiedNamespace = from.FullyQualifiedNamespace;
        to.ManagedIdentityClientId = from.ManagedIdentityClientId;
        to.TableConnectionString = from.TableConnectionString;
        to.TableServiceUri = from.TableServiceUri;
        to.CheckpointTable = from.CheckpointTable;
        to.DeadLetterTable = from.DeadLetterTable;
        to.PrefetchCount = from.PrefetchCount;
        to.MetadataTimeout = from.MetadataTimeout;
        to.StreamNamespace = from.StreamNamespace;
    }
}
