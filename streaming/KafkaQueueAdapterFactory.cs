using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Runtime;
using Orleans.Streams;

namespace OrleansFeatures.Streaming.Kafka;

/// <summary>Builds the Kafka queue adapter, its queue mapper (from broker metadata), stream-indexed cache and failure handler.</summary>
internal sealed class KafkaQueueAdapterFactory : IQueueAdapterFactory
{
    private readonly string _name;
    private readonly KafkaStreamOptions _options;
    private readonly IKafkaMessageMapper _messageMapper;
    private readonly ILoggerFactory _loggerFactory;
    private readonly StreamCommitGates _gates;
    private readonly StreamIndexedQueueAdapterCache _cache;
    private readonly Lazy<KafkaQueueMapper> _queueMapper;
    private KafkaQueueAdapter? _adapter;

    public KafkaQueueAdapterFactory(
        string name,
        KafkaStreamOptions options,
        IKafkaMessageMapper messageMapper,
        StreamCommitGates gates,
        ILoggerFactory loggerFactory)
    {
        _gates = gates;
        _name = name;
        _options = options;
        _messageMapper = messageMapper;
        _loggerFactory = loggerFactory;
        _cache = new StreamIndexedQueueAdapterCache(options.CacheSize, options.MaxEventsPerDelivery, name, loggerFactory);
        _queueMapper = new Lazy<KafkaQueueMapper>(() => new KafkaQueueMapper(name, new KafkaPartitionDiscovery(options, loggerFactory.CreateLogger<KafkaPartitionDiscovery>()).Resolve()));
    }

    public static KafkaQueueAdapterFactory Create(IServiceProvider services, string name) =>
        new(
            name,
            services.GetRequiredService<IOptionsMonitor<KafkaStreamOptions>>().Get(name),
            services.GetRequiredKeyedService<IKafkaMessageMapper>(name),
            services.GetRequiredService<StreamCommitGates>(),
            services.GetRequiredService<ILoggerFactory>());

    [Obsolete("Use the overload which accepts a CancellationToken.")]
    public Task<IQueueAdapter> CreateAdapter() => CreateAdapter(CancellationToken.None);

    public Task<IQueueAdapter> CreateAdapter(CancellationToken cancellationToken)
    {
        _adapter ??= new KafkaQueueAdapter(
            _name,
            _options,
            _queueMapper.Value,
            _messageMapper,
            new KafkaDeadLetterSink(_options, _loggerFactory.CreateLogger<KafkaDeadLetterSink>()),
            _gates,
            _loggerFactory);
        return Task.FromResult<IQueueAdapter>(_adapter);
    }

    public IQueueAdapterCache GetQueueAdapterCache() => _cache;

    public IStreamQueueMapper GetStreamQueueMapper() => _queueMapper.Value;

    public Task<IStreamFailureHandler> GetDeliveryFailureHandler(QueueId queueId) =>
        Task.FromResult<IStreamFailureHandler>(new KafkaDeliveryFailureHandler(this, queueId, _loggerFactory.CreateLogger<KafkaDeliveryFailureHandler>()));

    internal KafkaQueueAdapterReceiver? ReceiverFor(QueueId queueId) =>
        _adapter is not null && _adapter.Receivers.TryGetValue(queueId, out var receiver) ? receiver : null;
}

/// <summary>
/// When Orleans gives up delivering a batch (the consumer kept failing for the whole delivery time), stops offset
/// commits before it, so a restart replays the batch instead of losing it.
/// </summary>
internal sealed partial class KafkaDeliveryFailureHandler(KafkaQueueAdapterFactory factory, QueueId queueId, ILogger logger) : IStreamFailureHandler
{
    public bool ShouldFaultSubsriptionOnError => false;

    public Task OnDeliveryFailure(GuidId subscriptionId, string streamProviderName, StreamId streamIdentity, StreamSequenceToken? sequenceToken)
    {
        KafkaStreamMetrics.DeliveryFailures.Add(1);
        LogDeliveryFailed(logger, streamIdentity, sequenceToken?.ToString() ?? "none");
        if (sequenceToken is not null)
        {
            factory.ReceiverFor(queueId)?.BlockCommitsAt(sequenceToken);
        }

        return Task.CompletedTask;
    }

    public Task OnSubscriptionFailure(GuidId subscriptionId, string streamProviderName, StreamId streamIdentity, StreamSequenceToken? sequenceToken)
    {
        LogSubscriptionFailed(logger, streamIdentity);
        return Task.CompletedTask;
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Delivery to stream {Stream} failed for good at {Token}")]
    private static partial void LogDeliveryFailed(ILogger logger, StreamId stream, string token);

    [LoggerMessage(Level = LogLevel.Error, Message = "Subscription to stream {Stream} failed")]
    private static partial void LogSubscriptionFailed(ILogger logger, StreamId stream);
}
