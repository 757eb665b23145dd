using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using Orleans.Runtime;
using Orleans.Statistics;
using Orleans.Streaming.EventHubs;
using Orleans.Streams;
using OrleansFeatures.Streaming.Kafka;

namespace OrleansFeatures.Streaming.EventHubs;

/// <summary>
/// Orleans' <see cref="EventHubAdapterFactory"/> (its receiver, cache, flow control and queue mapping) with three
/// parts of ours: each partition's events are mapped by <see cref="MappingEventHubReceiver"/> before they enter the
/// cache, checkpoints come from the partition consumer's commit gate, and a batch Orleans gives up on stops the
/// partition's checkpoint. The raw events come from the hub over AMQP, or from an <see cref="IEventHubPartitionSource"/>
/// when one is registered (tests, benchmarks).
/// <para>
/// Not rewindable, unlike Orleans' own (the one member of <see cref="IQueueAdapter"/> re-implemented here). On a
/// rewindable stream a new pulling agent asks the consumer where to resume and starts its cursor after the last batch
/// that consumer was delivered. A partition ingester has applied that batch in memory only, and when the consumer is
/// on a silo being killed it still answers: the agent then skipped every event between the checkpoint and that batch
/// (the two-silo kill test lost 84 events of a partition this way). Non-rewindable, the agent starts at what its
/// receiver read from the checkpoint, and what the consumer already holds comes back as duplicates.
/// </para>
/// </summary>
internal sealed class GatedEventHubAdapterFactory : EventHubAdapterFactory, IQueueAdapter
{
    bool IQueueAdapter.IsRewindable => false;

    private readonly string _hub;
    private readonly EventHubStreamOptions _options;
    private readonly MappedEventDataAdapter _dataAdapter;
    private readonly IEventHubPartitionSource? _source;
    private readonly StreamCommitGates _gates;
    private readonly ILoggerFactory _loggerFactory;

    public GatedEventHubAdapterFactory(
        string name,
        string hub,
        EventHubStreamOptions options,
        EventHubOptions hubOptions,
        EventHubReceiverOptions receiverOptions,
        EventHubStreamCachePressureOptions cacheOptions,
        StreamCacheEvictionOptions cacheEvictionOptions,
        StreamStatisticOptions statisticOptions,
        MappedEventDataAdapter dataAdapter,
        IServiceProvider serviceProvider,
        ILoggerFactory loggerFactory,
        IEnvironmentStatisticsProvider environmentStatisticsProvider)
        : base(name, hubOptions, receiverOptions, cacheOptions, cacheEvictionOptions, statisticOptions, dataAdapter, serviceProvider, loggerFactory, environmentStatisticsProvider)
    {
        _hub = hub;
        _options = options;
        _dataAdapter = dataAdapter;
        _source = serviceProvider.GetService<IEventHubPartitionSource>();
        _gates = serviceProvider.GetRequiredService<StreamCommitGates>();
        _loggerFactory = loggerFactory;
    }

    public static GatedEventHubAdapterFactory Create(IServiceProvider services, string name, string hub)
    {
        var options = services.GetOptionsByName<EventHubStreamOptions>(EventHubStreamsSiloBuilderExtensions.OptionsName);
        var dataAdapter = new MappedEventDataAdapter(services.GetRequiredService<Orleans.Serialization.Serializer>(), hub, options.StreamNamespace);
        var factory = new GatedEventHubAdapterFactory(
            name,
            hub,
            options,
            services.GetOptionsByName<EventHubOptions>(name),
            services.GetOptionsByName<EventHubReceiverOptions>(name),
            services.GetOptionsByName<EventHubStreamCachePressureOptions>(name),
            services.GetOptionsByName<StreamCacheEvictionOptions>(name),
            services.GetOptionsByName<StreamStatisticOptions>(name),
            dataAdapter,
            services,
            services.GetRequiredService<ILoggerFactory>(),
            services.GetRequiredService<IEnvironmentStatisticsProvider>());
        factory.Init();
        return factory;
    }

    public override void Init()
    {
        base.Init();
        EventHubReceiverFactory = CreateReceiver;
        StreamFailureHandlerFactory = _ => Task.FromResult<IStreamFailureHandler>(new EventHubDeliveryFailureHandler(_gates, _loggerFactory.CreateLogger<EventHubDeliveryFailureHandler>()));
    }

    protected override async Task<string[]> GetPartitionIdsAsync()
    {
        using var timeout = new CancellationTokenSource(_options.MetadataTimeout);
        try
        {
            return _source is not null
                ? await _source.GetPartitionIdsAsync(_hub, timeout.Token)
                : await base.GetPartitionIdsAsync().WaitAsync(timeout.Token);
        }
        catch (OperationCanceledException exception) when (timeout.IsCancellationRequested)
        {
            throw new OrleansConfigurationException(
                $"Event Hubs: the partitions of hub '{_hub}' could not be read within FeatureStore:EventHubs:MetadataTimeout ({_options.MetadataTimeout}); check FeatureStore:EventHubs:ConnectionString or FullyQualifiedNamespace, the hub name in FeatureStore:EventHubs:Hubs, and that the namespace is reachable.",
                exception);
        }
    }

    private IEventHubReceiver CreateReceiver(EventHubPartitionSettings settings, string checkpoint, ILogger logger)
    {
        var partition = settings.Partition;
        long? after = long.TryParse(checkpoint, NumberStyles.Integer, CultureInfo.InvariantCulture, out var sequenceNumber) ? sequenceNumber : null;
        var checkpointer = ServiceProvider.GetRequiredKeyedService<IStreamQueueCheckpointerFactory>(Name) is EventHubPartitionCheckpointerFactory checkpointers
            ? checkpointers.For(partition)
            : throw new InvalidOperationException($"stream provider {Name} needs the Event Hubs partition checkpointer");
        var source = _source is not null
            ? _source.CreateReceiver(_hub, partition, after)
            : new AmqpPartitionReceiver(_options, _hub, partition, after);
        return new MappingEventHubReceiver(
            _hub,
            partition,
            source,
            ServiceProvider.GetRequiredService<IEventHubEventMapper>(),
            ServiceProvider.GetRequiredService<EventHubDeadLetterTable>(),
            _dataAdapter.StreamOf(partition),
            new EventHubCommitGate(checkpointer),
            _gates,
            logger);
    }

    private IServiceProvider ServiceProvider => serviceProvider;
}

/// <summary>
/// When Orleans gives up delivering a batch, the partition's checkpoint stops where it is (until the receiver
/// restarts), so a restart replays the batch instead of passing it.
/// </summary>
internal sealed partial class EventHubDeliveryFailureHandler(StreamCommitGates gates, ILogger logger) : IStreamFailureHandler
{
    public bool ShouldFaultSubsriptionOnError => false;

    public Task OnDeliveryFailure(GuidId subscriptionId, string streamProviderName, StreamId streamIdentity, StreamSequenceToken? sequenceToken)
    {
        EventHubStreamMetrics.DeliveryFailures.Add(1);
        LogDeliveryFailed(logger, streamIdentity, sequenceToken?.SequenceNumber ?? -1);
        if (gates.TryGet(streamIdentity, out var gate))
        {
            gate.Fail();
        }

        return Task.CompletedTask;
    }

    public Task OnSubscriptionFailure(GuidId subscriptionId, string streamProviderName, StreamId streamIdentity, StreamSequenceToken? sequenceToken) => Task.CompletedTask;

    [LoggerMessage(Level = LogLevel.Error, Message = "Delivery to stream {Stream} failed for good at sequence number {SequenceNumber}; the partition's checkpoint stops before it until the receiver restarts")]
    private static partial void LogDeliveryFailed(ILogger logger, StreamId stream, long sequenceNumber);
}
