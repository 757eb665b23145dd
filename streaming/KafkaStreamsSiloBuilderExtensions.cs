using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Hosting;
using Orleans.Runtime;
using Orleans.Streams;

namespace OrleansFeatures.Streaming.Kafka;

/// <summary>Adds a Kafka-protocol persistent stream provider to a silo.</summary>
public static class KafkaStreamsSiloBuilderExtensions
{
    /// <summary>
    /// Adds the provider <paramref name="name"/>. An <see cref="IKafkaMessageMapper"/> must be registered as a keyed
    /// service under the same name. Subscriptions are implicit only (no pub-sub storage needed).
    /// </summary>
    public static ISiloBuilder AddKafkaStreams(
        this ISiloBuilder builder,
        string name,
        Action<KafkaStreamOptions> configure,
        Action<StreamPullingAgentOptions>? configurePulling = null)
    {
        builder.Services.AddOptions<KafkaStreamOptions>(name).Configure(configure);
        builder.Services.TryAddSingleton<StreamCommitGates>();
        builder.Services.AddTransient<IConfigurationValidator>(sp =>
            new KafkaStreamOptionsValidator(
                sp.GetRequiredService<IOptionsMonitor<KafkaStreamOptions>>().Get(name),
                name,
                sp.GetRequiredService<IOptionsMonitor<StreamPullingAgentOptions>>().Get(name)));
        builder.Services.ConfigureNamedOptionForLogging<KafkaStreamOptions>(name);
        builder.AddPersistentStreams(name, KafkaQueueAdapterFactory.Create, configurator =>
        {
            configurator.ConfigureStreamPubSub(StreamPubSubType.ImplicitOnly);
            configurator.Configure<StreamPullingAgentOptions>(ob => ob.Configure(o =>
            {
                // Freshness: look for new messages every 10 ms rather than Orleans' default 100 ms.
                o.GetQueueMsgsTimerPeriod = TimeSpan.FromMilliseconds(10);
                // A batch Orleans gives up on is dropped from the cache and only a restart reads it again. Its default
                // (1 minute) was shorter than a loaded cluster can take to declare a killed silo dead and reactivate
                // the consumer elsewhere; commits wait meanwhile, so a longer retry costs lag, never events.
                o.MaxEventDeliveryTime = TimeSpan.FromMinutes(10);
                configurePulling?.Invoke(o);
            }));
        });
        return builder;
    }
}
